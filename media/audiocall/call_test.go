package audiocall

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/gen2brain/malgo"

	"github.com/parley-lab/parley/media/capture"
	"github.com/parley-lab/parley/media/capture/pulsetest"
	"github.com/parley-lab/parley/media/engine"
	"github.com/parley-lab/parley/media/kit"
	"github.com/parley-lab/parley/media/local"
	"github.com/parley-lab/parley/media/participant"
	"github.com/parley-lab/parley/media/sched"
	"github.com/parley-lab/parley/signaling/client"
	"github.com/parley-lab/parley/signaling/server"
	"github.com/parley-lab/parley/signaling/testkit"
)

// The signal and the measurement.
const (
	rate = capture.SampleRate
	// Bursts of a tone: burstOn of every burstEvery, with burstRamp fades.
	burstEvery = 500 * time.Millisecond
	burstOn    = 250 * time.Millisecond
	burstRamp  = 5 * time.Millisecond
	toneHz     = 440.0
	toneAmp    = 10000.0
	// phase is how long each condition (quiet, loaded) is measured.
	phase      = 10 * time.Second
	phaseShort = 4 * time.Second
	// An onset: a sample above onsetLevel after at least onsetQuiet below it.
	onsetLevel = 2000
	onsetQuiet = 100 * time.Millisecond
	// Inside a burst (edgeSkip from each end): a dropout is dropoutRun
	// samples below quietLevel; a discontinuity a step above jumpFactor
	// times the tone's steepest.
	edgeSkip   = 30 * time.Millisecond
	dropoutRun = 24
	quietLevel = 200
	jumpFactor = 2.0
	// connectLimit bounds pairing and call set-up.
	connectLimit = 20 * time.Second
	// maxLatencyP50 is issue 13's target for mouth to ear (reported).
	maxLatencyP50 = 70 * time.Millisecond
	// Dropouts and discontinuities are reported, not bounded: how many a
	// phase has moves with the machine's load and its host (0-12 quiet on
	// a quiet VM, 43 quiet on a busy CI host); `parley bench` judges them.
	// A broken path (a reused buffer, a wrong format) glitches every
	// burst, so each phase must have at least minCleanBursts clean ones.
	minCleanBursts = 1
)

func samplesOf(d time.Duration) int { return int(d * rate / time.Second) }

// burst is the signal's sample i (bursts start at i = 0).
func burst(i int) int16 {
	period, on, ramp := samplesOf(burstEvery), samplesOf(burstOn), samplesOf(burstRamp)
	k := i % period
	if k >= on {
		return 0
	}
	g := 1.0
	if k < ramp {
		g = 0.5 - 0.5*math.Cos(math.Pi*float64(k)/float64(ramp))
	} else if k > on-ramp {
		g = 0.5 - 0.5*math.Cos(math.Pi*float64(on-k)/float64(ramp))
	}
	return int16(g * toneAmp * math.Sin(2*math.Pi*toneHz*float64(i)/rate))
}

// recorder records a speaker's monitor, with each sample's capture time.
type recorder struct {
	mu    sync.Mutex
	pcm   []int16
	times []time.Time // of the last sample of each frame
}

func record(ctx context.Context, t *testing.T, m *capture.Mic, r *recorder) {
	f := make([]int16, capture.FrameSamples)
	for ctx.Err() == nil {
		if err := m.Read(f); err != nil {
			return
		}
		now := time.Now()
		r.mu.Lock()
		r.pcm = append(r.pcm, f...)
		r.times = append(r.times, now)
		r.mu.Unlock()
	}
}

// timeOf is when recorded sample i was captured (about).
func (r *recorder) timeOf(i int) time.Time {
	fr := i / capture.FrameSamples
	last := r.times[fr]
	return last.Add(-time.Duration(capture.FrameSamples-1-i%capture.FrameSamples) * time.Second / rate)
}

// stats of a stretch of recording.
type stats struct {
	bursts, clean, dropouts, jumps int
	latencies                      []time.Duration
}

func (s stats) p50() time.Duration {
	if len(s.latencies) == 0 {
		return 0
	}
	l := append([]time.Duration(nil), s.latencies...)
	sort.Slice(l, func(i, j int) bool { return l[i] < l[j] })
	return l[len(l)/2]
}

func (s stats) String() string {
	return fmt.Sprintf("%d bursts (%d clean), mouth to ear p50 %v, %d dropouts, %d discontinuities", s.bursts, s.clean, s.p50().Round(100*time.Microsecond), s.dropouts, s.jumps)
}

