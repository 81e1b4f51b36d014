package bench

// audio.go: `parley bench --only audio`: a call's audio through a real
// sound server (media/bench/audiolab: a private PulseAudio, no sound card).
// Participant A's microphone is fed the test signal (a tone, then speech,
// every cycle), B's microphone silence; B's speaker is recorded from its
// monitor, on the sound server's clock, as is A's own speaker (it must stay
// silent) and A's microphone itself (the floor: what the virtual devices
// add). Each stack's call (Parley's two participants, then two Chromium
// processes: audiochrome.go) is measured in the same run on the same
// devices, quiet and with every core busy.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/gen2brain/malgo"

	"github.com/parley-lab/parley/media/bench/audiolab"
	"github.com/parley-lab/parley/media/capture"
	"github.com/parley-lab/parley/media/kit"
	"github.com/parley-lab/parley/media/local"
	"github.com/parley-lab/parley/media/sched"
	"github.com/parley-lab/parley/signaling/client"
	"github.com/parley-lab/parley/signaling/participant"
	"github.com/parley-lab/parley/signaling/participant/engine"
)

// Audio benchmark defaults and limits.
const (
	// AudioPhase is how long each condition is measured by default: 7 cycles.
	AudioPhase = 14 * time.Second
	// audioSettle is let pass after the call is up, for the jitter buffers
	// (and Chromium's start-up work, which otherwise falls in its first phase).
	audioSettle = 5 * time.Second
	// audioConnectLimit bounds one stack's call set-up.
	audioConnectLimit = 30 * time.Second
	// AudioLatencyTarget is issue 13's target for mouth to ear (p50).
	AudioLatencyTarget = 70 * time.Millisecond
)

// The virtual devices: participant X has micX and spkX.
var (
	audioMics     = []string{"micA", "micB"}
	audioSpeakers = []string{"spkA", "spkB"}
)

// Condition is what else the machine does while a phase is measured.
type Condition struct {
	Name string
	// Start starts it and gives what stops it; nil: nothing else.
	Start func() (stop func(), err error)
}

// The benchmark's conditions.
var (
	Quiet  = Condition{Name: "quiet"}
	Loaded = Condition{Name: "every core busy", Start: audiolab.Busy}
)

// AudioStack holds a call between A (micA, spkA) and B (micB, spkB) on
// the sound server that PULSE_SERVER names.
type AudioStack interface {
	Name() string
	// Start returns once audio flows both ways; the call must last for
	// callLength.
	Start(ctx context.Context, pulse *audiolab.Pulse, callLength time.Duration) error
	Close()
}

// AudioPhase is one stack's figures in one condition.
type AudioFigures struct {
	Stack     string `json:"stack"`
	Condition string `json:"condition"`
	// Tones heard, and how many of them came through with no dropout nor
	// discontinuity.
	Tones           int     `json:"tones"`
	Clean           int     `json:"clean"`
	Dropouts        int     `json:"dropouts"`
	Discontinuities int     `json:"discontinuities"`
	SilentMS        float64 `json:"silent_in_tones_ms"`
	LatencyP50MS    float64 `json:"mouth_to_ear_p50_ms"`
	LatencyP95MS    float64 `json:"mouth_to_ear_p95_ms"`
	SpeechFrames    int     `json:"speech_frames"`
	SegSNR          float64 `json:"segmental_snr_db"`
	SpectralDist    float64 `json:"log_spectral_distance_db"`
	// EchoPeak is the loudest sample on A's own speaker (of 32767).
	EchoPeak int16 `json:"echo_peak"`
	// Receiver is what B's jitter buffer counted, where the stack tells
	// (Parley): a glitch it did not count came from below it (the device,
	// the sound server, the machine).
	Receiver *kit.Counters `json:"receiver,omitempty"`
}

// receiverCounted is a stack whose receiving side counts its jitter
// buffer's work.
type receiverCounted interface {
	resetReceiver()
	receiver() kit.Counters
}

func figures(stack, cond string, s audiolab.Stats) AudioFigures {
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	return AudioFigures{Stack: stack, Condition: cond, Tones: s.Tones, Clean: s.Clean, Dropouts: s.Dropouts,
		Discontinuities: s.Discontinuities, SilentMS: ms(s.Silent), LatencyP50MS: ms(s.LatencyP(50)), LatencyP95MS: ms(s.LatencyP(95)),
		SpeechFrames: len(s.SNR), SegSNR: s.SegSNR(), SpectralDist: s.SpectralDistance()}
}

// AudioResult is what `parley bench --only audio` measured.
type AudioResult struct {
	Speech string  `json:"speech"` // what said the speech (audiolab.Speech)
	PhaseS float64 `json:"phase_s"`
	// Floor is A's microphone recorded directly, during Parley's quiet
	// phase: what the feeding and the recording add.
	Floor   AudioFigures   `json:"floor"`
	Figures []AudioFigures `json:"figures"`
	// Skipped says why a stack did not run (Chromium not installed).
	Skipped map[string]string `json:"skipped,omitempty"`
}

