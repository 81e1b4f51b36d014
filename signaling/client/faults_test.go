package client

// Faults between a kiosk and the server: a link that goes silent (the cable
// out: nothing is refused, nothing arrives), longer than the rate limit's
// burst of messages and across the deadline. Every message typed must end
// up stored exactly once, and the kiosk's reports too.

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/parley-lab/parley/signaling/clock"
	"github.com/parley-lab/parley/signaling/protocol"
	"github.com/parley-lab/parley/signaling/server"
	"github.com/parley-lab/parley/signaling/store"
	"github.com/parley-lab/parley/signaling/testkit"
)

// cable is a TCP proxy on loopback whose link can be pulled: while it is
// out, bytes in flight are swallowed and new connections hang, as with an
// unplugged cable (no reset, no refusal).
type cable struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	out   bool
	conns []net.Conn
}

func newCable(t *testing.T, target string) *cable {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &cable{ln: ln, target: target}
	go c.accept()
	t.Cleanup(func() { ln.Close(); c.plug() })
	return c
}

func (c *cable) url() string { return "ws://" + c.ln.Addr().String() + "/ws" }

func (c *cable) accept() {
	for {
		in, err := c.ln.Accept()
		if err != nil {
			return
		}
		c.mu.Lock()
		c.conns = append(c.conns, in)
		c.mu.Unlock()
		go c.serve(in)
	}
}

func (c *cable) serve(in net.Conn) {
	out, err := net.Dial("tcp", c.target)
	if err != nil {
		in.Close()
		return
	}
	c.mu.Lock()
	c.conns = append(c.conns, out)
	c.mu.Unlock()
	go c.pipe(out, in)
	c.pipe(in, out)
}

// pipe copies src to dst, dropping what it reads while the cable is out.
func (c *cable) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			c.mu.Lock()
			out := c.out
			c.mu.Unlock()
			if !out {
				if _, werr := dst.Write(buf[:n]); werr != nil {
					return
				}
			}
		}
		if err != nil {
			dst.Close()
			return
		}
	}
}

// pull takes the cable out: the connections stay open but carry nothing.
func (c *cable) pull() {
	c.mu.Lock()
	c.out = true
	c.mu.Unlock()
}

// plug puts it back. The connections that lived through the outage are
// dead by now on both ends (TCP would have given up), so they are closed.
func (c *cable) plug() {
	c.mu.Lock()
	conns := c.conns
	c.conns, c.out = nil, false
	c.mu.Unlock()
	for _, x := range conns {
		x.Close()
	}
}

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
func twoKiosks(t *testing.T, srv *server.Server) (link *cable, a, b *Session, ra, rb *recorder) {
	t.Helper()
	link = newCable(t, srv.Addr())
	dir := t.TempDir()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	ra, rb = newRecorder(), newRecorder()
	cfg := func(url, seat string) SessionConfig {
		return SessionConfig{URL: url, Room: "lab", Seat: seat, StateFile: dir + "/" + seat + ".json",
			BackoffMin: 20 * time.Millisecond, BackoffMax: 100 * time.Millisecond, Log: quiet}
	}
	a, _ = NewSession(cfg(link.url(), "a"), ra)
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
	link.pull()
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
	link.plug()

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

	link.pull()
	a.Chat("group", "typed before the deadline, 1")
	a.Chat("group", "typed before the deadline, 2")
	ra.waitFor(t, "A offline", func(_ []any, online bool) bool { return !online })
	clock.Advance(61 * time.Second) // the deadline passes while A is away
	rb.waitFor(t, "B's end", func(msgs []any, _ bool) bool { return count(msgs, func(*protocol.Ended) bool { return true }) > 0 })
	link.plug()

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
