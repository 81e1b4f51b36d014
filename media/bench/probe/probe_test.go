package probe

import (
	"image"
	"testing"
	"time"

	"github.com/parley-lab/parley/media/bench/onset"
	"github.com/parley-lab/parley/media/internal/rtc"
	"github.com/parley-lab/parley/media/kit"
	"github.com/parley-lab/parley/media/testsrc"
)

var t0 = time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)

// at is the time of sample i of a stream that starts at t0.
func at(i int) time.Time { return t0.Add(time.Duration(i) * time.Second / rtc.SampleRate) }

var quiet = int(onset.Quiet * rtc.SampleRate / time.Second)

// An onset (media/bench/onset's rule) is timed by its place in the
// buffer that holds it, whatever the buffers' size.
func TestOnsetTimes(t *testing.T) {
	s := make([]int16, 3*quiet)
	s[quiet+7], s[quiet+8] = onset.Level16+1, -onset.Level16-1
	s[2*quiet] = onset.Level16 + 1 // too soon after the first
	for _, size := range []int{1, 480, 960, 4096} {
		o := newOnsets()
		for i := 0; i < len(s); i += size {
			o.find(s[i:min(i+size, len(s))], at(i))
		}
		if len(o.at) != 1 {
			t.Fatalf("buffers of %d: onsets %v, want one", size, o.at)
		}
		if d := o.at[0].Sub(at(quiet + 7)); d < -time.Microsecond || d > time.Microsecond {
			t.Fatalf("buffers of %d: onset at %v, want %v", size, o.at[0], at(quiet+7))
		}
	}
}

// A burst captured is timed when its 20 ms reached the kit; a burst
// played at the callback; each heard burst pairs with the latest sent
// before it, within BurstEvery.
func TestAudioLatencies(t *testing.T) {
	a, b := New(), New()
	burst := func(n int) []int16 {
		s := make([]int16, n)
		s[n-rtc.FrameSamples] = onset.Level16 + 1 // the last frame starts a burst
		return s
	}
	// A captures a burst in the frame whose first sample is at t0+100 ms
	// (reached the kit at +120 ms).
	capt := burst(quiet + rtc.FrameSamples)
	a.CapturedAudio(capt[:quiet], t0)
	a.CapturedAudio(capt[quiet:], t0.Add(onset.Quiet))
	// B plays it at +190 ms, and a stray onset one BurstEvery later.
	b.PlayedAudio(make([]int16, quiet), t0)
	b.PlayedAudio([]int16{onset.Level16 + 1}, t0.Add(190*time.Millisecond))
	b.PlayedAudio(make([]int16, quiet), t0.Add(200*time.Millisecond))
	b.PlayedAudio([]int16{onset.Level16 + 1}, t0.Add(120*time.Millisecond+kit.BurstEvery))
	got := b.AudioLatencies(a)
	if len(got) != 1 || got[0] != 70*time.Millisecond {
		t.Fatalf("latencies %v, want [70ms]", got)
	}
	if l := a.AudioLatencies(b); len(l) != 0 {
		t.Fatalf("A heard nothing, yet has latencies %v", l)
	}
}

// The stamps give order and latency; a frame without one counts as
// decoded only; the partner's audio is kept for its newest Windows
// frames, in which each tone is counted.
func TestReport(t *testing.T) {
	p := New()
	src, err := testsrc.NewVideo(640, 480, 30)
	if err != nil {
		t.Fatal(err)
	}
	img := image.NewYCbCr(image.Rect(0, 0, 640, 480), image.YCbCrSubsampleRatio420)
	for i, f := range []uint32{1, 2, 4, 3} {
		src.Render(img, f, t0.Add(time.Duration(i)*33*time.Millisecond))
		p.PartnerVideo(img, t0.Add(time.Duration(i)*33*time.Millisecond+time.Duration(10*(i+1))*time.Millisecond))
	}
	p.PartnerVideo(image.NewYCbCr(image.Rect(0, 0, 8, 8), image.YCbCrSubsampleRatio420), t0)
	tone := func(hz float64) []int16 {
		s := make([]int16, rtc.FrameSamples)
		testsrc.NewTone(hz, rtc.SampleRate).Fill(s)
		return s
	}
	for range Windows {
		p.PartnerAudio(tone(440), t0)
	}
	for range Windows / 4 {
		p.PartnerAudio(tone(660), t0)
	}
	p.PartnerAudio(make([]int16, 10), t0) // not a whole frame: left out
	r := p.Report(660, 440)
	if r.FramesDecoded != 5 || r.Stamped != 4 || r.StampsInOrder {
		t.Fatalf("decoded %d, stamped %d, in order %v; want 5, 4, false", r.FramesDecoded, r.Stamped, r.StampsInOrder)
	}
	if r.VideoLatencyP50MS < 29 || r.VideoLatencyP50MS > 31 {
		t.Fatalf("p50 %.1f ms, want 30", r.VideoLatencyP50MS)
	}
	if since := r.VideoLatenciesSince(2); len(since) != 2 || since[0] < 29*time.Millisecond || since[0] > 31*time.Millisecond {
		t.Fatalf("latencies since the second %v", since)
	}
	if r.PartnerTone != 0.25 || r.OwnTone != 0.75 {
		t.Fatalf("partner's tone in %.2f, own in %.2f of the windows; want 0.25 and 0.75", r.PartnerTone, r.OwnTone)
	}
}
