package server

// Refusals at the edges, tried from outside with real websocket clients:
// binary frames, text that is not UTF-8, idle sockets, too many connections
// or joins from one address, a seat claimed twice, and the records the
// server keeps of a replaced connection and a kiosk's repeated reports.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/parley-lab/parley/signaling/protocol"
)

func rawDial(t *testing.T, url string) *websocket.Conn {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	return ws
}

// readError reads frames until an error arrives and returns it with its ref.
func readError(t *testing.T, ws *websocket.Conn) (protocol.Error, string) {
	t.Helper()
	ws.SetReadDeadline(time.Now().Add(waitTimeout))
	for {
		_, frame, err := ws.ReadMessage()
		if err != nil {
			t.Fatalf("no error reply: %v", err)
		}
		env, err := protocol.Decode(frame)
		if err != nil || env.Type != protocol.TypeError {
			continue
		}
		var e protocol.Error
		json.Unmarshal(env.Data, &e)
		return e, env.Ref
	}
}

func TestBinaryFrameAnsweredWithItsRef(t *testing.T) {
	checkGoroutines(t)
	ts := startServer(t, t.TempDir(), Config{}, newFakeClock())
	defer ts.Close()
	ws := rawDial(t, ts.url)
	ws.WriteMessage(websocket.BinaryMessage, []byte(`{"v":1,"type":"join","ref":"bin-1","data":{}}`))
	e, ref := readError(t, ws)
	if ref != "bin-1" || e.Code != protocol.CodeMalformed || !strings.Contains(e.Message, "text frames only") {
		t.Fatalf("binary frame answered with %q %+v, want malformed for bin-1 saying text frames only", ref, e)
	}
}

func TestInvalidUTF8IsRefusedNamingTheFieldAndNeverStored(t *testing.T) {
	checkGoroutines(t)
	ts := startServer(t, t.TempDir(), Config{}, newFakeClock())
	defer ts.Close()
	k := dialKiosk(t, ts.url, "K")
	// A pseudonym with a raw invalid byte, and one with an escaped lone surrogate.
	for _, frame := range []string{
		"{\"v\":1,\"type\":\"join\",\"ref\":\"j1\",\"data\":{\"room\":\"lab\",\"seat\":\"s\",\"pseudonym\":\"Ann\xff\"}}",
		`{"v":1,"type":"join","ref":"j2","data":{"room":"lab","seat":"s","pseudonym":"Ann\ud800"}}`,
	} {
		k.c.SendRaw([]byte(frame))
	}
	for _, ref := range []string{"j1", "j2"} {
		e := k.expectError(ref, protocol.CodeBadField)
		if e.Field != "data.pseudonym" || !strings.Contains(e.Message, "UTF-8") {
			t.Fatalf("%s: %+v, want field data.pseudonym named", ref, e)
		}
	}
	other := dialKiosk(t, ts.url, "O")
	w := k.join(protocol.JoinRequest{})
	other.join(protocol.JoinRequest{})
	k.waitPaired()
	k.c.SendRaw([]byte("{\"v\":1,\"type\":\"chat\",\"ref\":\"c1\",\"data\":{\"channel\":\"group\",\"client_msg_id\":\"x\",\"body\":\"caf\xe9\"}}"))
	if e := k.expectError("c1", protocol.CodeBadField); e.Field != "data.body" {
		t.Fatalf("chat body: %+v, want field data.body", e)
	}
	// A literal U+FFFD that was really sent is text like any other.
	k.chat("group", "a real \uFFFD", "ok")
	msgs, _ := ts.Store().Messages(w.Session, "", 0)
	if len(msgs) != 1 || msgs[0].Body != "a real \uFFFD" {
		t.Fatalf("stored %+v, want only the valid message", msgs)
	}
}

