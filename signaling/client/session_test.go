package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-lab/parley/signaling/protocol"
	"github.com/parley-lab/parley/signaling/server"
)

const waitTimeout = 10 * time.Second

// recorder is a Handler that keeps what it hears.
type recorder struct {
	mu     sync.Mutex
	online bool
	msgs   []any
	refs   []string
	notify chan struct{}
}

func newRecorder() *recorder { return &recorder{notify: make(chan struct{}, 1)} }

func (r *recorder) Online(up bool) {
	r.mu.Lock()
	r.online = up
	r.mu.Unlock()
	r.poke()
}

func (r *recorder) Message(typ, ref string, body any) {
	r.mu.Lock()
	r.msgs = append(r.msgs, body)
	r.refs = append(r.refs, ref)
	r.mu.Unlock()
	r.poke()
}

func (r *recorder) poke() {
	select {
	case r.notify <- struct{}{}:
	default:
	}
}

// waitFor waits until cond holds over the recorded messages.
func (r *recorder) waitFor(t *testing.T, what string, cond func(msgs []any, online bool) bool) {
	t.Helper()
	deadline := time.After(waitTimeout)
	for {
		r.mu.Lock()
		ok := cond(r.msgs, r.online)
		r.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-r.notify:
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func count[T any](msgs []any, pred func(T) bool) int {
	n := 0
	for _, m := range msgs {
		if v, ok := m.(T); ok && pred(v) {
			n++
		}
	}
	return n
}

func startServer(t *testing.T, dir, listen string) *server.Server {
	t.Helper()
	s, err := server.New(server.Config{DataDir: dir, Listen: listen}, server.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	return s
}

func TestSessionSurvivesServerAndKioskRestart(t *testing.T) {
	dir := t.TempDir()
	srv := startServer(t, dir, "127.0.0.1:0")
	addr := srv.Addr()
	url := "ws://" + addr + "/ws"
	cfg := func(seat string) SessionConfig {
		return SessionConfig{URL: url, Room: server.DefaultRoom, Seat: seat, StateFile: filepath.Join(dir, seat+".json"),
			BackoffMin: 20 * time.Millisecond, BackoffMax: 100 * time.Millisecond}
	}
	ra, rb := newRecorder(), newRecorder()
	a, err := NewSession(cfg("a"), ra)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewSession(cfg("b"), rb)
	a.Start("Ann")
	b.Start("Ben")
	a.Ready()
	b.Ready()
	paired := func(msgs []any, _ bool) bool {
		return count(msgs, func(*protocol.Paired) bool { return true }) > 0
	}
	ra.waitFor(t, "A paired", paired)
	rb.waitFor(t, "B paired", paired)
	a.Chat("group", "before")
	rb.waitFor(t, "B gets 'before'", func(msgs []any, _ bool) bool {
		return count(msgs, func(m *protocol.ChatMessage) bool { return m.Body == "before" }) == 1
	})

	// The server restarts on the same port and data; meanwhile A writes.
	srv.Close()
	ra.waitFor(t, "A offline", func(_ []any, online bool) bool { return !online })
	a.Chat("group", "while the server was down")
	srv = startServer(t, dir, addr)
	defer srv.Close()
	rb.waitFor(t, "B gets the queued message exactly once", func(msgs []any, _ bool) bool {
		return count(msgs, func(m *protocol.ChatMessage) bool { return m.Body == "while the server was down" }) == 1
	})

	// Kiosk B crashes and starts again from its state file: same participant,
	// no pseudonym asked, and the whole history replayed once (the kiosk
	// shows it again).
	idB := b.Stored().ParticipantID
	b.Close(false)
	rb2 := newRecorder()
	b2, err := NewSession(cfg("b"), rb2)
	if err != nil {
		t.Fatal(err)
	}
	if !b2.Resumable() {
		t.Fatal("state file did not keep the token")
	}
	b2.Start("")
	rb2.waitFor(t, "B resumed", func(msgs []any, _ bool) bool {
		return count(msgs, func(w *protocol.Welcome) bool { return w.Resumed && w.ParticipantID == idB && w.Pseudonym == "Ben" }) == 1
	})
	a.Chat("group", "after B came back")
	rb2.waitFor(t, "B2 gets the new message", func(msgs []any, _ bool) bool {
		return count(msgs, func(m *protocol.ChatMessage) bool { return m.Body == "after B came back" }) == 1
	})
	// B's copy and A's acknowledgement travel on different connections:
	// wait for A's before looking at its outbox.
	ra.waitFor(t, "A's acknowledgement", func(msgs []any, _ bool) bool {
		return count(msgs, func(m *protocol.ChatAck) bool { return m.Message.Body == "after B came back" }) == 1
	})
	rb2.mu.Lock()
	for _, body := range []string{"before", "while the server was down"} {
		if n := count(rb2.msgs, func(m *protocol.ChatMessage) bool { return m.Replay && m.Body == body }); n != 1 {
			t.Errorf("restarted kiosk was replayed %q %d times, want once", body, n)
		}
	}
	rb2.mu.Unlock()
	if len(a.Stored().Outbox) != 0 {
		t.Errorf("acknowledged messages left in the outbox: %+v", a.Stored().Outbox)
	}
	a.Close(true)
	b2.Close(true)
	if b2.Resumable() {
		t.Error("Close(forget) kept the token")
	}
}

// After a long outage the report queue is full: the oldest stats make
// room; a call state is never dropped.
func TestFullReportQueueDropsStatsNeverCallStates(t *testing.T) {
	s, err := NewSession(SessionConfig{URL: "ws://127.0.0.1:1/ws", Room: "lab", Seat: "a", MaxQueued: 4,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))}, newRecorder())
	if err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		if err := s.Send(protocol.TypeStats, protocol.Stats{Peer: "p", FramesDecoded: int64(i)}); err != nil {
			t.Fatalf("stats %d: %v", i, err)
		}
	}
	states := []string{protocol.CallDisconnected, protocol.CallConnecting, protocol.CallConnected, protocol.CallDisconnected, protocol.CallFailed, protocol.CallConnecting}
	for _, st := range states {
		if err := s.Send(protocol.TypeCallState, protocol.CallState{Peer: "p", State: st}); err != nil {
			t.Fatalf("call state %s refused: %v", st, err)
		}
	}
	// The queue holds call states only: a new stats report has no room.
	if err := s.Send(protocol.TypeStats, protocol.Stats{Peer: "p"}); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("stats into a queue of call states: %v, want ErrQueueFull", err)
	}
	var got []string
	for _, r := range s.Stored().Reports {
		if r.Type != protocol.TypeCallState {
			t.Fatalf("a %s report kept over a call state", r.Type)
		}
		var cs protocol.CallState
		json.Unmarshal(r.Data, &cs)
		got = append(got, cs.State)
	}
	if fmt.Sprint(got) != fmt.Sprint(states) {
		t.Fatalf("call states kept %v, want %v in order", got, states)
	}
}

