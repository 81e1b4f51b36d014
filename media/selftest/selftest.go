// Package selftest checks the whole chain on one machine: a rendezvous
// server (in process, or a lab's), two participant engines with test
// sources (or this machine's devices for one side), a short discussion,
// and what each side measured (a media/bench/probe tapping each kit).
// `parley selftest` prints it; CI runs it as a Go test.
package selftest

import (
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gen2brain/malgo"
	"github.com/gorilla/websocket"

	"github.com/parley-lab/parley/media/bench/probe"
	"github.com/parley-lab/parley/media/frames"
	"github.com/parley-lab/parley/media/kit"
	"github.com/parley-lab/parley/media/local"
	"github.com/parley-lab/parley/signaling/client"
	"github.com/parley-lab/parley/signaling/participant"
	"github.com/parley-lab/parley/signaling/participant/engine"
	"github.com/parley-lab/parley/signaling/protocol"
	"github.com/parley-lab/parley/signaling/server"
)

// Defaults.
const (
	DefaultDuration = 6 * time.Second
	// DefaultConnectLimit bounds call set-up before the test fails.
	DefaultConnectLimit = 20 * time.Second
	// MaxEndSkew is how far apart the two sides may see the end.
	MaxEndSkew = 500 * time.Millisecond
	// MinFramesShare is the share of the expected frames each side must decode.
	MinFramesShare = 0.5
	// MinToneShare is the share of received audio windows in which the
	// partner's tone must be heard.
	MinToneShare = 0.5
)

// Options of a self-test.
type Options struct {
	ServerURL string // empty: start a server in this process
	// Room must be empty (or protocol.CheckRoom): through a lab's server
	// the test participants always hold a workstation check of their own
	// (JoinRequest.Check), never in a research room; Run refuses any
	// other room with ErrResearchRoom.
	Room     string
	Duration time.Duration
	// Side A may use this machine's devices: kit sources "camera", "microphone".
	VideoSourceA, AudioSourceA string
	// AudioBackends overrides the playback backends (kit.NullBackend in CI).
	AudioBackends []malgo.Backend
	Log           *slog.Logger
}

// Side is what one participant measured.
type Side struct {
	Name            string    `json:"name"`
	SetupMS         float64   `json:"setup_ms"`        // paired to first decoded frame
	FramesDecoded   int64     `json:"frames_decoded"`  // partner's frames decoded
	FramesExpected  int64     `json:"frames_expected"` // partner's frames sent meanwhile
	StampsInOrder   bool      `json:"stamps_in_order"` // frame numbers read back from the pictures only grow
	VideoLatencyP50 float64   `json:"video_latency_p50_ms"`
	ToneHeard       float64   `json:"partner_tone_share"` // share of audio windows with the partner's tone
	OwnToneHeard    float64   `json:"own_tone_share"`     // must stay low: no echo of oneself
	ChatReceived    bool      `json:"chat_received"`
	EndedAt         time.Time `json:"ended_at"`
	NoAudioOutput   bool      `json:"no_audio_output"`
	PlayedMS        float64   `json:"played_ms"` // partner audio played to the output device
}

// Report is the whole result.
type Report struct {
	Server    string   `json:"server"`
	Duration  float64  `json:"duration_s"`
	A, B      Side     `json:"-"`
	Sides     []Side   `json:"sides"`
	EndSkewMS float64  `json:"end_skew_ms"`
	Failures  []string `json:"failures"`
	OK        bool     `json:"ok"`
}

// ErrFailed wraps a self-test whose checks failed.
var ErrFailed = errors.New("self-test failed")

// ErrResearchRoom is returned for a Room through a lab's server: the
// workstation check never joins a research room (its participants and
// chat would be in the lab's data).
var ErrResearchRoom = errors.New("the workstation check never joins a lab's room")

type side struct {
	name   string
	kit    *kit.Kit
	probe  *probe.Probe
	eng    *engine.Engine
	tone   float64
	paired time.Time
}

