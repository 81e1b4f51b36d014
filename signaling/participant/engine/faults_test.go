package engine_test

// The end of a discussion while a kiosk is cut off: what its participant
// typed before the deadline must reach the server's store, once, even
// though the kiosk hears "ended" the moment it is back and lets go of its
// session.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/parley-lab/parley/signaling/internal/clock"
	"github.com/parley-lab/parley/signaling/participant"
	"github.com/parley-lab/parley/signaling/participant/engine"
	"github.com/parley-lab/parley/signaling/protocol"
	"github.com/parley-lab/parley/signaling/server"
	"github.com/parley-lab/parley/signaling/testkit"
)

func TestDeadlineDuringADropLosesNoChat(t *testing.T) {
	leakCheck(t)
	dir := t.TempDir()
	clk := clock.NewFakeAt(time.Now())
	srv, err := server.Start(server.Config{DataDir: filepath.Join(dir, "srv"), Listen: "127.0.0.1:0",
		Rooms: []server.Room{{Name: "lab", AutoSession: true, Defaults: server.SessionSettings{DurationS: 60, ClockStart: server.ClockPaired}}}},
		server.WithLogger(quiet), server.WithClock(clk))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	link := testkit.NewCable(t, srv.Addr())
	auto := func(c *engine.Config) { c.AutoReady = true }
	// a is behind the cable, b is served directly.
	open := func(name string) *side {
		url := map[string]string{"a": link.URL(), "b": "ws://" + srv.Addr() + "/ws"}[name]
		return stillSide(t, name, url, "lab", dir, auto)
	}
	a, b := joinedPair(t, open, "the discussion's clock", func(st participant.State) bool { return !st.Deadline.IsZero() })

	var typed []string
	say := func(body string) {
		typed = append(typed, body)
		a.eng.SendChat("group", body)
	}
	say("typed online")
	waitFor(t, a, "the first message stored", func(st participant.State) bool { return len(st.Messages) == 1 })

	// The cable goes out; Ann types on, and the deadline passes while her
	// kiosk is away. Together with the first, the messages stay within
	// the rate limit's burst: the fake clock refills nothing.
	link.Pull()
	for i := range 8 {
		say(fmt.Sprintf("typed offline %d", i))
	}
	waitFor(t, a, "the kiosk noticing the drop", func(st participant.State) bool { return !st.ServerOnline })
	clk.Advance(61 * time.Second)
	waitFor(t, b, "the end", func(st participant.State) bool { return st.Phase == participant.PhaseEnded })
	// Back: "welcome", then "ended" at once.
	link.Plug()
	waitFor(t, a, "the end", func(st participant.State) bool { return st.Phase == participant.PhaseEnded })

	session := b.eng.State().Session
	var ann string
	testkit.Eventually(t, "every message typed stored", func() bool {
		msgs, err := srv.Store().Messages(session, "", 0)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, m := range msgs {
			if m.Nickname == "Ann" {
				ann = m.SenderID
				n++
			}
		}
		return n >= len(typed)
	})
	msgs, err := srv.Store().Messages(session, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	late := 0
	for _, m := range msgs {
		if m.SenderID == ann {
			count[m.Body]++
			if m.Late {
				late++
			}
		}
	}
	for _, body := range typed {
		if count[body] != 1 {
			t.Errorf("%q stored %d times, want once", body, count[body])
		}
	}
	if len(count) != len(typed) {
		t.Errorf("stored %d distinct messages of Ann's, typed %d: %v", len(count), len(typed), count)
	}
	if late != len(typed)-1 {
		t.Errorf("%d messages marked late, want the %d typed offline", late, len(typed)-1)
	}
	// Delivered: nothing is kept for a later start, and no token either.
	testkit.Eventually(t, "the state file removed", func() bool {
		_, err := os.Stat(filepath.Join(dir, "a.json"))
		return os.IsNotExist(err)
	})
}

// TestDiscussionEndsAtZeroWithTheServerAway: the server is gone at the
// deadline; each kiosk ends the discussion by its own clock, EndGrace after
// zero and not before, and what was typed while the server was away reaches
// it, once, as soon as it is back (not at the kiosk's next start).
func TestDiscussionEndsAtZeroWithTheServerAway(t *testing.T) {
	leakCheck(t)
	dir := t.TempDir()
	srvDir := filepath.Join(dir, "srv")
	// The clock starts at pairing: these kiosks make no calls.
	room := server.Room{Name: "lab", AutoSession: true, Defaults: server.SessionSettings{DurationS: 60, ClockStart: server.ClockPaired}}
	// One clock for the server and the kiosks' timers: the restarted
	// server finds the deadline passed and says "ended".
	fake := clock.NewFakeAt(time.Now())
	start := func(addr string) *server.Server {
		srv, err := server.Start(server.Config{DataDir: srvDir, Listen: addr, Rooms: []server.Room{room}},
			server.WithLogger(quiet), server.WithClock(fake))
		if err != nil {
			t.Fatal(err)
		}
		return srv
	}
	srv := start("127.0.0.1:0")
	addr := srv.Addr()
	url := "ws://" + addr + "/ws"
	const grace = 3 * time.Second
	// A leaving kiosk would wait a millisecond for the server: only a
	// session that stays delivers when it is back.
	mod := func(c *engine.Config) {
		c.AutoReady, c.Clock, c.Now, c.EndGrace, c.Session.LeaveDrain = true, fake, time.Now, grace, time.Millisecond
	}
	a, b := joinedPair(t, stillSides(t, url, dir, mod), "the discussion's clock", func(st participant.State) bool { return !st.Deadline.IsZero() })
	left := time.Until(a.eng.State().Deadline)
	srv.Close()
	for _, s := range []*side{a, b} {
		waitFor(t, s, "server offline", func(st participant.State) bool { return !st.ServerOnline })
	}
	a.eng.SendChat("group", "typed with the server away")
	// Zero passes on the engines' clock; within the grace nothing ends.
	fake.Advance(left + grace - time.Second)
	for _, s := range []*side{a, b} {
		if st := s.eng.State(); st.Phase == participant.PhaseEnded {
			t.Fatalf("%s ended %v after zero, before the grace of %v", s.name, grace-time.Second, grace)
		}
	}
	fake.Advance(2 * time.Second)
	for _, s := range []*side{a, b} {
		waitFor(t, s, "the end by the kiosk's clock", func(st participant.State) bool { return st.Phase == participant.PhaseEnded })
		if r := s.eng.State().EndReason; r != protocol.EndDeadline {
			t.Errorf("%s ended for %q, want %q", s.name, r, protocol.EndDeadline)
		}
	}
	srv2 := start(addr)
	fake.Advance(time.Millisecond) // the clock it re-armed, past its deadline, falls due
	defer srv2.Close()
	sessions, err := srv2.Store().Sessions()
	if err != nil || len(sessions) != 1 {
		t.Fatalf("sessions %v, %v", sessions, err)
	}
	testkit.Eventually(t, "the message typed while the server was away stored", func() bool {
		msgs, err := srv2.Store().Messages(sessions[0].Code, "", 0)
		if err != nil {
			t.Fatal(err)
		}
		return len(msgs) >= 1
	})
	if msgs, _ := srv2.Store().Messages(sessions[0].Code, "", 0); len(msgs) != 1 || msgs[0].Body != "typed with the server away" {
		t.Errorf("stored %v, want the one message once", msgs)
	}
	// The server's "ended" lets the sessions go: nobody is left to resume
	// (the file may still hold reports this test's short drain left for
	// the next start).
	for _, s := range []*side{a, b} {
		testkit.Eventually(t, s.name+" no longer resumable", func() bool {
			b, err := os.ReadFile(filepath.Join(dir, s.name+".json"))
			if os.IsNotExist(err) {
				return true
			}
			var st struct{ Token string }
			return err == nil && json.Unmarshal(b, &st) == nil && st.Token == ""
		})
	}
}