// Audio runs the benchmark: a private PulseAudio, then each stack's call
// on it, each measured for phase in each condition.
func Audio(ctx context.Context, stacks []AudioStack, conds []Condition, phase time.Duration) (AudioResult, error) {
	p, err := audiolab.StartPulse(audioMics, audioSpeakers, "")
	if err != nil {
		return AudioResult{}, err
	}
	defer p.Close()
	// The kits' devices and the recorders reach it through the environment.
	old, had := os.LookupEnv("PULSE_SERVER")
	os.Setenv("PULSE_SERVER", p.ServerEnv())
	defer func() {
		if had {
			os.Setenv("PULSE_SERVER", old)
		} else {
			os.Unsetenv("PULSE_SERVER")
		}
	}()
	speech, source := audiolab.Speech(ctx)
	sig := audiolab.NewSignal(speech)
	res := AudioResult{Speech: source, PhaseS: phase.Seconds(), Skipped: map[string]string{}}
	for i, s := range stacks {
		run, err := AudioCall(ctx, p, s, sig, conds, phase)
		if errors.Is(err, ErrNoBrowser) {
			res.Skipped[s.Name()] = err.Error()
			continue
		}
		if err != nil {
			return res, fmt.Errorf("%s: %w", s.Name(), err)
		}
		res.Figures = append(res.Figures, run.Figures...)
		if i == 0 {
			res.Floor = run.Floor
		}
	}
	return res, nil
}

// AudioRun is one stack's call, measured.
type AudioRun struct {
	Figures []AudioFigures // one per condition
	Floor   AudioFigures
}

