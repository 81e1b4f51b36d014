// Package bench is where Parley measures itself; `parley bench` is its
// command line, which only picks the parts, prints and saves. Calls
// between two participant engines on this machine: set-up time split into
// phases, capture-to-decoded video latency from the frame stamps and
// capture-to-playback audio latency from tone bursts, both read by a probe
// on each kit (media/bench/probe, a kit.Tap); each participant in a
// process of its own for CPU and memory (participants.go), with the kiosk
// on screen (call.go); the same call in Chromium (browser.go); impaired
// networks (network.go); recording's cost (record.go); the call's audio
// through PulseAudio (audio.go, audiolab); the server's capacity
// (server.go, loadtest). What is read of processes and the machine is in
// proc.go.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/gen2brain/malgo"

	"github.com/parley-lab/parley/media/bench/probe"
	"github.com/parley-lab/parley/media/kit"
	"github.com/parley-lab/parley/media/local"
	"github.com/parley-lab/parley/signaling/client"
	"github.com/parley-lab/parley/signaling/participant"
	"github.com/parley-lab/parley/signaling/participant/engine"
	"github.com/parley-lab/parley/signaling/server"
)

// ConnectLimit bounds one call's set-up in a benchmark.
const ConnectLimit = 20 * time.Second

// Dist summarises a distribution in milliseconds.
type Dist struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50_ms"`
	P95 float64 `json:"p95_ms"`
	Max float64 `json:"max_ms"`
}

