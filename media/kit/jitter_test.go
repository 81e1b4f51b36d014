package kit

import (
	"testing"
	"time"
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