// AudioCall holds s's call on p and measures it for phase in each condition.
func AudioCall(ctx context.Context, p *audiolab.Pulse, s AudioStack, sig *audiolab.Signal, conds []Condition, phase time.Duration) (AudioRun, error) {
	var run AudioRun
	callLength := audioSettle + time.Duration(len(conds))*phase + time.Minute
	// The microphones are fed before the call: a kiosk checks that its
	// microphone delivers when it opens it.
	mouth := audiolab.NewMouth(sig)
	stopA, err := p.Mics["micA"].Feed(mouth.Next)
	if err != nil {
		return run, err
	}
	defer stopA()
	stopB, err := p.Mics["micB"].Feed(func(int) int16 { return 0 })
	if err != nil {
		return run, err
	}
	defer stopB()
	if err := s.Start(ctx, p, callLength); err != nil {
		s.Close()
		return run, err
	}
	defer s.Close()
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait() // the recorders, after cancel
	defer cancel()
	pulse := []malgo.Backend{malgo.BackendPulseaudio}
	recs := map[string]*audiolab.Recorder{}
	for _, dev := range []string{"spkB.monitor", "spkA.monitor", "micA"} {
		m, err := capture.Open(capture.Config{Backends: pulse, Name: dev})
		if err != nil {
			return run, fmt.Errorf("recording %s: %w", dev, err)
		}
		defer m.Close()
		r := &audiolab.Recorder{}
		recs[dev] = r
		wg.Add(1)
		go func() { defer wg.Done(); r.Record(ctx, m, capture.FrameSamples) }()
	}
	wait := func(d time.Duration) error {
		select {
		case <-time.After(d): // the measurement's length, not a condition
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if err := wait(audioSettle); err != nil {
		return run, err
	}
	ear, self, mic := recs["spkB.monitor"], recs["spkA.monitor"], recs["micA"]
	for _, c := range conds {
		from, fromSelf, fromMic := ear.Len(), self.Len(), mic.Len()
		counted, ok := s.(receiverCounted)
		if ok {
			counted.resetReceiver()
		}
		stop := func() {}
		if c.Start != nil {
			if stop, err = c.Start(); err != nil {
				return run, fmt.Errorf("%s: %w", c.Name, err)
			}
		}
		err := wait(phase)
		stop()
		if err != nil {
			return run, err
		}
		st := audiolab.Analyse(ear, from, ear.Len(), mouth, sig)
		f := figures(s.Name(), c.Name, st)
		f.EchoPeak = self.Peak(fromSelf, self.Len())
		if ok {
			c := counted.receiver()
			f.Receiver = &c
		}
		run.Figures = append(run.Figures, f)
		if len(run.Figures) == 1 {
			run.Floor = figures("floor", c.Name, audiolab.Analyse(mic, fromMic, mic.Len(), mouth, sig))
		}
	}
	return run, nil
}

// The stacks' names in the tables.
const (
	parleyStack   = "Parley"
	chromiumStack = "Chromium"
)

// ParleyAudio is Parley's call: two participants of this process, each
// on its virtual microphone and speaker, with the test camera for video.
type ParleyAudio struct {
	env     *Env
	sides   []*local.Participant
	restore int // GOMAXPROCS before
}

// Name is the stack's name in the tables.
func (*ParleyAudio) Name() string { return parleyStack }

// Start pairs the two participants and waits for their call.
func (a *ParleyAudio) Start(ctx context.Context, _ *audiolab.Pulse, callLength time.Duration) error {
	a.restore = sched.AudioProcs() // as the kiosk runs
	env, err := NewEnv(callLength)
	if err != nil {
		return err
	}
	a.env = env
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, n := range []string{"A", "B"} {
		p, err := local.Open(kit.Options{VideoSource: kit.SourceTest, AudioSource: kit.SourceMicrophone, Microphone: "mic" + n, Speaker: "spk" + n,
			PlayAudio: true, AudioBackends: []malgo.Backend{malgo.BackendPulseaudio}, LoopbackCandidates: true, Log: quiet, Label: n},
			engine.Config{Session: client.SessionConfig{URL: env.URL, Room: "bench", Seat: "audio-" + n, StateFile: filepath.Join(env.dir, n+".json")},
				Log: quiet, AutoReady: true, AutoConsent: true}, "")
		if err != nil {
			return fmt.Errorf("participant %s: %w", n, err)
		}
		a.sides = append(a.sides, p)
		p.Engine.Join("Audio " + n)
	}
	for _, p := range a.sides {
		if !participant.Wait(ctx, p.Engine, audioConnectLimit, func(st participant.State) bool { return st.Phase == participant.PhaseInCall }) {
			return fmt.Errorf("no call within %v (phase %v)", audioConnectLimit, p.Engine.State().Phase)
		}
	}
	return nil
}

func (a *ParleyAudio) resetReceiver()         { a.sides[1].Kit.ResetCounters() }
func (a *ParleyAudio) receiver() kit.Counters { return a.sides[1].Kit.Counters() }

// Close makes both leave and stops the server.
func (a *ParleyAudio) Close() {
	for _, p := range a.sides {
		p.Leave()
	}
	a.sides = nil
	if a.env != nil {
		a.env.Close()
		a.env = nil
	}
	if a.restore > 0 {
		runtime.GOMAXPROCS(a.restore)
		a.restore = 0
	}
}

// AudioComparison is Parley against Chromium in one condition.
type AudioComparison struct {
	Condition string `json:"condition"`
	// Ratios, Parley's over Chromium's (NaN when Chromium's is 0 and
	// Parley's too; +Inf when only Chromium's is 0).
	Latency         float64 `json:"mouth_to_ear_p50_ratio"`
	Dropouts        float64 `json:"dropouts_ratio"`
	Discontinuities float64 `json:"discontinuities_ratio"`
	// Differences: positive SNRGain and negative LSDChange are Parley better.
	SNRGain   float64 `json:"snr_gain_db"`
	LSDChange float64 `json:"lsd_change_db"`
	parley    AudioFigures
	chromium  AudioFigures
}

// Compare pairs Parley's figures with Chromium's, condition by condition.
func (r AudioResult) Compare() []AudioComparison {
	var out []AudioComparison
	for _, p := range r.Figures {
		if p.Stack != parleyStack {
			continue
		}
		for _, c := range r.Figures {
			if c.Stack != chromiumStack || c.Condition != p.Condition {
				continue
			}
			q := func(a, b float64) float64 {
				if a == 0 && b == 0 {
					return math.NaN()
				}
				return a / b
			}
			out = append(out, AudioComparison{Condition: p.Condition, Latency: q(p.LatencyP50MS, c.LatencyP50MS),
				Dropouts: q(float64(p.Dropouts), float64(c.Dropouts)), Discontinuities: q(float64(p.Discontinuities), float64(c.Discontinuities)),
				SNRGain: p.SegSNR - c.SegSNR, LSDChange: p.SpectralDist - c.SpectralDist, parley: p, chromium: c})
		}
	}
	return out
}

// Missed names each of issue 13's targets that Parley missed in this run.
func (r AudioResult) Missed() []string {
	var out []string
	for _, p := range r.Figures {
		if p.Stack == parleyStack && p.LatencyP50MS > float64(AudioLatencyTarget.Milliseconds()) {
			out = append(out, fmt.Sprintf("%s: mouth to ear p50 %.1f ms > %v", p.Condition, p.LatencyP50MS, AudioLatencyTarget))
		}
	}
	for _, c := range r.Compare() {
		p, ch := c.parley, c.chromium
		if p.Dropouts > ch.Dropouts {
			out = append(out, fmt.Sprintf("%s: %d dropouts, Chromium %d", c.Condition, p.Dropouts, ch.Dropouts))
		}
		if p.Discontinuities > ch.Discontinuities {
			out = append(out, fmt.Sprintf("%s: %d discontinuities, Chromium %d", c.Condition, p.Discontinuities, ch.Discontinuities))
		}
		if c.SNRGain < 0 {
			out = append(out, fmt.Sprintf("%s: segmental SNR %.2f dB, Chromium %.2f", c.Condition, p.SegSNR, ch.SegSNR))
		}
		if c.LSDChange > 0 {
			out = append(out, fmt.Sprintf("%s: log-spectral distance %.2f dB, Chromium %.2f", c.Condition, p.SpectralDist, ch.SpectralDist))
		}
	}
	return out
}
