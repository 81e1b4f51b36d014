package server

// A lab day off the happy path, against a real server with the clock
// injected: a participant who comes before the session, participants who
// are paired only once their device check is done, one left without a
// partner, two who type the same pseudonym, and a workstation check that
// must not touch the research data.

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/parley-lab/parley/signaling/protocol"
)

func TestParticipantBeforeTheSessionJoinsWhenItOpens(t *testing.T) {
	checkGoroutines(t)
	cfg := Config{Rooms: []Room{{Name: "econlab"}}} // the experimenter opens sessions
	ts := startServer(t, t.TempDir(), cfg, newFakeClock())
	defer ts.Close()
	k := dialKiosk(t, ts.url, "Early")
	k.send(protocol.TypeJoin, "join", protocol.JoinRequest{Room: "econlab", Seat: "s1", Pseudonym: "Early"})
	e := k.expectError("join", protocol.CodeNoSession)
	if e.Field != "room" {
		t.Fatalf("no_session error %+v", e)
	}
	// A refused pseudonym is said at once, not after the wait.
	bad := dialKiosk(t, ts.url, "Bad")
	bad.send(protocol.TypeJoin, "join", protocol.JoinRequest{Room: "econlab", Seat: "s2", Pseudonym: " "})
	bad.expectError("join", protocol.CodeBadPseudonym)

	var sv SessionView
	if code := ts.api(t, "POST", "/api/sessions", ts.AdminToken(), map[string]any{"room": "econlab"}, &sv); code != http.StatusOK {
		t.Fatalf("create session: %d", code)
	}
	// Without sending anything more, the early participant is in.
	var w protocol.Welcome
	k.nextBody(protocol.TypeWelcome, &w)
	if w.Session != sv.Code || w.Pseudonym != "Early" {
		t.Fatalf("welcome %+v, want session %s", w, sv.Code)
	}
}

func TestOnlyParticipantsWhoFinishedTheDeviceCheckArePaired(t *testing.T) {
	checkGoroutines(t)
	ts := startServer(t, t.TempDir(), Config{}, newFakeClock())
	defer ts.Close()
	a, b := dialKiosk(t, ts.url, "A"), dialKiosk(t, ts.url, "B")
	for _, k := range []*kiosk{a, b} {
		k.send(protocol.TypeJoin, "join", protocol.JoinRequest{Room: DefaultRoom, Seat: "seat-" + k.name, Pseudonym: k.name})
		k.nextBody(protocol.TypeWelcome, &k.welcome)
		if k.welcome.Settings.DeviceCheck != protocol.DeviceCheckRequired {
			t.Fatalf("device_check = %q, want required by default", k.welcome.Settings.DeviceCheck)
		}
	}
	a.send(protocol.TypeReady, "r", nil)
	if env := a.next(protocol.TypeAck); env.Ref != "r" {
		t.Fatalf("ack for %q", env.Ref)
	}
	for _, env := range append(a.drain(), b.drain()...) {
		if env.Type == protocol.TypePaired {
			t.Fatal("paired before both finished the device check")
		}
	}
	var ps []ParticipantView
	ts.api(t, "GET", "/api/sessions/"+a.welcome.Session+"/participants", ts.AdminToken(), nil, &ps)
	states := map[string]string{}
	for _, p := range ps {
		states[p.Seat] = p.State
	}
	if states["seat-A"] != "waiting" || states["seat-B"] != "device_check" {
		t.Fatalf("states %v, want A waiting and B in the device check", states)
	}
	b.send(protocol.TypeReady, "", nil)
	a.waitPaired()
	b.waitPaired()
	// A resume says the participant is ready already.
	a2 := dialKiosk(t, ts.url, "A2")
	if w := a2.join(protocol.JoinRequest{Token: a.welcome.Token}); !w.Ready {
		t.Fatal("resumed welcome does not say ready")
	}
}