func TestDecodeErrorsNameTheFieldInTheProtocolsWords(t *testing.T) {
	checkGoroutines(t)
	ts := startServer(t, t.TempDir(), Config{}, newFakeClock())
	defer ts.Close()
	k := dialKiosk(t, ts.url, "K")
	k.c.SendRaw([]byte(`{"v":1.5,"type":"join","ref":"v"}`))
	k.c.SendRaw([]byte(`{"v":1,"type":"join","ref":"r","data":{"room":42}}`))
	for _, c := range []struct{ ref, want string }{{"v", `field "v" must be a whole number`}, {"r", `field "data.room" must be a string`}} {
		ref, want := c.ref, c.want
		e := k.expectError(ref, protocol.CodeMalformed)
		if !strings.Contains(e.Message, want) || strings.Contains(e.Message, "Go struct") {
			t.Errorf("%s: %q, want it to say %q and nothing of Go", ref, e.Message, want)
		}
	}
}

func TestSocketThatNeverJoinsIsClosed(t *testing.T) {
	checkGoroutines(t)
	clock := newFakeClock()
	ts := startServer(t, t.TempDir(), Config{}, clock)
	defer ts.Close()
	idle := rawDial(t, ts.url)
	joined := dialKiosk(t, ts.url, "J")
	joined.join(protocol.JoinRequest{})
	clock.Advance(DefaultJoinTimeout)
	idle.SetReadDeadline(time.Now().Add(waitTimeout))
	_, _, err := idle.ReadMessage()
	var ce *websocket.CloseError
	if !asClose(err, &ce) || ce.Code != websocket.ClosePolicyViolation || !strings.Contains(ce.Text, "no join within") {
		t.Fatalf("idle socket: %v, want closed 1008 with the reason", err)
	}
	// The joined one stays.
	joined.drain()
}

func asClose(err error, ce **websocket.CloseError) bool {
	c, ok := err.(*websocket.CloseError)
	*ce = c
	return ok
}

func TestConnectionsPerAddressAreCapped(t *testing.T) {
	checkGoroutines(t)
	ts := startServer(t, t.TempDir(), Config{MaxConnsPerAddr: 2}, newFakeClock())
	defer ts.Close()
	a, b := dialKiosk(t, ts.url, "A"), dialKiosk(t, ts.url, "B")
	a.join(protocol.JoinRequest{})
	_, resp, err := websocket.DefaultDialer.Dial(ts.url, nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("third connection from one address: %v %v, want 503", err, resp)
	}
	// Once a connection is gone, another may come.
	b.close()
	eventually(t, "a free connection slot", func() bool {
		ws, _, err := websocket.DefaultDialer.Dial(ts.url, nil)
		if err == nil {
			ws.Close()
		}
		return err == nil
	})
}

func TestJoinsPerAddressAreCapped(t *testing.T) {
	checkGoroutines(t)
	clock := newFakeClock()
	ts := startServer(t, t.TempDir(), Config{MaxJoinsPerAddrPerMinute: 2}, clock)
	defer ts.Close()
	a, b, c := dialKiosk(t, ts.url, "A"), dialKiosk(t, ts.url, "B"), dialKiosk(t, ts.url, "C")
	a.join(protocol.JoinRequest{})
	b.join(protocol.JoinRequest{})
	c.send(protocol.TypeJoin, "j3", protocol.JoinRequest{Room: DefaultRoom, Seat: "seat-C", Pseudonym: "C"})
	if e := c.expectError("j3", protocol.CodeRateLimited); !strings.Contains(e.Message, "max_joins_per_addr_per_minute") {
		t.Fatalf("join cap message %q does not name the setting", e.Message)
	}
	// A minute later joins are counted afresh (C itself was closed by then:
	// it never joined within the join timeout).
	clock.Advance(time.Minute)
	dialKiosk(t, ts.url, "D").join(protocol.JoinRequest{})
}

