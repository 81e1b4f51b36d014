package engine_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gen2brain/malgo"
	"github.com/pion/logging"
	"github.com/pion/transport/v4"
	"github.com/pion/transport/v4/vnet"

	"github.com/parley-lab/parley/media/bench/probe"
	"github.com/parley-lab/parley/media/kit"
	"github.com/parley-lab/parley/media/local"
	"github.com/parley-lab/parley/media/recording"
	"github.com/parley-lab/parley/signaling/client"
	"github.com/parley-lab/parley/signaling/participant"
	"github.com/parley-lab/parley/signaling/participant/engine"
	"github.com/parley-lab/parley/signaling/protocol"
	"github.com/parley-lab/parley/signaling/server"
	"github.com/parley-lab/parley/signaling/testkit"
)

var quiet = testLogger()

// testLogger is silent unless PARLEY_TEST_LOG is set, for debugging a
// failing call: then every engine and call logs at debug level.
func testLogger() *slog.Logger {
	if os.Getenv("PARLEY_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

const waitLimit = 30 * time.Second

type side struct {
	name  string
	kit   *kit.Kit
	probe *probe.Probe // measures the kit's media (newSide)
	eng   *engine.Engine
	rec   *recording.Recorder
	tone  float64
}

// startServer serves the room "lab", whose sessions open by themselves
// and last durationS.
func startServer(t *testing.T, dir, addr string, durationS int) *server.Server {
	t.Helper()
	return startRooms(t, dir, addr, server.Room{Name: "lab", AutoSession: true, Defaults: server.SessionSettings{DurationS: durationS}})
}

// startRooms serves rooms from the data directory dir on addr.
func startRooms(t *testing.T, dir, addr string, rooms ...server.Room) *server.Server {
	t.Helper()
	srv, err := server.Start(server.Config{DataDir: dir, Listen: addr, Rooms: rooms}, server.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	return srv
}

// newSide is a test participant: ready and consenting by itself.
func newSide(t *testing.T, name, url, dir string, tone float64, net transport.Net) *side {
	t.Helper()
	return openSide(t, name, url, dir, tone, net, true)
}

func openSide(t *testing.T, name, url, dir string, tone float64, net transport.Net, autoConsent bool) *side {
	t.Helper()
	p, err := local.Open(kit.Options{VideoSource: "test", AudioSource: "test", ToneHz: tone, PlayAudio: true,
		AudioBackends: []malgo.Backend{kit.NullBackend}, LoopbackCandidates: net == nil, Net: net, Log: quiet},
		engine.Config{Session: client.SessionConfig{URL: url, Room: "lab", Seat: name, StateFile: filepath.Join(dir, name+".json"),
			BackoffMin: 50 * time.Millisecond, BackoffMax: 500 * time.Millisecond},
			Log: quiet, StatsInterval: 500 * time.Millisecond, AutoReady: true, AutoConsent: autoConsent},
		filepath.Join(dir, name+"-recordings"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return &side{name: name, kit: p.Kit, probe: probe.On(p.Kit), eng: p.Engine, rec: p.Recorder, tone: tone}
}

func waitFor(t *testing.T, s *side, what string, cond func(participant.State) bool) {
	t.Helper()
	if !participant.Wait(context.Background(), s.eng, waitLimit, cond) {
		t.Fatalf("%s: timed out waiting for %s (phase %v)", s.name, what, s.eng.State().Phase)
	}
}

// eventually is testkit.Eventually.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testkit.Eventually(t, what, cond)
}

func leakCheck(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if n := runtime.NumGoroutine(); n > before {
			buf := make([]byte, 1<<20)
			t.Errorf("goroutines leaked: %d before, %d after\n%s", before, n, buf[:runtime.Stack(buf, true)])
		}
	})
}

// TestMediaSurvivesPacketLoss: the media path crosses pion's virtual
// network, which drops every 20th packet (5%), both ways.
func TestMediaSurvivesPacketLoss(t *testing.T) {
	leakCheck(t)
	dir := t.TempDir()
	srv := startServer(t, filepath.Join(dir, "srv"), "127.0.0.1:0", 8)
	defer srv.Close()
	router, err := vnet.NewRouter(&vnet.RouterConfig{CIDR: "10.77.0.0/24", LoggerFactory: logging.NewDefaultLoggerFactory()})
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int64
	var dropped atomic.Int64
	router.AddChunkFilter(func(vnet.Chunk) bool {
		if n.Add(1)%20 == 0 {
			dropped.Add(1)
			return false
		}
		return true
	})
	nets := make([]*vnet.Net, 2)
	for i := range nets {
		if nets[i], err = vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{[]string{"10.77.0.2", "10.77.0.3"}[i]}}); err != nil {
			t.Fatal(err)
		}
		if err := router.AddNet(nets[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := router.Start(); err != nil {
		t.Fatal(err)
	}
	defer router.Stop()
	url := "ws://" + srv.Addr() + "/ws"
	a, b := joinedPair(t, mediaSides(t, url, dir, nets[0], nets[1]), "the call", func(st participant.State) bool { return st.MediaConnected })
	defer a.eng.Leave()
	defer b.eng.Leave()
	// Four seconds of video each way (at 30 frames a second), however long
	// a busy machine takes to send them.
	for _, s := range []*side{a, b} {
		testkit.Reaches(t, s.name+" sending 120 frames", s.kit.FramesSent, 120)
	}
	for _, pair := range [][2]*side{{a, b}, {b, a}} {
		me, partner := pair[0], pair[1]
		p := me.probe.Report(partner.tone, me.tone)
		sent := partner.kit.FramesSent()
		t.Logf("%s: decoded %d of %d frames (%.0f%%), latency p50 %.1f ms p95 %.1f ms, partner tone %.0f%%, played %d ms",
			me.name, p.FramesDecoded, sent, 100*float64(p.FramesDecoded)/float64(sent), p.VideoLatencyP50MS, p.VideoLatencyP95MS,
			p.PartnerTone*100, me.kit.PlayedSamples()/48)
		if float64(p.FramesDecoded) < 0.8*float64(sent) {
			t.Errorf("%s decoded %d of %d frames with 5%% loss; want at least 80%%", me.name, p.FramesDecoded, sent)
		}
		if !p.StampsInOrder {
			t.Errorf("%s: frames out of order", me.name)
		}
		if p.PartnerTone < 0.7 {
			t.Errorf("%s heard the partner's tone in %.0f%% of the audio; want 70%%", me.name, p.PartnerTone*100)
		}
		if me.kit.PlayedSamples() < 48000 {
			t.Errorf("%s played only %d samples", me.name, me.kit.PlayedSamples())
		}
	}
	if dropped.Load() == 0 {
		t.Fatal("the virtual network dropped nothing")
	}
	t.Logf("virtual network dropped %d of %d packets", dropped.Load(), n.Load())
}

// TestServerAwayMidCall: the rendezvous server stops for a few seconds;
// media keep flowing peer to peer, both engines reconnect to the restarted
// server, and the discussion still ends at the original deadline.
func TestServerAwayMidCall(t *testing.T) {
	leakCheck(t)
	dir := t.TempDir()
	srvDir := filepath.Join(dir, "srv")
	srv := startServer(t, srvDir, "127.0.0.1:0", 10)
	addr := srv.Addr()
	url := "ws://" + addr + "/ws"
	a, b := joinedPair(t, mediaSides(t, url, dir), "the clock", func(st participant.State) bool { return st.MediaConnected && !st.Deadline.IsZero() })
	defer a.eng.Leave()
	defer b.eng.Leave()
	deadline := a.eng.State().Deadline
	srv.Close()
	for _, s := range []*side{a, b} {
		waitFor(t, s, "server offline", func(st participant.State) bool { return !st.ServerOnline })
	}
	// Media flow peer to peer without the server: 90 more frames (3 s at 30 fps).
	before := a.probe.Report(660, 440).FramesDecoded
	eventually(t, "frames decoded without the server", func() bool { return a.probe.Report(660, 440).FramesDecoded-before >= 90 })
	if !a.eng.State().MediaConnected || !b.eng.State().MediaConnected {
		t.Error("the call dropped when the server went away")
	}
	srv2 := startServer(t, srvDir, addr, 10)
	defer srv2.Close()
	// On a slow machine the deadline can pass before the kiosks are back:
	// they end by their own clock then (TestDiscussionEndsAtZeroWithTheServerAway).
	for _, s := range []*side{a, b} {
		waitFor(t, s, "reconnected", func(st participant.State) bool { return st.ServerOnline || st.Phase == participant.PhaseEnded })
	}
	backInTime := a.eng.State().ServerOnline && b.eng.State().ServerOnline
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	ended := make(chan time.Time, 2)
	for _, s := range []*side{a, b} {
		go func() {
			for ctx.Err() == nil {
				if s.eng.State().Phase == participant.PhaseEnded {
					ended <- time.Now()
					return
				}
				select {
				case <-s.eng.Changed():
				case <-time.After(20 * time.Millisecond):
				}
			}
			ended <- time.Time{}
		}()
	}
	for range 2 {
		at := <-ended
		if at.IsZero() {
			t.Fatal("the discussion did not end")
		}
		if d := at.Sub(deadline); d < -time.Second || d > 2*time.Second {
			t.Errorf("ended %v from the original deadline", d)
		}
	}
	if a.eng.State().MediaConnected {
		t.Error("media still connected after the end")
	}
	// Nothing is left to resume: the token is forgotten, so a restarted
	// kiosk greets the next participant.
	stateFile := filepath.Join(dir, "a.json")
	eventually(t, "the state file gone after the end", func() bool {
		_, err := os.Stat(stateFile)
		return os.IsNotExist(err)
	})
	if backInTime && !a.eng.State().ServerOnline {
		t.Error("letting the session go at the end showed as a lost server")
	}
	// Call quality went to the server as events: latency is logged per call.
	sessions, _ := srv2.Store().Sessions()
	evs, _ := srv2.Store().Events(sessions[0].Code)
	// Every field of a report made during the call is measured: this call
	// had video and audio both ways, so none may be zero (loss may be: the
	// server's restart does not touch the media path).
	stats, full := 0, 0
	for _, e := range evs {
		if e.Kind != server.EvStats {
			continue
		}
		stats++
		var st protocol.Stats
		json.Unmarshal(e.Data, &st)
		if st.RTTMS > 0 && st.FPSSent > 0 && st.FPSRecv > 0 && st.BitrateKbps > 0 && st.AudioDelayMS > 0 && st.VideoDelayMS > 0 &&
			st.FramesDecoded > 0 && st.IntervalMS > 0 && strings.Contains(string(e.Data), `"peer_code"`) {
			full++
		}
	}
	if stats < 2 || full < 2 {
		t.Errorf("%d stats events logged, %d with every field measured; want reports from both kiosks", stats, full)
	}
}

// TestKioskRestartMidCall: one kiosk's program stops and starts again with
// its state file: it rejoins as the same participant without asking for a
// pseudonym, the call comes back, and its unacknowledged chat is not lost.
func TestKioskRestartMidCall(t *testing.T) {
	leakCheck(t)
	dir := t.TempDir()
	srv := startServer(t, filepath.Join(dir, "srv"), "127.0.0.1:0", 60)
	defer srv.Close()
	url := "ws://" + srv.Addr() + "/ws"
	for _, restart := range []string{"answerer", "offerer"} {
		t.Run(restart, func(t *testing.T) {
			a := newSide(t, "a-"+restart, url, dir, 440, nil)
			b := newSide(t, "b-"+restart, url, dir, 660, nil)
			defer a.eng.Leave() // a no-op for the side that was closed
			defer b.eng.Leave()
			// Both runs share one session, where pseudonyms are unique.
			a.eng.Join("Ann " + restart)
			waitFor(t, a, "waiting", func(st participant.State) bool { return st.Phase == participant.PhaseWaiting })
			b.eng.Join("Ben " + restart) // a arrived first: a offers
			for _, s := range []*side{a, b} {
				waitFor(t, s, "the call", func(st participant.State) bool { return st.MediaConnected && !st.Deadline.IsZero() })
			}
			deadline := a.eng.State().Deadline
			stay, gone := a, b
			if restart == "offerer" {
				stay, gone = b, a
			}
			gone.eng.Close() // the program stops; the token stays on disk
			again := newSide(t, gone.name, url, dir, gone.tone, nil)
			defer again.eng.Leave()
			if st := again.eng.State(); st.Phase != participant.PhaseConnecting {
				t.Fatalf("restarted kiosk did not rejoin by itself: phase %v", st.Phase)
			}
			start := time.Now()
			waitFor(t, again, "the call again", func(st participant.State) bool { return st.MediaConnected })
			waitFor(t, stay, "the call again", func(st participant.State) bool { return st.MediaConnected })
			before := stay.probe.Report(0, 0).FramesDecoded
			eventually(t, stay.name+" getting video from the restarted kiosk", func() bool { return stay.probe.Report(0, 0).FramesDecoded-before >= 10 })
			t.Logf("restarted %s: call back after %v", restart, time.Since(start))
			st := again.eng.State()
			if len(st.Partners) != 1 || st.Pseudonym != map[bool]string{true: "Ben ", false: "Ann "}[gone == b]+restart {
				t.Errorf("restarted kiosk: pseudonym %q partners %v", st.Pseudonym, st.Partners)
			}
			// The same server deadline, seen through a fresh clock offset: equal
			// within the time a message takes to be handled.
			if st.Deadline.Sub(deadline).Abs() > 250*time.Millisecond {
				t.Errorf("deadline moved: %v -> %v", deadline, st.Deadline)
			}
		})
	}
}
