package selftest

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gen2brain/malgo"

	"github.com/parley-lab/parley/media/kit"
	"github.com/parley-lab/parley/signaling/participant"
	"github.com/parley-lab/parley/signaling/server"
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

// labServer is a lab's rendezvous server on loopback with a research room
// that opens its sessions by itself.
func labServer(t *testing.T, mod func(*server.Config)) *server.Server {
	t.Helper()
	cfg := server.Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0", Rooms: []server.Room{{Name: "econlab", AutoSession: true}}}
	if mod != nil {
		mod(&cfg)
	}
	srv, err := server.Start(cfg, server.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// get fetches an experimenter API path of srv.
func get(t *testing.T, srv *server.Server, path string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+srv.Addr()+path, nil)
	req.Header.Set("Authorization", "Bearer "+srv.AdminToken())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s: %s", path, resp.Status, b)
	}
	return string(b)
}

// TestSelftestThroughALabServerNeverTouchesResearchData: `parley selftest
// --server-url URL --room econlab` is refused in plain words, and the
// workstation check it runs without --room leaves nothing in the lab's
// sessions, events or messages.
func TestSelftestThroughALabServerNeverTouchesResearchData(t *testing.T) {
	srv := labServer(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	opts := Options{ServerURL: srv.URL(), Room: "econlab", AudioBackends: []malgo.Backend{kit.NullBackend}}
	if _, err := Run(ctx, opts); !errors.Is(err, ErrResearchRoom) || !strings.Contains(err.Error(), "leave out --room") {
		t.Fatalf("a self-test in the research room econlab: %v, want ErrResearchRoom", err)
	}
	opts.Room = ""
	rep, err := Run(ctx, opts)
	if err != nil {
		t.Fatalf("the workstation check through the lab server: %v", err)
	}
	if len(rep.Sides) != 2 {
		t.Fatalf("report %+v", rep)
	}
	for _, path := range []string{"/api/sessions", "/api/export?format=jsonl&kind=events", "/api/export?format=csv", "/api/export?format=jsonl"} {
		if data := get(t, srv, path); strings.Contains(data, "Selftest") || strings.Contains(data, "hello from") || strings.Contains(data, "selftest-") {
			t.Errorf("%s holds the workstation check:\n%s", path, data)
		}
	}
}

// TestSelftestSaysWhyTheServerFails: a server that is down, one that
// never answers, something that is not a Parley server, and a Parley
// server that refuses the join: each is said in plain words, not as a
// call that decoded no frame.
func TestSelftestSaysWhyTheServerFails(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "ws://" + ln.Addr().String() + "/ws"
	ln.Close()
	silent, err := net.Listen("tcp", "127.0.0.1:0") // accepts, never answers
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	notParley := httptest.NewServer(http.NotFoundHandler())
	defer notParley.Close()
	strict := labServer(t, func(c *server.Config) { c.MaxJoinsPerAddrPerMinute = 1 })
	for _, c := range []struct{ name, url, want string }{
		{"down", down, "nothing listens at " + down},
		{"silent", "ws://" + silent.Addr().String() + "/ws", "does not answer"},
		{"not parley", "ws" + strings.TrimPrefix(notParley.URL, "http") + "/ws", "refused the connection"},
		{"refusing", strict.URL(), "refused the test participant: it admits no more joins from this address"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			rep, err := Run(ctx, Options{ServerURL: c.url, AudioBackends: []malgo.Backend{kit.NullBackend}})
			if !errors.Is(err, ErrFailed) {
				t.Fatalf("err %v, want ErrFailed", err)
			}
			all := strings.Join(rep.Failures, "\n")
			if !strings.Contains(all, c.want) || strings.Contains(all, "decoded no frame") {
				t.Fatalf("failures:\n%s\nwant %q", all, c.want)
			}
			t.Log(all)
		})
	}
}

func TestNotPairedReasons(t *testing.T) {
	const url = "ws://lab:8480/ws"
	for _, c := range []struct {
		st   participant.State
		want string
	}{
		{participant.State{Phase: participant.PhaseConnecting, ServerUnreachable: true}, "the server at " + url + " does not answer"},
		{participant.State{Phase: participant.PhaseConnecting, ServerOnline: true, WaitingForSession: true}, "has no session open"},
		{participant.State{Phase: participant.PhaseIdle, LastError: &participant.Notice{Code: "seat_taken", Text: "This workstation is already taking part."}},
			"refused the test participant: This workstation is already taking part. (seat_taken)"},
		{participant.State{Phase: participant.PhaseWaiting, ServerOnline: true, Present: 1, Needed: 2}, "was not paired with the other test participant"},
	} {
		if got := notPairedReason(url, c.st); !strings.Contains(got, c.want) {
			t.Errorf("%+v: %q, want %q", c.st, got, c.want)
		}
	}
}
