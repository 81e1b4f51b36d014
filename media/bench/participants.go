package bench

// participants.go: two participants, each in a process of its own, in
// one call: what each process costs (CPU, memory) while it sends and
// decodes, and with the kiosk on screen what reaches the screen. The
// parent runs `parley bench-participant` twice (Processes); each child
// opens a participant (OpenParticipant), measures (MeasureCall, or the
// command line's kiosk window around MeasureUsage) and prints its
// ParticipantUsage as JSON.

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/gen2brain/malgo"

	"github.com/parley-lab/parley/media/kit"
	"github.com/parley-lab/parley/media/local"
	"github.com/parley-lab/parley/signaling/client"
	"github.com/parley-lab/parley/signaling/participant"
	"github.com/parley-lab/parley/signaling/participant/engine"
)

// ParticipantCommand is the (unlisted) subcommand a participant process runs.
const ParticipantCommand = "bench-participant"

// PastSetup is how long a participant waits after its call connected
// before it measures.
const PastSetup = time.Second

// ParticipantUsage is what one participant process used during its call.
type ParticipantUsage struct {
	CPUPerSecond float64 `json:"cpu_cores"` // user+system CPU seconds per second of call
	PeakRSSMiB   float64 `json:"peak_rss_mib"`
	FramesSent   int64   `json:"frames_sent"`
	Decoded      int64   `json:"frames_decoded"`
	Seconds      float64 `json:"seconds"`
	// ShownMS is, with the UI, each partner frame's capture-to-shown time
	// (the child's report to the parent, which summarises them).
	ShownMS []float64 `json:"shown_ms,omitempty"`
}

// ParticipantFlags is what a participant process is told, on its command
// line: Processes writes the flags, the child's command parses them (Bind).
type ParticipantFlags struct {
	URL, Seat, State string
	Duration         time.Duration
	Tone             float64
	// UI shows the kiosk in a window on $DISPLAY.
	UI bool
}

// Bind defines the flags on fs, with the defaults of a participant.
func (f *ParticipantFlags) Bind(fs *flag.FlagSet) {
	fs.StringVar(&f.URL, "server-url", "", "server")
	fs.StringVar(&f.Seat, "seat", "", "seat")
	fs.DurationVar(&f.Duration, "duration", CPUTime, "call length measured")
	fs.Float64Var(&f.Tone, "tone", kit.DefaultToneHz, "tone")
	fs.StringVar(&f.State, "state", "", "state file")
	fs.BoolVar(&f.UI, "ui", false, "show the kiosk in a window on $DISPLAY")
}

func (f ParticipantFlags) args() []string {
	a := []string{ParticipantCommand, "--server-url", f.URL, "--seat", f.Seat, "--duration", f.Duration.String(),
		"--tone", fmt.Sprint(f.Tone), "--state", f.State}
	if f.UI {
		a = append(a, "--ui")
	}
	return a
}

// Processes runs two participants of the program parley (a path to it),
// each in its own process, in one call of d; with the kiosk in a window
// each when withUI.
func Processes(parley string, d time.Duration, withUI bool) ([]ParticipantUsage, error) {
	env, err := NewEnv(d + time.Minute)
	if err != nil {
		return nil, err
	}
	defer env.Close()
	dir, err := os.MkdirTemp("", "parley-bench-cpu-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	var cmds []*exec.Cmd
	var outs []*strings.Builder
	for i := range 2 {
		out := &strings.Builder{}
		f := ParticipantFlags{URL: env.URL, Seat: fmt.Sprintf("cpu-%d", i+1), Duration: d,
			Tone: kit.DefaultToneHz * float64(i+2) / 2, State: filepath.Join(dir, fmt.Sprint(i)), UI: withUI}
		cmd := exec.Command(parley, f.args()...)
		cmd.Stdout = out
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		cmds, outs = append(cmds, cmd), append(outs, out)
	}
	var res []ParticipantUsage
	var errs error
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			errs = errors.Join(errs, fmt.Errorf("participant %d: %w (%s)", i+1, err, outs[i].String()))
			continue
		}
		var u ParticipantUsage
		if err := json.Unmarshal([]byte(outs[i].String()), &u); err != nil {
			errs = errors.Join(errs, fmt.Errorf("participant %d printed %q: %w", i+1, outs[i].String(), err))
			continue
		}
		res = append(res, u)
	}
	return res, errs
}

// OpenParticipant opens the participant of a process: the test sources,
// playback on miniaudio's null backend, the benchmark's room.
func OpenParticipant(f ParticipantFlags) (*local.Participant, error) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	return local.Open(kit.Options{VideoSource: kit.SourceTest, AudioSource: kit.SourceTest, ToneHz: f.Tone,
		PlayAudio: true, AudioBackends: []malgo.Backend{kit.NullBackend}, LoopbackCandidates: true, Log: log},
		engine.Config{Session: client.SessionConfig{URL: f.URL, Room: "bench", Seat: f.Seat, StateFile: f.State}, Log: log, AutoReady: true, AutoConsent: true}, "")
}

// WaitCall waits for eng's call, then PastSetup.
func WaitCall(eng participant.Engine) error {
	if !participant.Wait(context.Background(), eng, ConnectLimit, func(s participant.State) bool { return s.MediaConnected }) {
		return fmt.Errorf("no call within %v", ConnectLimit)
	}
	time.Sleep(PastSetup)
	return nil
}

// MeasureCall joins p's engine as seat, waits for the call and measures
// d of it.
func MeasureCall(p *local.Participant, seat string, d time.Duration) (ParticipantUsage, error) {
	p.Engine.Join(seat)
	if err := WaitCall(p.Engine); err != nil {
		return ParticipantUsage{}, err
	}
	return MeasureUsage(p.Kit, d), nil
}

// MeasureUsage measures this process for d: its CPU, its peak memory,
// and the frames k sent and decoded.
func MeasureUsage(k *kit.Kit, d time.Duration) ParticipantUsage {
	cpu0, t0 := CPUSeconds(), time.Now()
	sent0, dec0 := k.FramesSent(), k.FramesDecoded()
	time.Sleep(d)
	u := ParticipantUsage{
		CPUPerSecond: (CPUSeconds() - cpu0) / time.Since(t0).Seconds(),
		FramesSent:   k.FramesSent() - sent0, Decoded: k.FramesDecoded() - dec0, Seconds: time.Since(t0).Seconds(),
	}
	if peak, err := ProcPeakRSS(os.Getpid()); err == nil {
		u.PeakRSSMiB = float64(peak) / (1 << 20)
	}
	return u
}
