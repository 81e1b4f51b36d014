package server

import (
	"encoding/json"
	"maps"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/parley-lab/parley/signaling/protocol"
)

// inCall pairs two kiosks and starts their clock.
func inCall(t *testing.T, ts *testServer) (a, b *kiosk, w protocol.Welcome, clk protocol.Clock) {
	t.Helper()
	a, b = dialKiosk(t, ts.url, "A"), dialKiosk(t, ts.url, "B")
	w = a.join(protocol.JoinRequest{})
	b.join(protocol.JoinRequest{})
	a.waitPaired()
	b.waitPaired()
	startCall(t, a, b)
	a.nextBody(protocol.TypeClock, &clk)
	var cb protocol.Clock
	b.nextBody(protocol.TypeClock, &cb)
	return a, b, w, clk
}

func TestMoreTimePauseAndResumeReachTheKiosks(t *testing.T) {
	checkGoroutines(t)
	clock := newFakeClock()
	ts := startServer(t, t.TempDir(), Config{}, clock)
	defer ts.Close()
	a, b, w, clk := inCall(t, ts)
	tok := ts.AdminToken()
	base := "/api/sessions/" + w.Session + "/groups/"

	// A minute more: both kiosks get the new deadline.
	var gvs []GroupView
	if code := ts.api(t, "POST", base+"1/time", tok, map[string]any{"delta_s": 60}, &gvs); code != http.StatusOK || len(gvs) != 1 {
		t.Fatalf("more time: %d %+v", code, gvs)
	}
	for _, k := range []*kiosk{a, b} {
		var c protocol.Clock
		k.nextBody(protocol.TypeClock, &c)
		if c.DeadlineMS != clk.DeadlineMS+60_000 || c.Paused {
			t.Fatalf("%s: clock %+v, want the deadline a minute later", k.name, c)
		}
	}
	// Pause: the kiosks are told how much is left; the deadline passes and nothing ends.
	clock.Advance(10 * time.Second)
	var gv GroupView
	if code := ts.api(t, "POST", base+"1/pause", tok, nil, &gv); code != http.StatusOK || gv.State != "paused" {
		t.Fatalf("pause: %d %+v", code, gv)
	}
	left := clk.DeadlineMS + 60_000 - ms(clock.Now())
	for _, k := range []*kiosk{a, b} {
		var c protocol.Clock
		k.nextBody(protocol.TypeClock, &c)
		if !c.Paused || c.RemainingMS != left {
			t.Fatalf("%s: paused clock %+v, want %d ms left", k.name, c, left)
		}
	}
	if code := ts.api(t, "POST", base+"1/pause", tok, nil, nil); code != http.StatusConflict {
		t.Fatalf("pausing a paused clock: %d, want 409", code)
	}
	clock.Advance(time.Hour)
	for _, env := range a.drain() {
		if env.Type == protocol.TypeEnded {
			t.Fatal("a paused discussion ended at its old deadline")
		}
	}
	// Resume: the same time left, counted from now.
	if code := ts.api(t, "POST", base+"1/resume", tok, nil, &gv); code != http.StatusOK || gv.State != "running" {
		t.Fatalf("resume: %d %+v", code, gv)
	}
	var c protocol.Clock
	a.nextBody(protocol.TypeClock, &c)
	if c.Paused || c.DeadlineMS != ms(clock.Now())+left {
		t.Fatalf("resumed clock %+v, want %d ms from now", c, left)
	}
	clock.Advance(time.Duration(left) * time.Millisecond)
	var e protocol.Ended
	a.nextBody(protocol.TypeEnded, &e)
	if e.Reason != protocol.EndDeadline {
		t.Fatalf("ended %+v", e)
	}
	kinds := eventKinds(t, ts, w.Session, EvTimeAdjusted, EvClockPaused, EvClockResumed)
	if kinds[EvClockPaused] != 1 || kinds[EvClockResumed] != 1 {
		t.Fatalf("events %v", kinds)
	}
}