// Run performs the self-test. It returns the report, and ErrFailed (with
// every failed check) when a check fails.
func Run(ctx context.Context, o Options) (Report, error) {
	if o.Duration == 0 {
		o.Duration = DefaultDuration
	}
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	rep := Report{Duration: o.Duration.Seconds()}
	dir, err := os.MkdirTemp("", "parley-selftest-")
	if err != nil {
		return rep, err
	}
	defer os.RemoveAll(dir)
	url, room := o.ServerURL, o.Room
	// Through the lab's server, the two test participants hold a workstation
	// check of their own: never in an experiment session, never exported.
	check := ""
	if url != "" {
		if room != "" && room != protocol.CheckRoom {
			return rep, fmt.Errorf("%w: room %q: through a lab server the self-test always holds its own workstation check, "+
				"which is never in an experiment session or an export; leave out --room", ErrResearchRoom, room)
		}
		host, _ := os.Hostname()
		check = fmt.Sprintf("selftest-%s-%d", host, time.Now().UnixNano())
		room = protocol.CheckRoom // the server puts a check there whatever the room
		rep.Server = url
		if why := probeServer(ctx, url); why != "" {
			return finish(rep, nil, []string{why})
		}
	}
	if url == "" {
		room = "selftest"
		srv, err := server.Start(server.Config{DataDir: filepath.Join(dir, "server"), Listen: "127.0.0.1:0",
			Rooms: []server.Room{{Name: room, AutoSession: true, Defaults: server.SessionSettings{DurationS: int(o.Duration / time.Second)}}}},
			server.WithLogger(o.Log))
		if err != nil {
			return rep, err
		}
		defer srv.Close()
		url = srv.URL()
	}
	rep.Server = url
	sides := []*side{{name: "A", tone: kit.DefaultToneHz}, {name: "B", tone: kit.DefaultToneHz * 1.5}}
	for i, s := range sides {
		opts := kit.Options{VideoSource: "test", AudioSource: "test", ToneHz: s.tone, PlayAudio: true,
			AudioBackends: o.AudioBackends, LoopbackCandidates: true, Log: o.Log, Label: "selftest " + s.name}
		if i == 0 {
			if o.VideoSourceA != "" {
				opts.VideoSource = o.VideoSourceA
			}
			if o.AudioSourceA != "" {
				opts.AudioSource = o.AudioSourceA
			}
		}
		p, err := local.Open(opts, engine.Config{
			Session: client.SessionConfig{URL: url, Room: room, Seat: "selftest-" + s.name + "-" + fmt.Sprint(time.Now().UnixNano()%1e6),
				Client: "parley-selftest", StateFile: filepath.Join(dir, s.name+".json"), Check: check},
			Log: o.Log, AutoReady: true, AutoConsent: true,
		}, "")
		if err != nil {
			return rep, fmt.Errorf("side %s: %w", s.name, err)
		}
		s.kit, s.probe, s.eng = p.Kit, probe.On(p.Kit), p.Engine
		defer p.Leave()
	}
	var fails []string
	fail := func(format string, a ...any) { fails = append(fails, fmt.Sprintf(format, a...)) }
	for _, s := range sides {
		s.eng.Join("Selftest " + s.name)
	}
	var wg sync.WaitGroup
	// Each side waits until paired, or until it is clear that it will not
	// be: its join refused, the server not answering; then the other side
	// stops waiting too.
	waitCtx, stopWaiting := context.WithCancel(ctx)
	defer stopWaiting()
	for _, s := range sides {
		wg.Add(1)
		go func() {
			defer wg.Done()
			participant.Wait(waitCtx, s.eng, DefaultConnectLimit, func(st participant.State) bool {
				return st.Phase >= participant.PhasePaired || refused(st) || st.ServerUnreachable
			})
			if s.eng.State().Phase < participant.PhasePaired {
				stopWaiting()
			}
			s.paired = time.Now()
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		fail("stopped before the test participants were paired")
		return finish(rep, sides, fails)
	}
	// The sides whose own engine knows what went wrong; else every side
	// not paired.
	var unpaired, failed []*side
	for _, s := range sides {
		if st := s.eng.State(); st.Phase < participant.PhasePaired {
			unpaired = append(unpaired, s)
			if refused(st) || st.ServerUnreachable {
				failed = append(failed, s)
			}
		}
	}
	if len(failed) == 0 {
		failed = unpaired
	}
	for _, s := range failed {
		fail("side %s: %s", s.name, notPairedReason(url, s.eng.State()))
	}
	if len(fails) > 0 {
		return finish(rep, sides, fails)
	}
	firstFrame := make([]time.Time, len(sides))
	for i, s := range sides {
		wg.Add(1)
		go func() {
			defer wg.Done()
			deadline := time.Now().Add(DefaultConnectLimit)
			for time.Now().Before(deadline) && ctx.Err() == nil {
				// The smallest view: the frame is converted at a quarter size.
				if img, _ := s.eng.Remote().Render(nil, 0, frames.View{Fit: image.Pt(1, 1)}); img != nil {
					firstFrame[i] = time.Now()
					return
				}
				time.Sleep(2 * time.Millisecond)
			}
		}()
	}
	wg.Wait()
	for i, s := range sides {
		if firstFrame[i].IsZero() {
			fail("side %s decoded no frame within %v of pairing (phase %v): the server paired the two test participants, "+
				"but their call carries no video: look at UDP between them (a firewall) and the STUN/TURN servers", s.name, DefaultConnectLimit, s.eng.State().Phase)
		}
	}
	if len(fails) > 0 {
		return finish(rep, sides, fails)
	}
	sides[0].eng.SendChat("group", "hello from A")
	sides[1].eng.SendChat("group", "hello from B")
	ended := make([]time.Time, len(sides))
	for i, s := range sides {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if participant.Wait(ctx, s.eng, o.Duration+DefaultConnectLimit, func(st participant.State) bool { return st.Phase == participant.PhaseEnded }) {
				ended[i] = time.Now()
			}
		}()
	}
	// Sample the media shortly before the end, while both are still in call.
	probes := make([]probe.Report, len(sides))
	for i, s := range sides {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := s.eng.State()
			until := time.Until(st.Deadline) - 300*time.Millisecond
			if until > 0 {
				select {
				case <-time.After(until):
				case <-ctx.Done(): // stopped (a signal, the overall limit)
				}
			}
			partner := sides[1-i]
			probes[i] = s.probe.Report(partner.tone, s.tone)
		}()
	}
	wg.Wait()
	for i, s := range sides {
		p := probes[i]
		sd := Side{Name: s.name, FramesDecoded: p.FramesDecoded, FramesExpected: sides[1-i].kit.FramesSent(),
			StampsInOrder: p.StampsInOrder, VideoLatencyP50: p.VideoLatencyP50MS, ToneHeard: p.PartnerTone, OwnToneHeard: p.OwnTone,
			EndedAt: ended[i], NoAudioOutput: s.eng.State().NoAudioOutput,
			PlayedMS: float64(s.kit.PlayedSamples()) * 1000 / 48000}
		if !firstFrame[i].IsZero() {
			sd.SetupMS = float64(firstFrame[i].Sub(s.paired).Microseconds()) / 1000
		}
		for _, m := range s.eng.State().Messages {
			if !m.Own && strings.HasPrefix(m.Body, "hello from "+sides[1-i].name) {
				sd.ChatReceived = true
			}
		}
		if !sd.ChatReceived {
			fail("side %s did not receive the partner's chat message", s.name)
		}
		if float64(sd.FramesDecoded) < MinFramesShare*float64(sd.FramesExpected) || sd.FramesDecoded == 0 {
			fail("side %s decoded %d of %d frames the partner sent", s.name, sd.FramesDecoded, sd.FramesExpected)
		}
		if !sd.StampsInOrder {
			fail("side %s read frame stamps out of order", s.name)
		}
		if sd.ToneHeard < MinToneShare {
			fail("side %s heard the partner's %.0f Hz tone in only %.0f%% of the audio", s.name, sides[1-i].tone, sd.ToneHeard*100)
		}
		if sd.OwnToneHeard > 0.1 {
			fail("side %s hears its own tone back (%.0f%%)", s.name, sd.OwnToneHeard*100)
		}
		if ended[i].IsZero() {
			fail("side %s never saw the discussion end", s.name)
		}
		rep.Sides = append(rep.Sides, sd)
	}
	if !ended[0].IsZero() && !ended[1].IsZero() {
		skew := ended[0].Sub(ended[1]).Abs()
		rep.EndSkewMS = float64(skew.Microseconds()) / 1000
		if skew > MaxEndSkew {
			fail("the two sides ended %v apart (limit %v)", skew, MaxEndSkew)
		}
	}
	return finish(rep, sides, fails)
}

