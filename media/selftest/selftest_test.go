package selftest

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/gen2brain/malgo"

	"github.com/parley-lab/parley/media/kit"
)

// TestSelftest is `parley selftest` as a test: a real server on loopback,
// two engines with test sources, video and audio both ways, chat both ways,
// and an end at the same moment on both sides.
func TestSelftest(t *testing.T) {
	before := runtime.NumGoroutine()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	// Playback runs on miniaudio's null backend: real time, no sound card.
	rep, err := Run(ctx, Options{Duration: 5 * time.Second, AudioBackends: []malgo.Backend{kit.NullBackend}})
	for _, s := range rep.Sides {
		t.Logf("side %s: setup %.0f ms, %d/%d frames, in order %v, latency p50 %.1f ms, partner tone %.0f%%, own tone %.0f%%, chat %v",
			s.Name, s.SetupMS, s.FramesDecoded, s.FramesExpected, s.StampsInOrder, s.VideoLatencyP50, s.ToneHeard*100, s.OwnToneHeard*100, s.ChatReceived)
	}
	t.Logf("end skew %.1f ms", rep.EndSkewMS)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range rep.Sides {
		if s.NoAudioOutput || s.PlayedMS < 1000 {
			t.Errorf("side %s: partner audio not played (no output %v, %.0f ms played)", s.Name, s.NoAudioOutput, s.PlayedMS)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<20)
		t.Fatalf("goroutines leaked: %d before, %d after\n%s", before, n, buf[:runtime.Stack(buf, true)])
	}
}