func TestEndOneGroupAndRemoveAParticipant(t *testing.T) {
	checkGoroutines(t)
	ts := startServer(t, t.TempDir(), Config{}, newFakeClock())
	defer ts.Close()
	a, b, w, _ := inCall(t, ts)
	tok := ts.AdminToken()
	c, d := dialKiosk(t, ts.url, "C"), dialKiosk(t, ts.url, "D")
	c.join(protocol.JoinRequest{})
	d.join(protocol.JoinRequest{})
	c.waitPaired()
	// End group 1 only.
	var gv GroupView
	if code := ts.api(t, "POST", "/api/sessions/"+w.Session+"/groups/1/end", tok, nil, &gv); code != http.StatusOK || gv.State != "ended" {
		t.Fatalf("end group 1: %d %+v", code, gv)
	}
	var e protocol.Ended
	a.nextBody(protocol.TypeEnded, &e)
	b.nextBody(protocol.TypeEnded, &e)
	if e.Reason != protocol.EndExperimenter {
		t.Fatalf("ended %+v", e)
	}
	for _, env := range c.drain() {
		if env.Type == protocol.TypeEnded {
			t.Fatal("group 2 ended with group 1")
		}
	}
	// Remove C: C goes to the end screen, D's discussion ends.
	var pv ParticipantView
	if code := ts.api(t, "POST", "/api/sessions/"+w.Session+"/participants/seat-C/remove", tok, nil, &pv); code != http.StatusOK || pv.State != "removed" {
		t.Fatalf("remove: %d %+v", code, pv)
	}
	c.nextBody(protocol.TypeEnded, &e)
	if e.Reason != protocol.EndRemoved {
		t.Fatalf("C ended %+v, want removed", e)
	}
	d.nextBody(protocol.TypeEnded, &e)
	// C coming back is told again.
	c2 := dialKiosk(t, ts.url, "C2")
	c2.join(protocol.JoinRequest{Token: c.welcome.Token})
	c2.nextBody(protocol.TypeEnded, &e)
	if e.Reason != protocol.EndRemoved {
		t.Fatalf("C on return: %+v", e)
	}
	// Refusals: another session's participant, a group that is not there.
	other, _ := ts.hub.CreateSession(DefaultRoom, nil)
	for path, want := range map[string]int{
		"/api/sessions/" + other.Code + "/participants/seat-A/remove": http.StatusNotFound,
		"/api/sessions/" + w.Session + "/groups/9/end":                http.StatusNotFound,
		"/api/sessions/" + w.Session + "/groups/1/end":                http.StatusConflict,
	} {
		var raw []byte
		if code := ts.api(t, "POST", path, tok, nil, &raw); code != want {
			t.Errorf("%s: %d %s, want %d", path, code, raw, want)
		}
	}
	if code := ts.api(t, "POST", "/api/sessions/"+w.Session+"/groups/1/pause", "", nil, nil); code != http.StatusUnauthorized {
		t.Errorf("control without the token: %d", code)
	}
}

func TestPairByHand(t *testing.T) {
	checkGoroutines(t)
	cfg := Config{Rooms: []Room{{Name: "lab", AutoSession: true, Defaults: SessionSettings{Matching: "random"}}}}
	ts := startServer(t, t.TempDir(), cfg, newFakeClock())
	defer ts.Close()
	ks := []*kiosk{dialKiosk(t, ts.url, "A"), dialKiosk(t, ts.url, "B"), dialKiosk(t, ts.url, "C")}
	var w protocol.Welcome
	for _, k := range ks {
		w = k.join(protocol.JoinRequest{Room: "lab"})
	}
	var gv GroupView
	if code := ts.api(t, "POST", "/api/sessions/"+w.Session+"/pair", ts.AdminToken(), map[string]any{"seats": []string{"seat-C", "seat-A"}}, &gv); code != http.StatusOK {
		t.Fatalf("pair: %d", code)
	}
	if strings.Join(gv.Seats, ",") != "seat-C,seat-A" {
		t.Fatalf("group %+v", gv)
	}
	ks[0].waitPaired()
	ks[2].waitPaired()
	var raw []byte
	if code := ts.api(t, "POST", "/api/sessions/"+w.Session+"/pair", ts.AdminToken(), map[string]any{"seats": []string{"seat-A", "seat-B"}}, &raw); code != http.StatusConflict {
		t.Fatalf("pairing someone already paired: %d %s", code, raw)
	}
}