// Summarise sorts ds and summarises it.
func Summarise(ds []time.Duration) Dist {
	if len(ds) == 0 {
		return Dist{}
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	return Dist{N: len(ds), P50: ms(ds[len(ds)/2]), P95: ms(ds[len(ds)*95/100]), Max: ms(ds[len(ds)-1])}
}

// Env is a server and a place for state files.
type Env struct {
	srv *server.Server
	dir string
	log *slog.Logger
	URL string
}

// NewEnv starts a server on loopback with a room "bench" of the given discussion length.
func NewEnv(duration time.Duration) (*Env, error) {
	dir, err := os.MkdirTemp("", "parley-bench-")
	if err != nil {
		return nil, err
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := server.Start(server.Config{DataDir: filepath.Join(dir, "server"), Listen: "127.0.0.1:0",
		Rooms: []server.Room{{Name: "bench", AutoSession: true, Defaults: server.SessionSettings{DurationS: int(duration / time.Second)}}}},
		server.WithLogger(log))
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return &Env{srv: srv, dir: dir, log: log, URL: srv.URL()}, nil
}

// Close stops the server and removes its files.
func (e *Env) Close() {
	e.srv.Close()
	os.RemoveAll(e.dir)
}

// Side is one benchmark participant, its kit measured by a probe.
type Side struct {
	Kit   *kit.Kit
	Probe *probe.Probe
	Eng   *engine.Engine
}

var seatN int

// NewSide makes a participant with test sources (tone bursts at toneHz) and
// playback on miniaudio's null backend, so audio is timed at the player.
func (e *Env) NewSide(toneHz float64) (*Side, error) {
	return e.openSide("bench", e.URL, kit.Options{ToneHz: toneHz, ToneBursts: true, LoopbackCandidates: true})
}

// openSide makes a participant of o with the test sources, playback on
// miniaudio's null backend and a probe; its seat is named after kind.
func (e *Env) openSide(kind, url string, o kit.Options) (*Side, error) {
	seatN++
	o.VideoSource, o.AudioSource = kit.SourceTest, kit.SourceTest
	o.PlayAudio, o.AudioBackends, o.Log = true, []malgo.Backend{kit.NullBackend}, e.log
	seat := fmt.Sprintf("%s-%d", kind, seatN)
	p, err := local.Open(o, engine.Config{Session: client.SessionConfig{URL: url, Room: "bench", Seat: seat,
		StateFile: filepath.Join(e.dir, seat+".json")}, Log: e.log, AutoReady: true, AutoConsent: true}, "")
	if err != nil {
		return nil, err
	}
	return &Side{Kit: p.Kit, Probe: probe.On(p.Kit), Eng: p.Engine}, nil
}

// WaitFor waits until cond holds for the side's state.
func (s *Side) WaitFor(ctx context.Context, limit time.Duration, cond func(participant.State) bool) error {
	if !participant.Wait(ctx, s.Eng, limit, cond) {
		return fmt.Errorf("timed out in phase %v", s.Eng.State().Phase)
	}
	return nil
}

// Phases of call set-up, measured from the moment both sides were paired.
var Phases = []string{"negotiated", "ice_connected", "dtls_connected", "first_frame"}

// CallSetup holds n calls one after another and returns, per phase, the
// time from pairing to that phase on each side (the first frame: the later
// of the two sides).
func CallSetup(ctx context.Context, n int) (map[string]Dist, error) {
	env, err := NewEnv(time.Hour)
	if err != nil {
		return nil, err
	}
	defer env.Close()
	got := map[string][]time.Duration{}
	for i := 0; i < n; i++ {
		a, err := env.NewSide(kit.DefaultToneHz)
		if err != nil {
			return nil, err
		}
		b, err := env.NewSide(kit.DefaultToneHz * 1.5)
		if err != nil {
			a.Eng.Leave()
			return nil, err
		}
		// Every round in one session: pseudonyms are unique there.
		a.Eng.Join(fmt.Sprintf("A%d", i))
		b.Eng.Join(fmt.Sprintf("B%d", i))
		paired := make([]time.Time, 2)
		for j, s := range []*Side{a, b} {
			if err := s.WaitFor(ctx, ConnectLimit, func(st participant.State) bool { return st.Phase >= participant.PhasePaired }); err != nil {
				return nil, err
			}
			paired[j] = time.Now()
		}
		t0 := paired[1] // pairing is complete when the second side knows
		if paired[0].After(t0) {
			t0 = paired[0]
		}
		for _, s := range []*Side{a, b} {
			if err := waitFirstFrame(ctx, s); err != nil {
				return nil, err
			}
		}
		var last time.Time
		for _, s := range []*Side{a, b} {
			tl := s.Kit.LastCall().Timeline()
			for p, t := range map[string]time.Time{"negotiated": tl.Negotiated, "ice_connected": tl.ICEConnected, "dtls_connected": tl.Connected} {
				if !t.IsZero() {
					got[p] = append(got[p], t.Sub(t0))
				}
			}
			if tl.FirstFrame.After(last) {
				last = tl.FirstFrame
			}
		}
		got["first_frame"] = append(got["first_frame"], last.Sub(t0))
		a.Eng.Leave()
		b.Eng.Leave()
	}
	out := map[string]Dist{}
	for p, ds := range got {
		out[p] = Summarise(ds)
	}
	return out, nil
}

func waitFirstFrame(ctx context.Context, s *Side) error {
	deadline := time.Now().Add(ConnectLimit)
	for time.Now().Before(deadline) {
		if c := s.Kit.LastCall(); c != nil && !c.Timeline().FirstFrame.IsZero() {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
	return errors.New("no frame decoded")
}

// LatencyResult is what one long call measured.
type LatencyResult struct {
	Video         Dist    `json:"video_capture_to_decoded"`
	Audio         Dist    `json:"audio_capture_to_playback"`
	FramesSent    int64   `json:"frames_sent"`
	FramesDecoded int64   `json:"frames_decoded"`
	Seconds       float64 `json:"seconds"`
}

// Latency holds one call for d and measures video and audio latency in
// both directions.
func Latency(ctx context.Context, d time.Duration) (LatencyResult, error) {
	env, err := NewEnv(d + time.Minute)
	if err != nil {
		return LatencyResult{}, err
	}
	defer env.Close()
	a, err := env.NewSide(kit.DefaultToneHz)
	if err != nil {
		return LatencyResult{}, err
	}
	defer a.Eng.Leave()
	b, err := env.NewSide(kit.DefaultToneHz * 1.5)
	if err != nil {
		return LatencyResult{}, err
	}
	defer b.Eng.Leave()
	a.Eng.Join("A")
	b.Eng.Join("B")
	for _, s := range []*Side{a, b} {
		if err := s.WaitFor(ctx, ConnectLimit, func(st participant.State) bool { return st.MediaConnected }); err != nil {
			return LatencyResult{}, err
		}
	}
	// Measure from a clean start: the first second holds the set-up.
	time.Sleep(time.Second)
	startA, startB := a.Probe.Report(0, 0).Stamped, b.Probe.Report(0, 0).Stamped
	sentA, sentB := a.Kit.FramesSent(), b.Kit.FramesSent()
	decA, decB := a.Probe.Report(0, 0).FramesDecoded, b.Probe.Report(0, 0).FramesDecoded
	select {
	case <-time.After(d):
	case <-ctx.Done():
		return LatencyResult{}, ctx.Err()
	}
	pa, pb := a.Probe.Report(0, 0), b.Probe.Report(0, 0)
	var video []time.Duration
	video = append(video, pa.VideoLatenciesSince(startA)...)
	video = append(video, pb.VideoLatenciesSince(startB)...)
	audio := append(a.Probe.AudioLatencies(b.Probe), b.Probe.AudioLatencies(a.Probe)...)
	return LatencyResult{
		Video: Summarise(video), Audio: Summarise(audio), Seconds: d.Seconds(),
		FramesSent:    a.Kit.FramesSent() - sentA + b.Kit.FramesSent() - sentB,
		FramesDecoded: pa.FramesDecoded - decA + pb.FramesDecoded - decB,
	}, nil
}