// TestRandomMatchingLeavesTheDeviceCheckAlone: when the experimenter
// starts a session with random matching, a participant still in the
// device check is not pulled into a call; only the ready ones are paired.
func TestRandomMatchingLeavesTheDeviceCheckAlone(t *testing.T) {
	checkGoroutines(t)
	cfg := Config{Rooms: []Room{{Name: "econlab", Defaults: SessionSettings{Matching: "random"}}}}
	ts := startServer(t, t.TempDir(), cfg, newFakeClock())
	defer ts.Close()
	var sv SessionView
	if code := ts.api(t, "POST", "/api/sessions", ts.AdminToken(), map[string]any{"room": "econlab"}, &sv); code != http.StatusOK {
		t.Fatalf("create session: %d", code)
	}
	a, b, c := dialKiosk(t, ts.url, "A"), dialKiosk(t, ts.url, "B"), dialKiosk(t, ts.url, "C")
	a.join(protocol.JoinRequest{Room: "econlab"}) // ready
	c.send(protocol.TypeJoin, "join", protocol.JoinRequest{Room: "econlab", Seat: "seat-C", Pseudonym: "C"})
	c.nextBody(protocol.TypeWelcome, &c.welcome)  // still in the device check
	b.join(protocol.JoinRequest{Room: "econlab"}) // ready
	var st StartView
	if code := ts.api(t, "POST", "/api/sessions/"+sv.Code+"/start", ts.AdminToken(), nil, &st); code != http.StatusOK {
		t.Fatalf("start: %d", code)
	}
	if len(st.Paired) != 1 || strings.Contains(strings.Join(st.Paired[0], ","), "seat-C") || len(st.LeftOver) != 1 || st.LeftOver[0] != "seat-C" {
		t.Fatalf("started: paired %v, left over %v; want A and B paired, C left in the device check", st.Paired, st.LeftOver)
	}
	a.waitPaired()
	b.waitPaired()
	for _, env := range c.drain() {
		if env.Type == protocol.TypePaired {
			t.Fatal("the participant in the device check was pulled into a call")
		}
	}
	var ps []ParticipantView
	ts.api(t, "GET", "/api/sessions/"+sv.Code+"/participants", ts.AdminToken(), nil, &ps)
	for _, p := range ps {
		if p.Seat == "seat-C" && p.State != "device_check" {
			t.Fatalf("C is %q, want still in the device check", p.State)
		}
	}
}

func TestNoDeviceCheckPairsAtOnce(t *testing.T) {
	checkGoroutines(t)
	cfg := Config{Rooms: []Room{{Name: "lab", AutoSession: true, Defaults: SessionSettings{DeviceCheck: protocol.DeviceCheckOff}}}}
	ts := startServer(t, t.TempDir(), cfg, newFakeClock())
	defer ts.Close()
	a, b := dialKiosk(t, ts.url, "A"), dialKiosk(t, ts.url, "B")
	for _, k := range []*kiosk{a, b} {
		k.send(protocol.TypeJoin, "join", protocol.JoinRequest{Room: "lab", Seat: "seat-" + k.name, Pseudonym: k.name})
	}
	a.waitPaired()
	b.waitPaired()
}

func TestAParticipantWithoutPartnerIsToldSo(t *testing.T) {
	checkGoroutines(t)
	clock := newFakeClock()
	ts := startServer(t, t.TempDir(), Config{}, clock)
	defer ts.Close()
	a := dialKiosk(t, ts.url, "Alone")
	w := a.join(protocol.JoinRequest{})
	a.drain()
	clock.Advance(time.Duration(DefaultNoPartnerAfterS-1) * time.Second)
	for _, env := range a.drain() {
		var wt protocol.Waiting
		json.Unmarshal(env.Data, &wt)
		if env.Type == protocol.TypeWaiting && wt.NoPartner {
			t.Fatal("told too early that no partner came")
		}
	}
	clock.Advance(time.Second)
	for {
		var wt protocol.Waiting
		a.nextBody(protocol.TypeWaiting, &wt)
		if wt.NoPartner {
			break
		}
	}
	eventKinds(t, ts, w.Session, EvNoPartner)
	var ps []ParticipantView
	ts.api(t, "GET", "/api/sessions/"+w.Session+"/participants", ts.AdminToken(), nil, &ps)
	if len(ps) != 1 || ps[0].State != "no_partner" {
		t.Fatalf("participants %+v, want the one in state no_partner", ps)
	}
	// A latecomer still pairs with them.
	b := dialKiosk(t, ts.url, "Late")
	b.join(protocol.JoinRequest{})
	a.waitPaired()
}

func TestTwoParticipantsCannotShareAPseudonym(t *testing.T) {
	checkGoroutines(t)
	ts := startServer(t, t.TempDir(), Config{}, newFakeClock())
	defer ts.Close()
	dialKiosk(t, ts.url, "A").join(protocol.JoinRequest{Pseudonym: "Ann"})
	for i, same := range []string{"ann", "ＡＮＮ", " Ann "} {
		k := dialKiosk(t, ts.url, "B")
		k.send(protocol.TypeJoin, "join", protocol.JoinRequest{Room: DefaultRoom, Seat: "seat-" + string(rune('b'+i)), Pseudonym: same})
		if e := k.expectError("join", protocol.CodePseudonymTaken); !strings.Contains(e.Message, "choose another") {
			t.Fatalf("%q: %q", same, e.Message)
		}
	}
}