func TestPrivateMessagesBetweenExperimenterAndOneParticipant(t *testing.T) {
	checkGoroutines(t)
	ts := startServer(t, t.TempDir(), Config{}, newFakeClock())
	defer ts.Close()
	a, b, w, _ := inCall(t, ts)
	var m APIMessage
	if code := ts.api(t, "POST", "/api/sessions/"+w.Session+"/channels/private:seat-A/messages", ts.AdminToken(), map[string]string{"body": "Are you all right?"}, &m); code != http.StatusOK {
		t.Fatalf("private message: %d", code)
	}
	var got protocol.ChatMessage
	a.nextBody(protocol.TypeChatMsg, &got)
	if got.Channel != protocol.ChannelPrivate || got.Body != "Are you all right?" {
		t.Fatalf("A got %+v", got)
	}
	// A answers in it; B sees neither.
	ack := a.chat(protocol.ChannelPrivate, "Yes, thanks", "p1")
	if ack.Message.Channel != protocol.ChannelPrivate {
		t.Fatalf("ack %+v", ack)
	}
	for _, env := range b.drain() {
		if env.Type == protocol.TypeChatMsg {
			t.Fatalf("B saw a private message: %s", env.Data)
		}
	}
	var msgs []APIMessage
	ts.api(t, "GET", "/api/sessions/"+w.Session+"/channels/private:seat-A/messages", ts.AdminToken(), nil, &msgs)
	if len(msgs) != 2 || msgs[1].Body != "Yes, thanks" {
		t.Fatalf("private channel %+v", msgs)
	}
	// B cannot name A's private channel.
	b.send(protocol.TypeChat, "x", protocol.ChatSend{Channel: msgs[0].Channel, Body: "snoop", ClientMsgID: "x"})
	b.expectError("x", protocol.CodeNoChannel)
}

// A removed participant's kiosk hears only that it was removed: not the
// end of its group's discussion (sent to the partner) nor, for one removed
// while waiting, the end of the session.
func TestRemovedKioskIsToldOnlyThatItWasRemoved(t *testing.T) {
	checkGoroutines(t)
	ts := startServer(t, t.TempDir(), Config{}, newFakeClock())
	defer ts.Close()
	a, b, w, _ := inCall(t, ts)
	tok := ts.AdminToken()
	waiting := dialKiosk(t, ts.url, "W")
	waiting.join(protocol.JoinRequest{})
	endedOf := func(k *kiosk) []protocol.Ended {
		var out []protocol.Ended
		for _, env := range k.drain() {
			if env.Type == protocol.TypeEnded {
				var e protocol.Ended
				if err := json.Unmarshal(env.Data, &e); err != nil {
					t.Fatal(err)
				}
				out = append(out, e)
			}
		}
		return out
	}
	for _, seat := range []string{"seat-A", "seat-W"} {
		if code := ts.api(t, "POST", "/api/sessions/"+w.Session+"/participants/"+seat+"/remove", tok, nil, nil); code != http.StatusOK {
			t.Fatalf("remove %s: %d", seat, code)
		}
	}
	if code := ts.api(t, "POST", "/api/sessions/"+w.Session+"/end", tok, nil, nil); code != http.StatusOK {
		t.Fatalf("end session: %d", code)
	}
	for _, k := range []*kiosk{a, waiting} {
		if got := endedOf(k); len(got) != 1 || got[0].Reason != protocol.EndRemoved {
			t.Errorf("%s was told %+v, want only %q", k.name, got, protocol.EndRemoved)
		}
	}
	if got := endedOf(b); len(got) != 1 || got[0].Reason != protocol.EndExperimenter {
		t.Errorf("the partner was told %+v, want %q", got, protocol.EndExperimenter)
	}
}

// canPair returns each seat's can_pair as the participants view has it.
func canPair(t *testing.T, ts *testServer, session string) map[string]bool {
	t.Helper()
	var ps []ParticipantView
	if code := ts.api(t, "GET", "/api/sessions/"+session+"/participants", ts.AdminToken(), nil, &ps); code != http.StatusOK {
		t.Fatalf("participants: %d", code)
	}
	out := map[string]bool{}
	for _, p := range ps {
		out[p.Seat] = p.CanPair
	}
	return out
}

