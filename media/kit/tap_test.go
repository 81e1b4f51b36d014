package kit

import (
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-lab/parley/media/record"
	"github.com/parley-lab/parley/media/record/recordtest"
	"github.com/parley-lab/parley/signaling/participant/engine"
	"github.com/parley-lab/parley/signaling/protocol"
	"github.com/parley-lab/parley/signaling/testkit"
)

// relay carries one side's signals to the other's call, holding them
// until that call exists.
type relay struct {
	mu      sync.Mutex
	to      engine.Call
	pending []protocol.Signal
}

func (r *relay) send(s protocol.Signal) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.to == nil {
		r.pending = append(r.pending, s)
		return nil
	}
	return r.to.HandleSignal(s)
}

func (r *relay) attach(c engine.Call) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.to = c
	for _, s := range r.pending {
		if err := c.HandleSignal(s); err != nil {
			return err
		}
	}
	r.pending = nil
	return nil
}

// sentTo hands what a kit sends to a recording segment, counting the
// frames.
type sentTo struct {
	NoTap
	w      *record.Writer
	frames atomic.Int64
}

func (s *sentTo) SentVideo(frame []byte, at time.Time)  { s.frames.Add(1); s.w.Video(frame, at) }
func (s *sentTo) SentAudio(packet []byte, at time.Time) { s.w.Audio(packet, at) }

// Two kits with the test sources in a call on loopback; A records what
// it sends for 100 frames through a tap. The segment holds VP8 and Opus, every picture
// A sent while recording (but one in flight at either end), in order, and
// about as much audio as it was long.
func TestRecordingHoldsWhatWasSent(t *testing.T) {
	recordtest.NeedFFmpeg(t)
	open := func(label string) *Kit {
		k, err := Open(Options{VideoSource: SourceTest, AudioSource: SourceTest, LoopbackCandidates: true, Label: label, Log: quiet})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { k.Close() })
		return k
	}
	a, b := open("A"), open("B")
	toA, toB := &relay{}, &relay{}
	connected := make(chan struct{})
	var once sync.Once
	ca, err := a.Dialer()(engine.CallParams{Peer: "B", Offerer: true, Send: toB.send})
	if err != nil {
		t.Fatal(err)
	}
	defer ca.Close()
	cb, err := b.Dialer()(engine.CallParams{Peer: "A", Send: toA.send, OnState: func(s string) {
		if s == protocol.CallConnected {
			once.Do(func() { close(connected) })
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer cb.Close()
	if err := toA.attach(ca); err != nil {
		t.Fatal(err)
	}
	if err := toB.attach(cb); err != nil {
		t.Fatal(err)
	}
	select {
	case <-connected:
	case <-time.After(20 * time.Second):
		t.Fatal("the call did not connect within 20 s")
	}
	path := filepath.Join(t.TempDir(), "A-1.webm")
	start := time.Now()
	w, err := record.Create(path, record.Tracks{Video: true, Width: DefaultWidth, Height: DefaultHeight, Audio: true}, start)
	if err != nil {
		t.Fatal(err)
	}
	tap := &sentTo{w: w}
	remove := a.Tap(tap)
	a.RequestKeyframe()
	sent0 := a.FramesSent()
	deadline := time.Now().Add(30 * time.Second)
	for a.FramesSent()-sent0 < 100 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	remove()
	sent := a.FramesSent() - sent0
	end := time.Now()
	// Removed, the tap gets nothing more (but a frame in flight).
	handed := tap.frames.Load()
	testkit.Reaches(t, "A sending 5 frames more", a.FramesSent, sent0+sent+5)
	if more := tap.frames.Load() - handed; more > 1 {
		t.Fatalf("the removed tap still got %d frames", more)
	}
	sum, err := w.Close(end)
	if err != nil {
		t.Fatal(err)
	}
	// All but a frame in flight as recording started or stopped.
	if int64(sum.VideoFrames) < sent-2 {
		t.Fatalf("%d frames recorded of %d sent", sum.VideoFrames, sent)
	}
	p := recordtest.Probe(t, path)
	if c := p.Codecs(); c["video"] != "vp8" || c["audio"] != "opus" {
		t.Fatalf("streams %+v", p.Streams)
	}
	stamps, complaints := recordtest.Stamps(t, path, DefaultWidth, DefaultHeight)
	if complaints != "" {
		t.Fatalf("ffmpeg complained:\n%s", complaints)
	}
	if len(stamps) != sum.VideoFrames {
		t.Fatalf("%d pictures decode, %d were recorded", len(stamps), sum.VideoFrames)
	}
	for i := 1; i < len(stamps); i++ {
		if stamps[i] <= stamps[i-1] {
			t.Fatalf("picture %d is frame %d after %d: out of order", i, stamps[i], stamps[i-1])
		}
	}
	long := end.Sub(start)
	if got := recordtest.AudioLength(t, path); got < long-300*time.Millisecond || got > long+100*time.Millisecond {
		t.Fatalf("%v of audio in a %v recording", got, long)
	}
	t.Logf("%v recorded: %d pictures, %d audio packets, %d bytes", long.Round(time.Millisecond), sum.VideoFrames, sum.AudioPackets, sum.Bytes)
}

// counting is a tap that counts the sent video frames it gets.
type counting struct {
	NoTap
	n int
}

func (c *counting) SentVideo([]byte, time.Time) { c.n++ }

// Taps are installed and removed one by one (the same tap twice is two
// installations), and removing is idempotent.
func TestTapsInstallAndRemove(t *testing.T) {
	k := &Kit{}
	send := func() {
		for _, tp := range k.taps.load() {
			tp.SentVideo(nil, time.Time{})
		}
	}
	a, b := &counting{}, &counting{}
	removeA := k.Tap(a)
	removeB1 := k.Tap(b)
	removeB2 := k.Tap(b)
	send()
	if a.n != 1 || b.n != 2 {
		t.Fatalf("a got %d, b %d; want 1 and 2", a.n, b.n)
	}
	removeB1()
	removeB1()
	send()
	if a.n != 2 || b.n != 3 {
		t.Fatalf("after removing one of b: a got %d, b %d; want 2 and 3", a.n, b.n)
	}
	removeA()
	removeB2()
	send()
	if a.n != 2 || b.n != 3 || len(k.taps.load()) != 0 {
		t.Fatalf("after removing all: a got %d, b %d, %d taps left", a.n, b.n, len(k.taps.load()))
	}
}

// Handing a frame to the taps allocates nothing.
func TestTapsDoNotAllocate(t *testing.T) {
	k := &Kit{}
	k.Tap(&counting{})
	k.Tap(NoTap{})
	frame, pcm := make([]byte, 1000), make([]int16, 960)
	now := time.Now()
	if n := testing.AllocsPerRun(100, func() {
		for _, tp := range k.taps.load() {
			tp.SentVideo(frame, now)
			tp.CapturedAudio(pcm, now)
		}
		k.tapPlayed(pcm)
	}); n != 0 {
		t.Fatalf("%v allocations per frame", n)
	}
}

// BenchmarkTaps is the cost per frame of the taps on the hot path: none
// installed, and two.
func BenchmarkTaps(b *testing.B) {
	frame := make([]byte, 1000)
	now := time.Now()
	for _, n := range []int{0, 2} {
		b.Run(fmt.Sprint(n, " taps"), func(b *testing.B) {
			k := &Kit{}
			for range n {
				k.Tap(&counting{})
			}
			b.ReportAllocs()
			for b.Loop() {
				for _, tp := range k.taps.load() {
					tp.SentVideo(frame, now)
				}
			}
		})
	}
}