// analyse finds the bursts recorded in [from, to) and measures each
// against the time its first sample went into the microphone (fedAt: the
// last burst fed before a time).
func analyse(r *recorder, from, to int, fedAt func(heard time.Time) (time.Time, bool)) stats {
	var s stats
	maxStep := toneAmp * 2 * math.Pi * toneHz / rate
	quiet := 0
	for i := from; i < to; i++ {
		v := r.pcm[i]
		if v > onsetLevel || v < -onsetLevel {
			if quiet >= samplesOf(onsetQuiet) && i+samplesOf(burstOn) < to {
				s.bursts++
				// Against the burst fed last before it was heard.
				heard := r.timeOf(i)
				if at, ok := fedAt(heard); ok {
					s.latencies = append(s.latencies, heard.Sub(at))
				}
				run, glitches := 0, s.dropouts+s.jumps
				for j := i + samplesOf(edgeSkip); j < i+samplesOf(burstOn-2*edgeSkip); j++ {
					if math.Abs(float64(r.pcm[j])-float64(r.pcm[j-1])) > jumpFactor*maxStep {
						s.jumps++
					}
					if r.pcm[j] > -quietLevel && r.pcm[j] < quietLevel {
						run++
						if run == dropoutRun {
							s.dropouts++
						}
					} else {
						run = 0
					}
				}
				if s.dropouts+s.jumps == glitches {
					s.clean++
				}
			}
			quiet = 0
		} else {
			quiet++
		}
	}
	return s
}

type side struct {
	kit *kit.Kit
	eng *engine.Engine
}

