package client

// Faults between a kiosk and the server: a link that goes silent (the cable
// out: nothing is refused, nothing arrives), longer than the rate limit's
// burst of messages and across the deadline. Every message typed must end
// up stored exactly once, and the kiosk's reports too.

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"testing"
	"time"

	"github.com/parley-lab/parley/signaling/internal/clock"
	"github.com/parley-lab/parley/signaling/protocol"
	"github.com/parley-lab/parley/signaling/server"
	"github.com/parley-lab/parley/signaling/store"
	"github.com/parley-lab/parley/signaling/testkit"
)

// faultServer starts a server on loopback with the clock injected; its
// room starts the clock at pairing, so a test controls the deadline.
func faultServer(t *testing.T, dir string, clock server.Clock) *server.Server {
	t.Helper()
	cfg := server.Config{DataDir: dir, Listen: "127.0.0.1:0",
		Rooms: []server.Room{{Name: "lab", AutoSession: true, Defaults: server.SessionSettings{DurationS: 60, ClockStart: server.ClockPaired}}}}
	s, err := server.New(cfg, server.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))), server.WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	t.Cleanup(func() { s.Close() })
	return s
}

// storedBodies waits until the store holds want's messages from sender and
// returns every body stored for that sender, in order.
func storedBodies(t *testing.T, st *store.Store, session, sender string, want int) []store.Message {
	t.Helper()
	var got []store.Message
	testkit.Eventually(t, fmt.Sprintf("%d messages of %s stored", want, sender), func() bool {
		msgs, err := st.Messages(session, "", 0)
		if err != nil {
			t.Fatal(err)
		}
		got = got[:0]
		for _, m := range msgs {
			if m.SenderID == sender {
				got = append(got, m)
			}
		}
		return len(got) >= want
	})
	sort.Slice(got, func(i, j int) bool { return got[i].Seq < got[j].Seq })
	return got
}

// twoKiosks joins A through a cable that can be pulled and B directly,
// both ready after their device check.
func twoKiosks(t *testing.T, srv *server.Server) (link *testkit.Cable, a, b *Session, ra, rb *recorder) {
	t.Helper()
	link = testkit.NewCable(t, srv.Addr())
	dir := t.TempDir()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	ra, rb = newRecorder(), newRecorder()
	cfg := func(url, seat string) SessionConfig {
		return SessionConfig{URL: url, Room: "lab", Seat: seat, StateFile: dir + "/" + seat + ".json",
			BackoffMin: 20 * time.Millisecond, BackoffMax: 100 * time.Millisecond, Log: quiet}
	}
	a, _ = NewSession(cfg(link.URL(), "a"), ra)
	b, _ = NewSession(cfg("ws://"+srv.Addr()+"/ws", "b"), rb)
	t.Cleanup(func() { a.Close(false); b.Close(false) })
	a.Start("Ann")
	b.Start("Ben")
	a.Ready()
	b.Ready()
	return link, a, b, ra, rb
}