// Stats replace the oldest stats when the queue is full of them.
func TestFullReportQueueKeepsTheNewestStats(t *testing.T) {
	s, err := NewSession(SessionConfig{URL: "ws://127.0.0.1:1/ws", Room: "lab", Seat: "a", MaxQueued: 3,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))}, newRecorder())
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if err := s.Send(protocol.TypeStats, protocol.Stats{Peer: "p", FramesDecoded: int64(i)}); err != nil {
			t.Fatalf("stats %d: %v", i, err)
		}
	}
	var got []int64
	for _, r := range s.Stored().Reports {
		var st protocol.Stats
		json.Unmarshal(r.Data, &st)
		got = append(got, st.FramesDecoded)
	}
	if fmt.Sprint(got) != "[2 3 4]" {
		t.Fatalf("stats kept %v, want the newest three", got)
	}
}

// TestStateFileHeldByOneSession: a second kiosk on the same state file is
// refused in words naming the file (it would resume as the same
// participant and take the first one's place); once the first has closed,
// the file is free.
func TestStateFileHeldByOneSession(t *testing.T) {
	path := filepath.Join(t.TempDir(), "parley", "kiosk-1.json")
	cfg := SessionConfig{URL: "ws://127.0.0.1:1/ws", Room: "lab", Seat: "pc-07", StateFile: path}
	first, err := NewSession(cfg, nopHandler{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = NewSession(cfg, nopHandler{})
	if !errors.Is(err, ErrStateInUse) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), fmt.Sprintf("process %d", os.Getpid())) {
		t.Fatalf("a second session on %s: %v, want ErrStateInUse naming the file and its holder", path, err)
	}
	first.Close(false)
	again, err := NewSession(cfg, nopHandler{})
	if err != nil {
		t.Fatalf("the state file is still held after Close: %v", err)
	}
	again.Close(true)
}

type nopHandler struct{}

func (nopHandler) Online(bool)                 {}
func (nopHandler) Message(string, string, any) {}