// TestCallThroughPulseAudio: participant A's microphone (a PulseAudio pipe
// source) gets tone bursts; B's speaker (a null sink) is recorded from its
// monitor. It reports mouth-to-ear latency, dropouts and discontinuities
// inside the bursts, quiet, with a busy process per core, and with a busy
// goroutine per core in this process, and checks that A's own speaker
// stays silent (no echo of oneself).
func TestCallThroughPulseAudio(t *testing.T) {
	_, mics := pulsetest.Start(t, []string{"micA", "micB"}, []string{"spkA", "spkB"}, "")
	dur := phase
	if testing.Short() {
		dur = phaseShort
	}
	quietLog := slog.New(slog.NewTextHandler(io.Discard, nil))
	var warnings testkit.Log
	kitLog := slog.New(slog.NewTextHandler(&warnings, &slog.HandlerOptions{Level: slog.LevelWarn}))
	dir := t.TempDir()
	srv, err := server.Start(server.Config{DataDir: filepath.Join(dir, "server"), Listen: "127.0.0.1:0",
		Rooms: []server.Room{{Name: "audio", AutoSession: true, Defaults: server.SessionSettings{DurationS: int((2*dur + connectLimit) / time.Second)}}}},
		server.WithLogger(quietLog))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	url := srv.URL()

	// B's microphone gets silence: A's speaker must stay silent.
	mics["micB"].Feed(t, func(int) int16 { return 0 })
	// Each burst's mouth time: when its first sample went into the pipe.
	var fedMu sync.Mutex
	var fed []time.Time
	mics["micA"].Feed(t, func(i int) int16 {
		if i%samplesOf(burstEvery) == 0 {
			fedMu.Lock()
			fed = append(fed, time.Now())
			fedMu.Unlock()
		}
		return burst(i)
	})
	pulse := []malgo.Backend{malgo.BackendPulseaudio}
	var sides []*side
	for _, n := range []string{"A", "B"} {
		p, err := local.Open(kit.Options{VideoSource: kit.SourceTest, AudioSource: kit.SourceMicrophone, Microphone: "mic" + n, Speaker: "spk" + n,
			PlayAudio: true, AudioBackends: pulse, LoopbackCandidates: true, Log: kitLog, Label: n},
			engine.Config{Session: client.SessionConfig{URL: url, Room: "audio", Seat: "audio-" + n, StateFile: filepath.Join(dir, n+".json")},
				Log: quietLog, AutoReady: true}, "")
		if err != nil {
			t.Fatal(err)
		}
		k, eng := p.Kit, p.Engine
		defer eng.Leave()
		sides = append(sides, &side{k, eng})
		eng.Join("Audio " + n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, s := range sides {
		if !participant.Wait(ctx, s.eng, connectLimit, func(st participant.State) bool { return st.Phase == participant.PhaseInCall }) {
			t.Fatalf("no call within %v (phase %v)", connectLimit, s.eng.State().Phase)
		}
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	recs := map[string]*recorder{}
	// The speakers' monitors, and A's microphone itself: what it records
	// of the bursts is the floor (the pipe source and the capture).
	for n, dev := range map[string]string{"A": "spkA.monitor", "B": "spkB.monitor", "mic": "micA"} {
		m, err := capture.Open(capture.Config{Backends: pulse, Name: dev})
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		r := &recorder{}
		recs[n] = r
		wg.Add(1)
		go func() { defer wg.Done(); record(ctx, t, m, r) }()
	}
	fedAt := func(heard time.Time) (time.Time, bool) {
		fedMu.Lock()
		defer fedMu.Unlock()
		i := sort.Search(len(fed), func(i int) bool { return fed[i].After(heard) }) - 1
		if i < 0 {
			return time.Time{}, false
		}
		return fed[i], true
	}
	mark := func() int { // samples recorded of B's speaker so far
		r := recs["B"]
		r.mu.Lock()
		defer r.mu.Unlock()
		return len(r.pcm)
	}
	wait := func(d time.Duration) {
		select {
		case <-time.After(d): // the measurement's length, not a condition
		case <-ctx.Done():
		}
	}
	wait(time.Second) // the jitter buffer settles
	type result struct {
		name string
		s    stats
		c    kit.Counters // B's audio, received and played
	}
	var results []result
	measure := func(name string) {
		from := mark()
		sides[1].kit.ResetCounters()
		wait(dur)
		results = append(results, result{name, analyse(recs["B"], from, mark(), fedAt), sides[1].kit.Counters()})
	}
	measure(fmt.Sprintf("quiet (%v)", dur))
	if pulsetest.Loaded(t) {
		stopBusy := pulsetest.Busy(t)
		measure(fmt.Sprintf("%d busy processes (%v)", runtime.NumCPU(), dur))
		stopBusy()
		// Busy goroutines in this process, with the Go processors the kiosk
		// keeps (sched.AudioProcs).
		defer runtime.GOMAXPROCS(sched.AudioProcs())
		for i := 0; i < runtime.NumCPU(); i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				x := 1.0
				for ctx.Err() == nil {
					for j := 0; j < 1e5; j++ {
						x = x*1.0000001 + 1e-9
					}
				}
				_ = x
			}()
		}
		measure(fmt.Sprintf("%d busy goroutines, GOMAXPROCS %d (%v)", runtime.NumCPU(), runtime.GOMAXPROCS(0), dur))
	}
	cancel()
	wg.Wait()
	rm := recs["mic"]
	floor := analyse(rm, 0, len(rm.pcm)-samplesOf(burstEvery), fedAt)
	var echo int16
	for _, v := range recs["A"].pcm {
		echo = max(echo, v, -v)
	}
	t.Logf("floor, A's microphone recorded directly: %v", floor)
	for _, r := range results {
		t.Logf("%s: %v; B's jitter buffer: %d underruns, %d late, %v shed, %d of %d frames concealed",
			r.name, r.s, r.c.AudioUnderruns, r.c.AudioLate, r.c.AudioShed, r.c.AudioConcealed, r.c.AudioFrames)
	}
	t.Logf("A's own speaker: peak %d of 32767", echo)
	t.Logf("B's jitter buffer now holds %v", sides[1].kit.AudioDelay())
	if w := warnings.String(); w != "" {
		t.Logf("the kits' warnings:\n%s", w)
	}
	if echo > quietLevel {
		t.Errorf("A hears itself: peak %d on its own speaker", echo)
	}
	want := int(dur/burstEvery) * 3 / 4
	for _, c := range results {
		if c.s.bursts < want {
			t.Errorf("%s: heard %d bursts of about %d", c.name, c.s.bursts, int(dur/burstEvery))
		}
		if c.s.clean < minCleanBursts {
			t.Errorf("%s: no burst came through clean (%d dropouts, %d discontinuities): the path itself breaks the audio", c.name, c.s.dropouts, c.s.jumps)
		}
		if p := c.s.p50(); p > maxLatencyP50 {
			// Reported, not failed: the figure includes the pipe source's and
			// the monitor's own latency and moves with the machine's load;
			// `parley bench` is where the target is judged.
			t.Logf("%s: mouth to ear p50 %v is above the issue's target %v", c.name, p, maxLatencyP50)
		}
	}
}
