package bench

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/parley-lab/parley/media/bench/audiolab"
	"github.com/parley-lab/parley/media/capture/pulsetest"
)

// Phases of the call test: long enough for a few cycles each.
const (
	callTestPhase      = 8 * time.Second
	callTestPhaseShort = 4 * time.Second
)

// busyGoroutines is a busy goroutine per core in this process, which
// keeps the Go processors a kiosk keeps (ParleyAudio sets them): the
// kiosk's own work (video) must not starve its audio either.
var busyGoroutines = Condition{Name: fmt.Sprintf("%d busy goroutines", runtime.NumCPU()), Start: func() (func(), error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	for i := 0; i < runtime.NumCPU(); i++ {
		go func() {
			defer func() { done <- struct{}{} }()
			x := 1.0
			for ctx.Err() == nil {
				for j := 0; j < 1e5; j++ {
					x = x*1.0000001 + 1e-9
				}
			}
			_ = x
		}()
	}
	return func() {
		cancel()
		for i := 0; i < runtime.NumCPU(); i++ {
			<-done
		}
	}, nil
}}

// TestCallThroughPulseAudio: Parley's call through a real sound server,
// as `parley bench --only audio` holds it: A's microphone is fed the tone
// and speech, B's speaker is recorded. It reports every figure, and fails
// only when the path itself is broken (a reused buffer or a wrong format
// glitches every tone), when A hears itself, or when B hears too little;
// how many glitches a phase has moves with the machine and is judged by
// the benchmark.
func TestCallThroughPulseAudio(t *testing.T) {
	p, _ := pulsetest.Start(t, audioMics, audioSpeakers, "")
	phase := callTestPhase
	if testing.Short() {
		phase = callTestPhaseShort
	}
	conds := []Condition{Quiet}
	if pulsetest.Loaded(t) {
		conds = append(conds, Loaded, busyGoroutines)
	}
	speech, source := audiolab.Speech(context.Background())
	sig := audiolab.NewSignal(speech)
	stack := &ParleyAudio{}
	run, err := AudioCall(context.Background(), p, stack, sig, conds, phase)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("speech from %s; floor (A's microphone recorded directly): %s", source, describe(run.Floor))
	want := int(phase/audiolab.CycleLength) * 3 / 4
	for _, f := range run.Figures {
		t.Logf("%s: %s", f.Condition, describe(f))
		if c := f.Receiver; c != nil {
			t.Logf("%s: B's jitter buffer: %d underruns, %d late, %v shed, %d of %d frames concealed", f.Condition,
				c.AudioUnderruns, c.AudioLate, c.AudioShed, c.AudioConcealed, c.AudioFrames)
		}
		if f.EchoPeak > audiolab.QuietLevel {
			t.Errorf("%s: A hears itself: peak %d on its own speaker", f.Condition, f.EchoPeak)
		}
		if f.Tones < want {
			t.Errorf("%s: heard %d tones of about %d", f.Condition, f.Tones, int(phase/audiolab.CycleLength))
		}
		if f.Clean == 0 {
			t.Errorf("%s: no tone came through clean (%d dropouts, %d discontinuities): the path itself breaks the audio", f.Condition, f.Dropouts, f.Discontinuities)
		}
		if f.SpeechFrames == 0 {
			t.Errorf("%s: no speech was compared", f.Condition)
		}
	}
}

func describe(f AudioFigures) string {
	return fmt.Sprintf("mouth to ear p50 %.1f ms (p95 %.1f), %d of %d tones clean, %d dropouts (%.0f ms), %d discontinuities, segmental SNR %.2f dB, LSD %.2f dB over %d frames",
		f.LatencyP50MS, f.LatencyP95MS, f.Clean, f.Tones, f.Dropouts, f.SilentMS, f.Discontinuities, f.SegSNR, f.SpectralDist, f.SpeechFrames)
}
