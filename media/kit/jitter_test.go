package kit

import (
	"math"
	"slices"
	"testing"
	"time"

	"github.com/parley-lab/parley/media/internal/rtc"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func frame(v int16) []int16 {
	f := make([]int16, samples(20*time.Millisecond))
	for i := range f {
		f[i] = v
	}
	return f
}

// A steady network after a start-up burst: the buffer sheds the burst's
// delay and settles at one packet (minTarget), never underrunning.
func TestJitterShrinksOnAQuietNetwork(t *testing.T) {
	c := &clock{t: time.Unix(0, 0)}
	j := newJitter(c.now)
	out := make([]int16, samples(20*time.Millisecond))
	for range 3 {
		j.push(frame(1000))
	}
	for range 1000 { // 20 s
		j.push(frame(1000))
		c.t = c.t.Add(20 * time.Millisecond)
		j.pull(out)
	}
	if j.target != samples(minTarget) {
		t.Fatalf("target %v after 20 s of a quiet network, want %v", time.Duration(j.target)*time.Second/48000, minTarget)
	}
	if j.underruns != 0 {
		t.Fatalf("%d underruns on a steady stream", j.underruns)
	}
	// Just after a pull the buffer holds what waits for the next one: at
	// most the target plus the catch-up slack.
	if d := j.delay(); d > minTarget+catchUpSlack {
		t.Fatalf("delay %v on a quiet network, want at most %v", d, minTarget+catchUpSlack)
	}
}

// A burst of late packets: the buffer underruns once, grows, and then
// plays through the same pattern without underrunning again.
func TestJitterGrowsAfterAnUnderrun(t *testing.T) {
	c := &clock{t: time.Unix(0, 0)}
	j := newJitter(c.now)
	out := make([]int16, samples(20*time.Millisecond))
	step := func(push int) {
		for range push {
			j.push(frame(1000))
		}
		c.t = c.t.Add(20 * time.Millisecond)
		j.pull(out)
	}
	for range 10 {
		step(1)
	}
	before := j.underruns
	// Packets stall for 80 ms, then arrive together.
	for range 4 {
		step(0)
	}
	step(5)
	if j.underruns == before {
		t.Fatal("a stall did not underrun")
	}
	grown := j.target
	if grown <= samples(startTarget) {
		t.Fatalf("target did not grow: %d", grown)
	}
	// Far too much audio at once (a backlog) is trimmed, not played late.
	for range 50 {
		j.push(frame(1000))
	}
	if d := j.delay(); d > maxTarget+slack {
		t.Fatalf("delay %v after a backlog; the buffer must catch up", d)
	}
}

// A packet that arrives after its place was concealed is played in that
// place while the place is still buffered; one that arrives after its
// place was played is dropped and grows the buffer; a duplicate is
// dropped; a fresh stream (sequence numbers far behind) is taken as new.
func TestJitterPlaysReorderedPacketsInTheirPlace(t *testing.T) {
	c := &clock{t: time.Unix(0, 0)}
	out := make([]int16, samples(20*time.Millisecond))
	cases := []struct {
		name      string
		pullFirst int // 20 ms pulls between the concealment and the late packet
		want      int16
		used      bool
	}{
		{"late inside the window", 0, 3, true},
		{"late after its place was played", 4, 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			j := newJitter(c.now)
			j.target = samples(80 * time.Millisecond)
			j.pushFrame(frame(1), 1, false)
			j.pushFrame(frame(2), 2, false)
			j.pushFrame(frame(-1), 3, true) // concealed: 3 is late
			j.pushFrame(frame(4), 4, false)
			j.pushFrame(frame(5), 5, false)
			var played []int16
			for range tc.pullFirst {
				c.t = c.t.Add(20 * time.Millisecond)
				j.pull(out)
				played = append(played, out[0])
			}
			target := j.target
			if used, replaced := j.pushFrame(frame(3), 3, false); used != tc.used || replaced != tc.used {
				t.Fatalf("late packet used %v, want %v", used, tc.used)
			}
			for len(played) < 5 {
				c.t = c.t.Add(20 * time.Millisecond)
				j.pull(out)
				played = append(played, out[0])
			}
			if tc.used {
				if want := []int16{1, 2, 3, 4, 5}; !slices.Equal(played, want) {
					t.Fatalf("played %v, want %v", played, want)
				}
				if j.replaced != 1 || j.late != 0 {
					t.Fatalf("replaced %d, late %d", j.replaced, j.late)
				}
			} else {
				if played[2] != -1 {
					t.Fatalf("played %v: the concealment was played before the packet came", played)
				}
				if j.late != 1 || j.target <= target {
					t.Fatalf("late %d, target %d -> %d: a late packet must grow the buffer", j.late, target, j.target)
				}
			}
			if used, _ := j.pushFrame(frame(5), 5, false); used {
				t.Fatal("a duplicate was used")
			}
			if used, _ := j.pushFrame(frame(9), 64000, false); !used {
				t.Fatal("a fresh stream's first packet was dropped as late")
			}
		})
	}
}

