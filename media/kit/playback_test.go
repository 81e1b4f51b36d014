package kit

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/gen2brain/malgo"

	"github.com/parley-lab/parley/media/capture"
	"github.com/parley-lab/parley/media/capture/pulsetest"
	"github.com/parley-lab/parley/media/internal/rtc"
)

// Playback measurement settings.
const (
	playbackPhase = 10 * time.Second // quiet, then with every core busy
	playbackShort = 3 * time.Second
	toneAmp       = 10000.0
	toneHz        = 440.0
	// A dropout is a run of at least dropoutRun near-silent samples inside
	// the tone (a 440 Hz sine at toneAmp is below quietLevel for under a
	// sample around each zero crossing).
	dropoutRun = 24
	quietLevel = 200
	// A discontinuity is a step between samples above jumpFactor times the
	// sine's steepest step.
	jumpFactor = 2.0
	// Dropouts and discontinuities are reported, not bounded: their count
	// moves with the machine's load and its host (measured here, 2 cores,
	// 10 s phases: 0-18 quiet, 0-5 with a busy process per core; 69 quiet
	// on a busy CI host); `parley bench` judges them. A broken path (a
	// reused buffer, a wrong format or rate) glitches every 20 ms, so at
	// least minCleanShare of a phase's 20 ms windows must be clean.
	minCleanShare = 0.1
)

// isStep reports a step between two samples steeper than jumpFactor times
// the tone's steepest (a click).
func isStep(a, b int16) bool {
	maxStep := toneAmp * 2 * math.Pi * toneHz / rtc.SampleRate
	return math.Abs(float64(b)-float64(a)) > jumpFactor*maxStep
}

// glitchCount of a recorded tone.
type glitchCount struct {
	dropouts, jumps int
	windows, clean  int // 20 ms windows, and those without a glitch
}

func (g glitchCount) String() string {
	return fmt.Sprintf("%d dropouts, %d discontinuities, %d of %d windows clean", g.dropouts, g.jumps, g.clean, g.windows)
}

// glitches counts dropouts and discontinuities in a recorded tone.
func glitches(rec []int16) glitchCount {
	var g glitchCount
	run, dirty := 0, false
	for i := 1; i < len(rec); i++ {
		if isStep(rec[i-1], rec[i]) {
			g.jumps++
			dirty = true
		}
		if rec[i] > -quietLevel && rec[i] < quietLevel {
			run++
			if run == dropoutRun {
				g.dropouts++
				dirty = true
			}
		} else {
			run = 0
		}
		if i%rtc.FrameSamples == 0 {
			g.windows++
			if !dirty {
				g.clean++
			}
			dirty = false
		}
	}
	return g
}

// checkClean fails a phase whose audio is glitched nearly everywhere.
func checkClean(t *testing.T, what string, g glitchCount) {
	t.Helper()
	if float64(g.clean) < minCleanShare*float64(g.windows) {
		t.Errorf("%s: %v: the path itself breaks the audio", what, g)
	}
}

// The partner's audio through the player, the speaker a real PulseAudio
// sink, recorded from its monitor: a continuous tone fed in 20 ms frames
// as the decoder would; dropouts and discontinuities are counted without
// load of ours and with a busy process per core (pulsetest.Loaded), and
// must stay within maxDropouts.
func TestPlaybackThroughPulse(t *testing.T) {
	pulsetest.Start(t, nil, []string{"spkA"}, "")
	pulse := []malgo.Backend{malgo.BackendPulseaudio}
	jb := newJitter(time.Now)
	p, err := openPlayer(jb, pulse, "spkA", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()
	rec, err := capture.Open(capture.Config{Backends: pulse, Name: "spkA.monitor"})
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Close()
	phase := playbackPhase
	if testing.Short() {
		phase = playbackShort
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	// The feeder: a frame every 20 ms, like a decoder.
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		start, n := time.Now(), 0
		frame := make([]int16, rtc.FrameSamples)
		for ctx.Err() == nil {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			for due := int(time.Since(start) / (20 * time.Millisecond)); n < due; {
				for i := range frame {
					frame[i] = int16(toneAmp * math.Sin(2*math.Pi*toneHz*float64(n*rtc.FrameSamples+i)/rtc.SampleRate))
				}
				jb.push(frame)
				n++
			}
		}
	}()
	record := func(d time.Duration) []int16 {
		out := make([]int16, 0, int(d*rtc.SampleRate/time.Second)+rtc.FrameSamples)
		f := make([]int16, rtc.FrameSamples)
		for len(out) < cap(out)-rtc.FrameSamples {
			if err := rec.Read(f); err != nil {
				t.Fatal(err)
			}
			out = append(out, f...)
		}
		return out
	}
	// Wait for the tone to come through, then measure.
	f := make([]int16, rtc.FrameSamples)
	for heard := false; !heard; {
		if err := rec.Read(f); err != nil {
			t.Fatal(err)
		}
		for _, v := range f {
			heard = heard || v > toneAmp/2
		}
	}
	record(100 * time.Millisecond)
	quiet := glitches(record(phase))
	if !pulsetest.Loaded(t) {
		t.Logf("%v quiet: %v", phase, quiet)
		checkClean(t, "quiet", quiet)
		return
	}
	// Load: a busy process per core, as another kiosk or a browser would
	// load the machine.
	stopBusy := pulsetest.Busy(t)
	loaded := glitches(record(phase))
	stopBusy()
	jb.mu.Lock()
	underruns := jb.underruns
	jb.mu.Unlock()
	t.Logf("%v quiet: %v; %v with %d cores busy: %v; jitter underruns %d",
		phase, quiet, phase, runtime.NumCPU(), loaded, underruns)
	checkClean(t, "quiet", quiet)
	checkClean(t, "loaded", loaded)
}