func TestWorkstationCheckNeverTouchesResearchData(t *testing.T) {
	checkGoroutines(t)
	ts := startServer(t, t.TempDir(), Config{}, newFakeClock())
	defer ts.Close()
	// A research participant waits in the lab's session.
	r := dialKiosk(t, ts.url, "Research")
	wr := r.join(protocol.JoinRequest{})
	// Two check participants from the same workstation: paired with each
	// other, never with the research participant.
	a, b := dialKiosk(t, ts.url, "CheckA"), dialKiosk(t, ts.url, "CheckB")
	wa := a.join(protocol.JoinRequest{Check: "ws-07-1", Seat: "ws-07-a", Pseudonym: "Check A"})
	b.join(protocol.JoinRequest{Check: "ws-07-1", Seat: "ws-07-b", Pseudonym: "Check B"})
	pa := a.waitPaired()
	for _, m := range pa.Members {
		if m.ID == wr.ParticipantID {
			t.Fatal("a check participant was paired with a research participant")
		}
	}
	if wa.Session == wr.Session || wa.Room != protocol.CheckRoom {
		t.Fatalf("check session %s in room %s", wa.Session, wa.Room)
	}
	a.chat("group", "check message", "c1")
	var sessions []SessionView
	ts.api(t, "GET", "/api/sessions", ts.AdminToken(), nil, &sessions)
	if len(sessions) != 1 || sessions[0].Code != wr.Session {
		t.Fatalf("sessions listed: %+v, want only the research one", sessions)
	}
	var data []byte
	ts.api(t, "GET", "/api/export?format=jsonl&kind=events", ts.AdminToken(), nil, &data)
	if strings.Contains(string(data), wa.Session) || strings.Contains(string(data), "Check A") {
		t.Fatal("the events export holds the workstation check")
	}
	ts.api(t, "GET", "/api/export?format=csv", ts.AdminToken(), nil, &data)
	if strings.Contains(string(data), "check message") {
		t.Fatal("the messages export holds the workstation check's chat")
	}
}

func TestExperimenterAddressesGroupsByNumberAndSeesCounts(t *testing.T) {
	checkGoroutines(t)
	ts := startServer(t, t.TempDir(), Config{}, newFakeClock())
	defer ts.Close()
	a, b := dialKiosk(t, ts.url, "A"), dialKiosk(t, ts.url, "B")
	w := a.join(protocol.JoinRequest{})
	b.join(protocol.JoinRequest{})
	a.waitPaired()
	a.chat("group", "hello", "h1")
	var m APIMessage
	if code := ts.api(t, "POST", "/api/sessions/"+w.Session+"/channels/group:1/messages", ts.AdminToken(), map[string]string{"body": "two minutes left"}, &m); code != http.StatusOK {
		t.Fatalf("post to group:1: %d", code)
	}
	var got protocol.ChatMessage
	b.nextBody(protocol.TypeChatMsg, &got) // A's hello
	b.nextBody(protocol.TypeChatMsg, &got)
	if got.Body != "two minutes left" || got.Role != protocol.RoleExperimenter {
		t.Fatalf("B got %+v", got)
	}
	var chans []ChannelView
	ts.api(t, "GET", "/api/sessions/"+w.Session+"/channels", ts.AdminToken(), nil, &chans)
	if len(chans) == 0 || chans[0].Messages != 2 {
		t.Fatalf("channels %+v, want the group's with 2 messages", chans)
	}
	var raw []byte
	ts.api(t, "GET", "/api/rooms", ts.AdminToken(), nil, &raw)
	if !strings.Contains(string(raw), `"auto_session"`) || strings.Contains(string(raw), `"AutoSession"`) {
		t.Fatalf("/api/rooms: %s", raw)
	}
}

func TestDeviceReportsReachTheExperimenter(t *testing.T) {
	checkGoroutines(t)
	ts := startServer(t, t.TempDir(), Config{}, newFakeClock())
	defer ts.Close()
	a := dialKiosk(t, ts.url, "A")
	w := a.join(protocol.JoinRequest{})
	a.send(protocol.TypeDevices, "d0", protocol.Devices{Camera: "broken", Microphone: "ok", Speaker: "ok"})
	if e := a.expectError("d0", protocol.CodeBadField); e.Field != "camera" {
		t.Fatalf("bad device state: %+v", e)
	}
	a.send(protocol.TypeDevices, "d1", protocol.Devices{Camera: protocol.DeviceMissing, Microphone: protocol.DeviceOK, Speaker: protocol.DeviceOff, ID: "d1"})
	a.next(protocol.TypeAck)
	var ps []ParticipantView
	ts.api(t, "GET", "/api/sessions/"+w.Session+"/participants", ts.AdminToken(), nil, &ps)
	if len(ps) != 1 || ps[0].Devices == nil || ps[0].Devices.Camera != protocol.DeviceMissing {
		t.Fatalf("participants %+v, want the camera missing", ps)
	}
	eventKinds(t, ts, w.Session, EvDevices)
}