func TestOutageLongerThanTheBurstLosesNothing(t *testing.T) {
	// The real clock: the rate limit refills as time passes.
	srv := faultServer(t, t.TempDir(), server.RealClock)
	link, a, b, ra, rb := twoKiosks(t, srv)
	paired := func(msgs []any, _ bool) bool { return count(msgs, func(*protocol.Paired) bool { return true }) > 0 }
	ra.waitFor(t, "A paired", paired)
	rb.waitFor(t, "B paired", paired)
	idA, idB := a.Stored().ParticipantID, b.Stored().ParticipantID

	// The cable goes out. A keeps typing, more than the server's burst
	// (10), and reports its call failing; nothing it sends is refused.
	link.Pull()
	const typed = 15
	var want []string
	for i := range typed {
		body := "typed offline " + string(rune('a'+i))
		want = append(want, body)
		a.Chat("group", body)
	}
	if err := a.Send(protocol.TypeCallState, protocol.CallState{Peer: idB, State: protocol.CallDisconnected}); err != nil {
		t.Fatal(err)
	}
	// A notices the dead connection by itself (no ack within AckTimeout).
	ra.waitFor(t, "A offline", func(_ []any, online bool) bool { return !online })
	link.Plug()

	got := storedBodies(t, srv.Store(), a.Stored().Session, idA, typed)
	if len(got) != typed {
		t.Fatalf("stored %d of %d messages typed offline", len(got), typed)
	}
	for i, m := range got {
		if m.Body != want[i] {
			t.Fatalf("message %d is %q, want %q (all: %v)", i, m.Body, want[i], got)
		}
	}
	rb.waitFor(t, "B gets each message once", func(msgs []any, _ bool) bool {
		return count(msgs, func(m *protocol.ChatMessage) bool { return m.SenderID == idA }) == typed
	})
	// The report made during the outage is stored once.
	callStates := func() int {
		evs, _ := srv.Store().Events(a.Stored().Session)
		n := 0
		for _, e := range evs {
			if e.Kind == server.EvCallState && e.Participant == idA {
				n++
			}
		}
		return n
	}
	testkit.Eventually(t, "A's call_state stored", func() bool { return callStates() >= 1 })
	if n := callStates(); n != 1 {
		t.Fatalf("call_state events from A: %d, want 1", n)
	}
	eventuallyEmpty(t, a)
}

// eventuallyEmpty waits until s has nothing left to send.
func eventuallyEmpty(t *testing.T, s *Session) {
	t.Helper()
	testkit.Eventually(t, "the outbox emptied", func() bool {
		st := s.Stored()
		return len(st.Outbox) == 0 && len(st.Reports) == 0
	})
}

func TestMessagesTypedBeforeTheDeadlineDuringADropAreKeptLate(t *testing.T) {
	clock := clock.NewFakeAt(time.Now())
	srv := faultServer(t, t.TempDir(), clock)
	link, a, _, ra, rb := twoKiosks(t, srv)
	clocked := func(msgs []any, _ bool) bool { return count(msgs, func(*protocol.Clock) bool { return true }) > 0 }
	ra.waitFor(t, "A's clock", clocked)
	rb.waitFor(t, "B's clock", clocked)
	idA := a.Stored().ParticipantID

	link.Pull()
	a.Chat("group", "typed before the deadline, 1")
	a.Chat("group", "typed before the deadline, 2")
	ra.waitFor(t, "A offline", func(_ []any, online bool) bool { return !online })
	clock.Advance(61 * time.Second) // the deadline passes while A is away
	rb.waitFor(t, "B's end", func(msgs []any, _ bool) bool { return count(msgs, func(*protocol.Ended) bool { return true }) > 0 })
	link.Plug()

	got := storedBodies(t, srv.Store(), a.Stored().Session, idA, 2)
	if len(got) != 2 {
		t.Fatalf("stored %d of 2 messages typed before the deadline", len(got))
	}
	for _, m := range got {
		if !m.Late || m.TypedMS == 0 || m.TypedMS > m.TimeMS {
			t.Errorf("message %q: late=%v typed=%d stored=%d, want late with its typing time before the storing time", m.Body, m.Late, m.TypedMS, m.TimeMS)
		}
	}
	eventuallyEmpty(t, a)
	// A message typed after the end is refused for good and shown as such.
	a.Chat("group", "typed after the end")
	ra.waitFor(t, "the refusal", func(msgs []any, _ bool) bool {
		return count(msgs, func(e *protocol.Error) bool { return e.Code == protocol.CodeChatClosed }) == 1
	})
	eventuallyEmpty(t, a)
}