func TestASeatNeverHasTwoConnectedParticipants(t *testing.T) {
	checkGoroutines(t)
	ts := startServer(t, t.TempDir(), Config{}, newFakeClock())
	defer ts.Close()
	// A waits alone on seat 1, drops; a newcomer takes seat 1 (A could not
	// resume into a discussion: it had none).
	a := dialKiosk(t, ts.url, "A")
	wa := a.join(protocol.JoinRequest{Seat: "seat-1"})
	a.close()
	n := dialKiosk(t, ts.url, "N")
	eventually(t, "seat 1 free", func() bool {
		n.send(protocol.TypeJoin, "jn", protocol.JoinRequest{Room: DefaultRoom, Seat: "seat-1", Pseudonym: "N"})
		for {
			env := n.nextAny()
			if env.Type == protocol.TypeWelcome {
				json.Unmarshal(env.Data, &n.welcome)
				n.send(protocol.TypeReady, "", nil)
				return true
			}
			if env.Type == protocol.TypeError && env.Ref == "jn" {
				return false
			}
		}
	})
	// A's kiosk comes back with its token: refused, the seat is N's now.
	a2 := dialKiosk(t, ts.url, "A2")
	a2.send(protocol.TypeJoin, "resume", protocol.JoinRequest{Token: wa.Token})
	a2.expectError("resume", protocol.CodeSeatTaken)

	// N pairs with B and drops mid-discussion: nobody else may take seat 1.
	b := dialKiosk(t, ts.url, "B")
	b.join(protocol.JoinRequest{Seat: "seat-2"})
	n.waitPaired()
	wn := n.welcome
	n.close()
	// Once the server has seen N go (before, M is refused as "already
	// connected", which a loaded CI run hit).
	eventually(t, "N's disconnect", func() bool {
		evs, err := ts.Store().Events(wn.Session)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			if e.Participant == wn.ParticipantID && e.Kind == EvDisconnect {
				return true
			}
		}
		return false
	})
	m := dialKiosk(t, ts.url, "M")
	m.send(protocol.TypeJoin, "jm", protocol.JoinRequest{Room: DefaultRoom, Seat: "seat-1", Pseudonym: "M"})
	if e := m.expectError("jm", protocol.CodeSeatTaken); !strings.Contains(e.Message, "still running") {
		t.Fatalf("newcomer on a running discussion's seat: %q", e.Message)
	}
	// ... while N itself may come back.
	n2 := dialKiosk(t, ts.url, "N2")
	if w := n2.join(protocol.JoinRequest{Token: wn.Token}); !w.Resumed {
		t.Fatal("N could not resume on its own seat")
	}
}

func TestReplacedConnectionLogsItsDisconnectBeforeTheReconnect(t *testing.T) {
	checkGoroutines(t)
	ts := startServer(t, t.TempDir(), Config{}, newFakeClock())
	defer ts.Close()
	a := dialKiosk(t, ts.url, "A")
	w := a.join(protocol.JoinRequest{})
	a2 := dialKiosk(t, ts.url, "A2")
	a2.join(protocol.JoinRequest{Token: w.Token})
	eventKinds(t, ts, w.Session, EvReconnect)
	evs, _ := ts.Store().Events(w.Session)
	var seq []string
	for _, e := range evs {
		if e.Participant == w.ParticipantID {
			seq = append(seq, e.Kind+string(e.Data))
		}
	}
	got := strings.Join(seq, " ")
	if !strings.Contains(got, EvDisconnect+`{"reason":"replaced"} `+EvReconnect) {
		t.Fatalf("events of A: %s, want a disconnect (replaced) right before the reconnect", got)
	}
}

func TestRateLimitSaysWhenToRetry(t *testing.T) {
	checkGoroutines(t)
	cfg := Config{Rooms: []Room{{Name: "lab", AutoSession: true, Defaults: SessionSettings{RateBurst: 1, RatePerSecond: 2}}}}
	ts := startServer(t, t.TempDir(), cfg, newFakeClock())
	defer ts.Close()
	a, b := dialKiosk(t, ts.url, "A"), dialKiosk(t, ts.url, "B")
	a.join(protocol.JoinRequest{Room: "lab"})
	b.join(protocol.JoinRequest{Room: "lab"})
	a.waitPaired()
	a.chat("group", "one", "1")
	a.send(protocol.TypeChat, "two", protocol.ChatSend{Channel: "group", Body: "two", ClientMsgID: "2"})
	if e := a.expectError("two", protocol.CodeRateLimited); e.RetryAfterMS != 500 {
		t.Fatalf("retry_after_ms = %d, want 500 (one token at 2 a second)", e.RetryAfterMS)
	}
}

