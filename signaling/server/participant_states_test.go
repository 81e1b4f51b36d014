package server

import (
	"fmt"
	"maps"
	"testing"

	"github.com/parley-lab/parley/signaling/protocol"
)

// statesOf is each seat's state in the view the dashboard is built from.
func statesOf(t *testing.T, ts *testServer, code string) map[string]string {
	t.Helper()
	v, err := ts.hub.DashboardView(code)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, p := range v.Participants {
		out[p.Seat] = p.State
	}
	return out
}

// waitStates waits until the seats named in want have those states.
func waitStates(t *testing.T, ts *testServer, code, what string, want map[string]string) {
	t.Helper()
	var got map[string]string
	ok := false
	eventually(t, fmt.Sprintf("%s: %v", what, want), func() bool {
		got = statesOf(t, ts, code)
		ok = true
		for seat, st := range want {
			if got[seat] != st {
				ok = false
			}
		}
		return ok
	})
	if !ok {
		t.Fatalf("%s: states %v, want %v", what, got, want)
	}
}

// TestLiveViewShowsConnectionsAndLeaving: the states the experimenter
// needs beyond where a participant is: their own connection (connecting),
// their partner's connection or call (partner reconnecting), and a
// voluntary leave (left, partner left), also after a restart.
func TestLiveViewShowsConnectionsAndLeaving(t *testing.T) {
	checkGoroutines(t)
	dir := t.TempDir()
	clk := newFakeClock()
	ts := startServer(t, dir, Config{}, clk)
	a, b, w, _ := inCall(t, ts)
	code := w.Session
	waitStates(t, ts, code, "in the call", map[string]string{"seat-A": StateInCall, "seat-B": StateInCall})

	// A's call with B drops: A's partner is reconnecting; back up, in call.
	a.send(protocol.TypeCallState, "", protocol.CallState{Peer: b.id(), State: protocol.CallDisconnected})
	waitStates(t, ts, code, "A's call dropped", map[string]string{"seat-A": StatePartnerReconnecting})
	a.send(protocol.TypeCallState, "", protocol.CallState{Peer: b.id(), State: protocol.CallConnected})
	waitStates(t, ts, code, "A's call back", map[string]string{"seat-A": StateInCall})

	// B's connection goes: B is connecting, A's partner reconnecting, also
	// while the clock is paused.
	b.close()
	waitStates(t, ts, code, "B offline", map[string]string{"seat-A": StatePartnerReconnecting, "seat-B": StateConnecting})
	if _, err := ts.hub.PauseGroup(code, "1"); err != nil {
		t.Fatal(err)
	}
	waitStates(t, ts, code, "B offline, paused", map[string]string{"seat-A": StatePartnerReconnecting, "seat-B": StateConnecting})
	b2 := dialKiosk(t, ts.url, "B2")
	b2.join(protocol.JoinRequest{Token: b.welcome.Token})
	waitStates(t, ts, code, "B back, paused", map[string]string{"seat-A": StatePaused, "seat-B": StatePaused})
	if _, err := ts.hub.ResumeGroup(code, "1"); err != nil {
		t.Fatal(err)
	}
	waitStates(t, ts, code, "B back", map[string]string{"seat-A": StateInCall, "seat-B": StateInCall})

	// C waits alone and leaves; B leaves mid-discussion.
	c := dialKiosk(t, ts.url, "C")
	c.join(protocol.JoinRequest{})
	waitStates(t, ts, code, "C waiting", map[string]string{"seat-C": StateWaiting})
	c.send(protocol.TypeLeave, "", nil)
	b2.send(protocol.TypeLeave, "", nil)
	want := map[string]string{"seat-A": StatePartnerLeft, "seat-B": StateLeft, "seat-C": StateLeft}
	waitStates(t, ts, code, "B and C left", want)

	// After a restart nobody is connected yet: who left still shows so,
	// the others are connecting.
	eventKinds(t, ts, code, EvLeave)
	ts.Close()
	ts = startServer(t, dir, Config{}, clk)
	defer ts.Close()
	want = map[string]string{"seat-A": StateConnecting, "seat-B": StateLeft, "seat-C": StateLeft}
	if got := statesOf(t, ts, code); !maps.Equal(got, want) {
		t.Fatalf("after a restart: %v, want %v", got, want)
	}
	a2 := dialKiosk(t, ts.url, "A2")
	a2.join(protocol.JoinRequest{Token: a.welcome.Token})
	waitStates(t, ts, code, "A back after the restart", map[string]string{"seat-A": StatePartnerLeft})

	// The end: ended wins over everything but removed.
	if _, err := ts.hub.EndGroup(code, "1"); err != nil {
		t.Fatal(err)
	}
	waitStates(t, ts, code, "the end", map[string]string{"seat-A": StateEnded, "seat-B": StateEnded, "seat-C": StateLeft})
}