// A participant left over when their partner was removed (or their
// group's discussion ended) can be paired again by hand; one who left
// cannot.
func TestRepairALeftOverParticipantByHand(t *testing.T) {
	checkGoroutines(t)
	ts := startServer(t, t.TempDir(), Config{}, newFakeClock())
	defer ts.Close()
	a, _, w, _ := inCall(t, ts)
	tok := ts.AdminToken()
	c, d := dialKiosk(t, ts.url, "C"), dialKiosk(t, ts.url, "D")
	c.join(protocol.JoinRequest{})
	d.join(protocol.JoinRequest{})
	c.waitPaired()
	base := "/api/sessions/" + w.Session
	for _, seat := range []string{"seat-B", "seat-D"} {
		if code := ts.api(t, "POST", base+"/participants/"+seat+"/remove", tok, nil, nil); code != http.StatusOK {
			t.Fatalf("remove %s: %d", seat, code)
		}
	}
	a.next(protocol.TypeEnded)
	c.next(protocol.TypeEnded)
	want := map[string]bool{"seat-A": true, "seat-B": false, "seat-C": true, "seat-D": false}
	if got := canPair(t, ts, w.Session); !maps.Equal(got, want) {
		t.Fatalf("can_pair %v, want %v", got, want)
	}
	var gv GroupView
	if code := ts.api(t, "POST", base+"/pair", tok, map[string]any{"seats": []string{"seat-A", "seat-C"}}, &gv); code != http.StatusOK || gv.Num != 3 {
		t.Fatalf("re-pair A and C: %d %+v", code, gv)
	}
	for _, k := range []*kiosk{a, c} {
		if p := k.waitPaired(); p.Group != gv.ID || len(p.Members) != 2 {
			t.Fatalf("%s paired %+v, want group %s", k.name, p, gv.ID)
		}
	}
	if got := canPair(t, ts, w.Session); got["seat-A"] || got["seat-C"] {
		t.Fatalf("can_pair %v after the re-pairing", got)
	}
	// The new group's discussion runs as any other.
	startCall(t, a, c)
	var clk protocol.Clock
	a.nextBody(protocol.TypeClock, &clk)
	eventKinds(t, ts, w.Session, EvPairedByHand)
	evs, err := ts.Store().EventsOfKinds(w.Session, EvPairedByHand)
	if err != nil || len(evs) != 1 || !strings.Contains(string(evs[0].Data), `"previous_groups":{"seat-A":1,"seat-C":2}`) {
		t.Fatalf("paired_by_experimenter events %v %v", evs, err)
	}

	// E and F end their discussion; F leaves for good: only E may be paired.
	e, f := dialKiosk(t, ts.url, "E"), dialKiosk(t, ts.url, "F")
	e.join(protocol.JoinRequest{})
	f.join(protocol.JoinRequest{})
	e.waitPaired()
	if code := ts.api(t, "POST", base+"/groups/4/end", tok, nil, nil); code != http.StatusOK {
		t.Fatalf("end group 4: %d", code)
	}
	f.next(protocol.TypeEnded)
	f.send(protocol.TypeLeave, "", nil)
	eventually(t, "F gone", func() bool { return !canPair(t, ts, w.Session)["seat-F"] })
	if !canPair(t, ts, w.Session)["seat-E"] {
		t.Fatal("E, still connected after the end, cannot be paired")
	}
	var raw []byte
	if code := ts.api(t, "POST", base+"/pair", tok, map[string]any{"seats": []string{"seat-E", "seat-F"}}, &raw); code != http.StatusConflict || !strings.Contains(string(raw), "has left") {
		t.Fatalf("pairing one who left: %d %s", code, raw)
	}
	if code := ts.api(t, "POST", base+"/pair", tok, map[string]any{"seats": []string{"seat-E", "seat-A"}}, &raw); code != http.StatusConflict || !strings.Contains(string(raw), "in group 3 already") {
		t.Fatalf("pairing one whose discussion runs: %d %s", code, raw)
	}
}