// toneFrame is the n-th 20 ms frame of a continuous tone.
func toneFrame(n int) []int16 {
	f := make([]int16, samples(20*time.Millisecond))
	for i := range f {
		f[i] = int16(toneAmp * math.Sin(2*math.Pi*toneHz*float64(n*len(f)+i)/rtc.SampleRate))
	}
	return f
}

// steps lists where out steps further between two samples than the tone
// ever does (a click).
func steps(out []int16) []int {
	var at []int
	for i := 1; i < len(out); i++ {
		if isStep(out[i-1], out[i]) {
			at = append(at, i)
		}
	}
	return at
}

// jitterRun plays a tone through a jitter buffer in 10 ms pulls, one
// 20 ms frame pushed every second pull except where arrive says how many
// (a stall is 0, a burst more), and returns what was played.
func jitterRun(t *testing.T, j *jitter, c *clock, pulls int, arrive func(pull int) int) []int16 {
	t.Helper()
	var out []int16
	buf := make([]int16, samples(10*time.Millisecond))
	next := 0
	for p := range pulls {
		for range arrive(p) {
			j.pushFrame(toneFrame(next), uint16(next), false)
			next++
		}
		c.t = c.t.Add(10 * time.Millisecond)
		j.pull(buf)
		out = append(out, buf...)
	}
	return out
}

// A stall of 80 ms: the speaker hears the voice continue and fade, then
// the audio fade back in, never a step; and the buffer grows.
func TestJitterConcealsAnUnderrunWithoutAStep(t *testing.T) {
	c := &clock{t: time.Unix(0, 0)}
	j := newJitter(c.now)
	steady := func(p int) int { return 1 - p%2 }
	stallFrom := 100 // pulls
	out := jitterRun(t, j, c, 300, func(p int) int {
		switch {
		case p >= stallFrom && p < stallFrom+8:
			return 0
		case p == stallFrom+8:
			return 5 // the stalled frames, together
		}
		return steady(p)
	})
	if j.underruns == 0 {
		t.Fatal("an 80 ms stall did not underrun")
	}
	// Skip the start (silence, then the tone's first sample).
	begin := samples(startTarget) + 1
	if at := steps(out[begin:]); len(at) != 0 {
		t.Fatalf("%d steps in the tone, the first at %v after the start", len(at), time.Duration(at[0]+begin)*time.Second/rtc.SampleRate)
	}
	// The buffer holds at least minTarget when the stall starts; without
	// concealment the tone would stop then. Find where it fades.
	rms := func(x []int16) float64 {
		var s float64
		for _, v := range x {
			s += float64(v) * float64(v)
		}
		return math.Sqrt(s / float64(len(x)))
	}
	ran := -1
	for i := samples(time.Duration(stallFrom) * 10 * time.Millisecond); i < len(out)-samples(10*time.Millisecond); i += samples(5 * time.Millisecond) {
		if rms(out[i:i+samples(5*time.Millisecond)]) < toneAmp/2/math.Sqrt2 {
			ran = i
			break
		}
	}
	if ran < 0 {
		t.Fatal("the tone never faded: no underrun was heard")
	}
	if d := time.Duration(ran-samples(time.Duration(stallFrom)*10*time.Millisecond)) * time.Second / rtc.SampleRate; d < minTarget+concealFor/4 {
		t.Fatalf("the tone faded %v into the stall: the concealment did not carry it", d)
	}
}

// A backlog of 100 ms arrives at once: the buffer sheds it, skipping
// whole periods of the tone, never with a step, and comes back near its
// target.
func TestJitterShedsDelayWithoutAStep(t *testing.T) {
	c := &clock{t: time.Unix(0, 0)}
	j := newJitter(c.now)
	out := jitterRun(t, j, c, 400, func(p int) int {
		if p == 100 {
			return 6
		}
		return 1 - p%2
	})
	begin := samples(startTarget) + 1
	if at := steps(out[begin:]); len(at) != 0 {
		t.Fatalf("%d steps in the tone, the first at %v after the start", len(at), time.Duration(at[0]+begin)*time.Second/rtc.SampleRate)
	}
	if j.shed == 0 {
		t.Fatal("the backlog was not shed")
	}
	if d := j.delay(); d > time.Duration(j.target)*time.Second/rtc.SampleRate+catchUpSlack+20*time.Millisecond {
		t.Fatalf("delay %v three seconds after a backlog, target %v", d, time.Duration(j.target)*time.Second/rtc.SampleRate)
	}
}