func finish(rep Report, sides []*side, fails []string) (Report, error) {
	rep.Failures = fails
	if rep.Failures == nil {
		rep.Failures = []string{}
	}
	rep.OK = len(fails) == 0
	if !rep.OK {
		return rep, fmt.Errorf("%w: %s", ErrFailed, strings.Join(fails, "; "))
	}
	return rep, nil
}

// refused: the server turned the join down (the engine is back at the
// welcome screen with the reason).
func refused(st participant.State) bool {
	return st.Phase == participant.PhaseIdle && st.LastError != nil
}

// joinRefusals word the refusals of a join whose participant texts are
// about something else.
var joinRefusals = map[string]string{
	protocol.CodeRateLimited: "it admits no more joins from this address for now (its max_joins_per_addr_per_minute); try again in a minute",
}

// notPairedReason says in plain words why a side was not paired, from
// what its engine knows.
func notPairedReason(url string, st participant.State) string {
	switch {
	case st.LastError != nil:
		text := strings.TrimSpace(st.LastError.Text)
		if t, ok := joinRefusals[st.LastError.Code]; ok {
			text = t // the engine's text is worded for a participant's chat
		}
		if text == "" {
			text = "no reason given"
		}
		return fmt.Sprintf("the server at %s refused the test participant: %s (%s)", url, text, st.LastError.Code)
	case st.ServerUnreachable || st.Phase <= participant.PhaseConnecting && !st.ServerOnline:
		return fmt.Sprintf("the server at %s does not answer: is `parley --server` running there, is the address right, "+
			"and does a firewall let this workstation through?", url)
	case st.WaitingForSession:
		return fmt.Sprintf("the server at %s has no session open for the test participants", url)
	case st.Phase == participant.PhaseWaiting:
		return fmt.Sprintf("joined the server at %s, but was not paired with the other test participant within %v (%d of %d present)",
			url, DefaultConnectLimit, st.Present, st.Needed)
	}
	return fmt.Sprintf("not paired within %v (phase %v)", DefaultConnectLimit, st.Phase)
}

// probeServer connects to url once, before any device is opened, and says
// in plain words why that fails ("" when it works).
func probeServer(ctx context.Context, url string) string {
	c, err := client.Dial(ctx, url)
	if err == nil {
		c.Close()
		return ""
	}
	var dnsErr *net.DNSError
	var netErr net.Error
	switch {
	case ctx.Err() != nil:
		return fmt.Sprintf("stopped before the server at %s answered", url)
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Sprintf("nothing listens at %s: is `parley --server` running there, and are the host and port right?", url)
	case errors.As(err, &dnsErr):
		return fmt.Sprintf("the host name in %s is not known (%v): check the address", url, dnsErr)
	case errors.Is(err, websocket.ErrBadHandshake):
		return fmt.Sprintf("the server at %s refused the connection (%v): is it a Parley server, and does the address end in /ws?", url, err)
	case errors.As(err, &netErr) && netErr.Timeout():
		return fmt.Sprintf("the server at %s does not answer within %v: is the address right, and does a firewall let this workstation through?", url, client.DialTimeout)
	}
	return fmt.Sprintf("cannot connect to the server at %s: %v", url, err)
}