func TestKioskReportsAreAcknowledgedAndStoredOnce(t *testing.T) {
	checkGoroutines(t)
	ts := startServer(t, t.TempDir(), Config{}, newFakeClock())
	defer ts.Close()
	a, b := dialKiosk(t, ts.url, "A"), dialKiosk(t, ts.url, "B")
	w := a.join(protocol.JoinRequest{})
	b.join(protocol.JoinRequest{})
	a.waitPaired()
	st := protocol.Stats{Peer: b.id(), RTTMS: 2, FPSRecv: 30, ID: "stats-1", AtMS: w.ServerTimeMS}
	cs := protocol.CallState{Peer: b.id(), State: protocol.CallConnecting, ID: "cs-1", AtMS: w.ServerTimeMS}
	for range 2 { // the second time is a resend after a drop
		a.send(protocol.TypeStats, "report:stats-1", st)
		a.send(protocol.TypeCallState, "report:cs-1", cs)
		for _, ref := range []string{"report:stats-1", "report:cs-1"} {
			if env := a.next(protocol.TypeAck); env.Ref != ref {
				t.Fatalf("ack for %q, want %q", env.Ref, ref)
			}
		}
	}
	kinds := eventKinds(t, ts, w.Session, EvStats, EvCallState)
	if kinds[EvStats] != 1 || kinds[EvCallState] != 1 {
		t.Fatalf("events %v, want one stats and one call_state", kinds)
	}
	evs, _ := ts.Store().Events(w.Session)
	for _, e := range evs {
		if e.Kind == EvStats && !strings.Contains(string(e.Data), `"peer_code":"`+codeOf(t, ts, w.Session, b.id())+`"`) {
			t.Fatalf("stats event %s does not name the partner's participant code", e.Data)
		}
	}
}

func codeOf(t *testing.T, ts *testServer, session, id string) string {
	ps, err := ts.Store().Participants(session)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if p.ID == id {
			return p.Code
		}
	}
	t.Fatalf("no participant %s", id)
	return ""
}

// postRaw posts body as it is (not re-encoded) to the experimenter API and
// returns the status and the reply (its "error" when it has one).
func postRaw(t *testing.T, ts *testServer, path string, body []byte) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", ts.base+path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+ts.AdminToken())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	reply, _ := io.ReadAll(resp.Body)
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(reply, &e) == nil && e.Error != "" {
		return resp.StatusCode, e.Error
	}
	return resp.StatusCode, string(reply)
}