// A participant who leaves right after typing, faster than the rate limit
// lets the server take it: Close(true) waits until the server has taken
// everything, then lets go; nothing is left behind, not even a state file.
func TestLeaveRightAfterTypingDeliversEverything(t *testing.T) {
	srv := faultServer(t, t.TempDir(), server.RealClock) // the rate limit refills as time passes
	_, a, _, ra, rb := twoKiosks(t, srv)
	paired := func(msgs []any, _ bool) bool { return count(msgs, func(*protocol.Paired) bool { return true }) > 0 }
	ra.waitFor(t, "A paired", paired)
	rb.waitFor(t, "B paired", paired)
	st := a.Stored()
	const typed = 14 // more than the burst of 10: some are refused rate_limited and retried
	for i := range typed {
		a.Chat("group", fmt.Sprintf("last words %d", i))
	}
	a.Close(true)
	got := storedBodies(t, srv.Store(), st.Session, st.ParticipantID, typed)
	if len(got) != typed {
		t.Fatalf("stored %d of %d messages", len(got), typed)
	}
	for i, m := range got {
		if want := fmt.Sprintf("last words %d", i); m.Body != want {
			t.Fatalf("message %d is %q, want %q", i, m.Body, want)
		}
	}
	if _, err := os.Stat(a.cfg.StateFile); !os.IsNotExist(err) {
		t.Fatalf("state file after leaving with everything delivered: %v", err)
	}
}

// A participant whose part ends while the cable is out: what the server
// has not taken when the bounded wait is over stays in the state file with
// its token, never resumed; the next start at the seat delivers it (late:
// typed before the deadline) and then joins as the next participant.
func TestUnsentAtTheEndIsDeliveredByTheNextStart(t *testing.T) {
	clk := clock.NewFakeAt(time.Now())
	srv := faultServer(t, t.TempDir(), clk)
	link, a, _, ra, rb := twoKiosks(t, srv)
	clocked := func(msgs []any, _ bool) bool { return count(msgs, func(*protocol.Clock) bool { return true }) > 0 }
	ra.waitFor(t, "A's clock", clocked)
	rb.waitFor(t, "B's clock", clocked)
	st := a.Stored()

	link.Pull()
	want := []string{"typed before the end, 1", "typed before the end, 2", "typed before the end, 3"}
	for _, body := range want {
		a.Chat("group", body)
	}
	a.cfg.LeaveDrain = time.Millisecond // the cable stays out: waiting longer changes nothing
	a.Close(true)
	if a.Resumable() {
		t.Fatal("a participant who is done can still be resumed")
	}
	var kept State
	b, err := os.ReadFile(a.cfg.StateFile)
	if err != nil {
		t.Fatalf("nothing kept of the undelivered messages: %v", err)
	}
	if err := json.Unmarshal(b, &kept); err != nil {
		t.Fatal(err)
	}
	if kept.Token != "" || len(kept.Outbox) != 0 || len(kept.Unsent) != 1 || len(kept.Unsent[0].Outbox) != len(want) || kept.Unsent[0].Token != st.Token {
		t.Fatalf("state file after an undelivered end: %s", b)
	}
	clk.Advance(61 * time.Second)
	rb.waitFor(t, "B's end", func(msgs []any, _ bool) bool { return count(msgs, func(*protocol.Ended) bool { return true }) > 0 })
	link.Plug()

	rc := newRecorder()
	c, err := NewSession(a.cfg, rc)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(false)
	if c.Resumable() {
		t.Fatal("the next participant would resume as the one who is done")
	}
	c.Start("Cleo")
	got := storedBodies(t, srv.Store(), st.Session, st.ParticipantID, len(want))
	if len(got) != len(want) {
		t.Fatalf("stored %d of %d", len(got), len(want))
	}
	for i, m := range got {
		if m.Body != want[i] || !m.Late {
			t.Errorf("message %d: %q late=%v, want %q late", i, m.Body, m.Late, want[i])
		}
	}
	rc.waitFor(t, "Cleo joined as a new participant", func(msgs []any, _ bool) bool {
		return count(msgs, func(w *protocol.Welcome) bool { return w.Pseudonym == "Cleo" && w.ParticipantID != st.ParticipantID }) == 1
	})
	testkit.Eventually(t, "the delivered items gone from the state file", func() bool {
		return len(c.Stored().Unsent) == 0
	})
	b, _ = os.ReadFile(a.cfg.StateFile)
	var after State
	if err := json.Unmarshal(b, &after); err != nil || len(after.Unsent) != 0 {
		t.Fatalf("state file after delivery: %s (%v)", b, err)
	}
}