// The experimenter API checks what it is sent as the protocol checks a
// kiosk's frames: invalid UTF-8 is refused naming the field, never stored
// with U+FFFD in its place, and decode errors are in the protocol's words.
func TestAPIRefusesInvalidUTF8AndSaysWhatIsWrong(t *testing.T) {
	checkGoroutines(t)
	ts := startServer(t, t.TempDir(), Config{}, newFakeClock())
	defer ts.Close()
	k := dialKiosk(t, ts.url, "K")
	w := k.join(protocol.JoinRequest{})
	path := "/api/sessions/" + w.Session + "/channels/experimenter/messages"
	for _, c := range []struct {
		name, body string
		want       []string
	}{
		{"raw invalid byte", "{\"body\":\"caf\xe9\"}", []string{`field "body" is not valid UTF-8`}},
		{"escaped lone surrogate", `{"body":"caf\ud800"}`, []string{`field "body" is not valid UTF-8`}},
		{"invalid byte in a key", "{\"bo\xffdy\":\"x\"}", []string{"field name", "UTF-8"}},
		{"a number for a string", `{"body":1}`, []string{`field "body" must be a string, not number`}},
		{"an unknown field", `{"body":"x","colour":"red"}`, []string{`field "colour" is not known`}},
		{"cut short", `{"body":"x"`, []string{"not valid JSON"}},
		{"two values", `{"body":"x"}{"body":"y"}`, []string{"more than one JSON value"}},
	} {
		status, reply := postRaw(t, ts, path, []byte(c.body))
		if status != http.StatusBadRequest {
			t.Errorf("%s: status %d (%s), want 400", c.name, status, reply)
			continue
		}
		for _, want := range c.want {
			if !strings.Contains(reply, want) {
				t.Errorf("%s: reply %s, want it to say %q", c.name, reply, want)
			}
		}
		if strings.Contains(reply, "Go struct") || strings.Contains(reply, "json:") {
			t.Errorf("%s: reply %s speaks Go", c.name, reply)
		}
	}
	// Session settings are checked the same way, named inside "settings".
	if status, reply := postRaw(t, ts, "/api/sessions", []byte(`{"room":"lab","settings":{"duration_s":"long"}}`)); status != http.StatusBadRequest ||
		!strings.Contains(reply, `field "settings.duration_s" must be a whole number`) {
		t.Errorf("settings of the wrong type: %d %s", status, reply)
	}
	// A literal U+FFFD that was really sent is text like any other.
	if status, reply := postRaw(t, ts, path, []byte(`{"body":"a real \ufffd"}`)); status != http.StatusOK {
		t.Fatalf("valid message: %d %s", status, reply)
	}
	msgs, err := ts.Store().Messages(w.Session, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 || msgs[0].Body != "a real \uFFFD" {
		t.Fatalf("stored %+v, want only the valid message", msgs)
	}
}

// A join parked until a session opens (no_session) is a join: the kiosk
// waits as told and is not cut off by the join timeout (its reconnects
// would use up the per-address join cap). A parked join the session then
// refuses is closed in time like any connection that has not joined.
func TestParkedJoinIsNotCutOffByTheJoinTimeout(t *testing.T) {
	checkGoroutines(t)
	clock := newFakeClock()
	ts := startServer(t, t.TempDir(), Config{Rooms: []Room{{Name: "econlab"}}}, clock)
	defer ts.Close()
	kim, kim2 := dialKiosk(t, ts.url, "Kim"), dialKiosk(t, ts.url, "Kim2")
	for i, k := range []*kiosk{kim, kim2} {
		// The same pseudonym: once the session opens, one of them is refused.
		k.send(protocol.TypeJoin, "j", protocol.JoinRequest{Room: "econlab", Seat: fmt.Sprintf("s%d", i), Pseudonym: "Kim"})
		k.expectError("j", protocol.CodeNoSession)
	}
	for range 3 {
		clock.Advance(DefaultJoinTimeout)
	}
	// Still connected: each is answered.
	kim.drain()
	kim2.drain()
	if code := ts.api(t, "POST", "/api/sessions", ts.AdminToken(), map[string]any{"room": "econlab"}, nil); code != http.StatusOK {
		t.Fatalf("create session: %d", code)
	}
	var joined, refused *kiosk
	for joined == nil || refused == nil {
		for _, k := range []*kiosk{kim, kim2} {
			for _, env := range k.drain() {
				switch {
				case env.Type == protocol.TypeWelcome:
					joined = k
				case env.Type == protocol.TypeError && env.Ref == "j":
					refused = k
				}
			}
		}
	}
	if joined == refused {
		t.Fatalf("%s both joined and was refused", joined.name)
	}
	clock.Advance(DefaultJoinTimeout)
	select {
	case <-refused.done:
	case <-time.After(waitTimeout):
		t.Fatalf("%s: refused when the session opened, and never closed", refused.name)
	}
	var ce *websocket.CloseError
	if !asClose(refused.closed, &ce) || ce.Code != websocket.ClosePolicyViolation {
		t.Fatalf("%s closed with %v, want 1008", refused.name, refused.closed)
	}
	joined.drain() // the joined one stays
}
