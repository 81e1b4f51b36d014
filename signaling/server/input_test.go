package server

import (
	"context"
	"encoding/csv"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/parley-lab/parley/signaling/client"
	"github.com/parley-lab/parley/signaling/export"
	"github.com/parley-lab/parley/signaling/protocol"
)

func TestBadInputGetsClearErrorAndConnectionStaysUp(t *testing.T) {
	checkGoroutines(t)
	cfg := Config{Rooms: []Room{{Name: "lab", AutoSession: true, Defaults: SessionSettings{MaxMessageRunes: 10, RateBurst: 3, RatePerSecond: 0.001}}}}
	ts := startServer(t, t.TempDir(), cfg, newFakeClock())
	defer ts.Close()
	k := dialKiosk(t, ts.url, "K")
	raw := func(ref, frame, code string) {
		t.Helper()
		if err := k.c.SendRaw([]byte(frame)); err != nil {
			t.Fatal(err)
		}
		k.expectError(ref, code)
	}
	raw("", `{not json`, protocol.CodeMalformed)
	raw("v", `{"v":7,"type":"join","ref":"v"}`, protocol.CodeBadVersion)
	raw("u", `{"v":1,"type":"teleport","ref":"u"}`, protocol.CodeUnknownType)
	raw("f", `{"v":1,"type":"join","ref":"f","data":{"room":42}}`, protocol.CodeMalformed)
	raw("n", `{"v":1,"type":"chat","ref":"n","data":{"channel":"group","body":"hi"}}`, protocol.CodeNotJoined)
	raw("s", `{"v":1,"type":"welcome","ref":"s"}`, protocol.CodeNotJoined)

	join := func(ref string, req protocol.JoinRequest, code, mention string) {
		t.Helper()
		k.send(protocol.TypeJoin, ref, req)
		e := k.expectError(ref, code)
		if !strings.Contains(e.Message, mention) {
			t.Fatalf("error %q does not mention %q", e.Message, mention)
		}
	}
	join("p1", protocol.JoinRequest{Room: "lab", Seat: "s1", Pseudonym: "   "}, protocol.CodeBadPseudonym, "empty")
	join("p2", protocol.JoinRequest{Room: "lab", Seat: "s1", Pseudonym: strings.Repeat("x", 33)}, protocol.CodeBadPseudonym, "33 characters")
	join("p3", protocol.JoinRequest{Room: "lab", Seat: "s1", Pseudonym: "bad\x07bell"}, protocol.CodeBadPseudonym, "control character")
	join("p4", protocol.JoinRequest{Room: "lab", Seat: "s1", Pseudonym: "evil\u202Egnp.exe"}, protocol.CodeBadPseudonym, "text-direction")
	join("p5", protocol.JoinRequest{Room: "lab", Seat: "s1", Pseudonym: "zero\u200Bwidth"}, protocol.CodeBadPseudonym, "invisible")
	join("r", protocol.JoinRequest{Room: "nolab", Seat: "s1", Pseudonym: "Ok"}, protocol.CodeUnknownRoom, "nolab")
	join("t", protocol.JoinRequest{Token: "forged"}, protocol.CodeBadToken, "token")
	join("seat", protocol.JoinRequest{Room: "lab", Seat: "", Pseudonym: "Ok"}, protocol.CodeBadSeat, "seat")

	// After all that, a good join still works on the same connection.
	w := k.join(protocol.JoinRequest{Room: "lab", Seat: "s1", Pseudonym: "  Kim  "})
	if w.Pseudonym != "Kim" {
		t.Fatalf("pseudonym not trimmed: %q", w.Pseudonym)
	}
	join("again", protocol.JoinRequest{Room: "lab", Seat: "s1", Pseudonym: "Kim"}, protocol.CodeAlreadyJoined, "already")

	other := dialKiosk(t, ts.url, "Other")
	other.join(protocol.JoinRequest{Room: "lab", Seat: "s2"})
	k.waitPaired()
	chat := func(ref string, cs protocol.ChatSend, code string) protocol.Error {
		t.Helper()
		k.send(protocol.TypeChat, ref, cs)
		return k.expectError(ref, code)
	}
	chat("long", protocol.ChatSend{Channel: "group", Body: "12345678901", ClientMsgID: "l"}, protocol.CodeTooLong)
	chat("empty", protocol.ChatSend{Channel: "group", Body: " \n ", ClientMsgID: "e"}, protocol.CodeEmpty)
	chat("nochan", protocol.ChatSend{Channel: "buyers", Body: "hi", ClientMsgID: "x"}, protocol.CodeNoChannel)
	chat("ro", protocol.ChatSend{Channel: "experimenter", Body: "hi", ClientMsgID: "y"}, protocol.CodeReadOnly)
	// The group's chat is private to the group: another group's key is not a name a kiosk can use.
	chat("key", protocol.ChatSend{Channel: "group:" + w.Session + "-g2", Body: "hi", ClientMsgID: "z"}, protocol.CodeNoChannel)
	k.send(protocol.TypeSignal, "sig", protocol.Signal{To: k.id(), Kind: protocol.SignalOffer, SDP: "x"})
	k.expectError("sig", protocol.CodeNotInGroup)
	k.send(protocol.TypeSignal, "kind", protocol.Signal{To: other.id(), Kind: "bogus"})
	k.expectError("kind", protocol.CodeBadField)
	k.send(protocol.TypeSignal, "giveup", protocol.Signal{To: other.id(), Kind: protocol.SignalGiveUp})
	if e := k.expectError("giveup", protocol.CodeBadField); e.Field != "call" {
		t.Errorf("a give_up without call: field %q, want call", e.Field)
	}
	// Exactly at the limit is fine; the limit is in characters, not bytes.
	k.chat("group", "äöü😀😀😀😀😀😀😀", "ok1")
	k.chat("group", "ok", "ok2")
	k.chat("group", "ok", "ok3")
	e := chat("rate", protocol.ChatSend{Channel: "group", Body: "one more", ClientMsgID: "r"}, protocol.CodeRateLimited)
	if !strings.Contains(e.Message, "wait") {
		t.Fatalf("rate limit message: %q", e.Message)
	}
	// Nothing refused was stored.
	msgs, _ := ts.Store().Messages(w.Session, "", 0)
	if len(msgs) != 3 {
		t.Fatalf("%d messages stored, want the 3 accepted", len(msgs))
	}
}

func TestOversizedFrameClosesWith1009(t *testing.T) {
	checkGoroutines(t)
	ts := startServer(t, t.TempDir(), Config{}, nil)
	defer ts.Close()
	k := dialKiosk(t, ts.url, "K")
	big := `{"v":1,"type":"chat","data":{"body":"` + strings.Repeat("x", protocol.MaxFrameBytes) + `"}}`
	k.c.SendRaw([]byte(big))
	select {
	case <-k.done:
	case <-time.After(waitTimeout):
		t.Fatal("connection not closed")
	}
	var ce *websocket.CloseError
	if !errors.As(k.closed, &ce) || ce.Code != websocket.CloseMessageTooBig {
		t.Fatalf("closed with %v, want 1009", k.closed)
	}
}

func TestDeadKioskNoticed(t *testing.T) {
	checkGoroutines(t)
	cfg := Config{PingInterval: 50 * time.Millisecond, PongWait: 100 * time.Millisecond}
	ts := startServer(t, t.TempDir(), cfg, nil)
	defer ts.Close()
	a := dialKiosk(t, ts.url, "A")
	a.join(protocol.JoinRequest{})
	// A kiosk that stops reading never answers pings (gorilla answers while reading).
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	dead, err := client.Dial(ctx, ts.url)
	if err != nil {
		t.Fatal(err)
	}
	defer dead.Close()
	dead.Send(protocol.TypeJoin, "", protocol.JoinRequest{Room: DefaultRoom, Seat: "dead", Pseudonym: "Dead"})
	dead.Send(protocol.TypeReady, "", nil)
	a.waitPaired()
	var ps protocol.PeerState
	a.nextBody(protocol.TypePeerState, &ps)
	if ps.Online {
		t.Fatalf("peer state = %+v", ps)
	}
}

func TestExperimenterAPIAuthAndData(t *testing.T) {
	checkGoroutines(t)
	cfg := Config{Rooms: []Room{{Name: "econlab"}}}
	ts := startServer(t, t.TempDir(), cfg, nil)
	defer ts.Close()
	// No session is open and the room does not open one itself.
	k := dialKiosk(t, ts.url, "K")
	k.send(protocol.TypeJoin, "j", protocol.JoinRequest{Room: "econlab", Seat: "s1", Pseudonym: "Kim"})
	k.expectError("j", protocol.CodeNoSession)

	if code := ts.api(t, "GET", "/api/sessions", "", nil, nil); code != http.StatusUnauthorized {
		t.Fatalf("no token: %d", code)
	}
	if code := ts.api(t, "GET", "/api/sessions", "wrong-token-wrong-token", nil, nil); code != http.StatusUnauthorized {
		t.Fatalf("wrong token: %d", code)
	}
	var bad []byte
	if code := ts.api(t, "POST", "/api/sessions", ts.AdminToken(), map[string]any{"room": "econlab", "settings": map[string]any{"matching": "lottery"}}, &bad); code != http.StatusBadRequest || !strings.Contains(string(bad), "matching") {
		t.Fatalf("bad settings: %d %s", code, bad)
	}
	var sv SessionView
	if code := ts.api(t, "POST", "/api/sessions", ts.AdminToken(), map[string]any{"room": "econlab", "settings": map[string]any{"matching": "random", "duration_s": 120, "session_chat": true}}, &sv); code != http.StatusOK {
		t.Fatalf("create: %d", code)
	}
	// A participant's resume token does not open the API.
	w := k.join(protocol.JoinRequest{Room: "econlab", Seat: "s1", Pseudonym: "Kim"})
	if code := ts.api(t, "GET", "/api/sessions", w.Token, nil, nil); code != http.StatusUnauthorized {
		t.Fatalf("participant token accepted by the API: %d", code)
	}
	k2 := dialKiosk(t, ts.url, "K2")
	k2.join(protocol.JoinRequest{Room: "econlab", Seat: "s2", Pseudonym: "Lee"})
	// Random matching waits for the experimenter's start.
	for _, env := range k.drain() {
		if env.Type == protocol.TypePaired {
			t.Fatal("random session paired before it was started")
		}
	}
	if code := ts.api(t, "POST", "/api/sessions/"+sv.Code+"/start", ts.AdminToken(), nil, &sv); code != http.StatusOK || sv.State != "started" {
		t.Fatalf("start: %d %+v", code, sv)
	}
	k.waitPaired()
	k2.waitPaired()
	var parts []ParticipantView
	ts.api(t, "GET", "/api/sessions/"+sv.Code+"/participants", ts.AdminToken(), nil, &parts)
	if len(parts) != 2 || parts[0].State != "paired" || !parts[0].Connected || parts[0].Group != 1 {
		t.Fatalf("participants: %+v", parts)
	}
	// Experimenter posts to the announcements channel; both kiosks get it.
	var posted APIMessage
	if code := ts.api(t, "POST", "/api/sessions/"+sv.Code+"/channels/experimenter/messages", ts.AdminToken(), map[string]string{"body": "Two minutes left"}, &posted); code != http.StatusOK {
		t.Fatalf("post: %d", code)
	}
	for _, kk := range []*kiosk{k, k2} {
		var m protocol.ChatMessage
		kk.nextBody(protocol.TypeChatMsg, &m)
		if m.Role != protocol.RoleExperimenter || m.Body != "Two minutes left" || m.Channel != "experimenter" {
			t.Fatalf("%s got %+v", kk.name, m)
		}
	}
	k.chat("session", "hello everyone", "s1")
	var chans []ChannelView
	ts.api(t, "GET", "/api/sessions/"+sv.Code+"/channels", ts.AdminToken(), nil, &chans)
	// group, session, experimenter, and each participant's private channel.
	if len(chans) != 5 || chans[3].Kind != protocol.ChannelPrivate || len(chans[3].Members) != 1 {
		t.Fatalf("channels: %+v", chans)
	}
	var cv ChannelView
	if code := ts.api(t, "GET", "/api/sessions/"+sv.Code+"/channels/session", ts.AdminToken(), nil, &cv); code != http.StatusOK || cv.Messages != 1 || len(cv.Members) != 2 {
		t.Fatalf("channel session: %d %+v", code, cv)
	}
	if code := ts.api(t, "GET", "/api/sessions/"+sv.Code+"/channels/nope", ts.AdminToken(), nil, nil); code != http.StatusNotFound {
		t.Fatalf("missing channel: %d", code)
	}
	var msgs []APIMessage
	ts.api(t, "GET", "/api/sessions/"+sv.Code+"/channels/session/messages", ts.AdminToken(), nil, &msgs)
	if len(msgs) != 1 || msgs[0].Nickname != "Kim" {
		t.Fatalf("messages: %+v", msgs)
	}
	if code := ts.api(t, "POST", "/api/sessions/"+sv.Code+"/end", ts.AdminToken(), nil, &sv); code != http.StatusOK || sv.State != "ended" {
		t.Fatalf("end: %d", code)
	}
	var e protocol.Ended
	k.nextBody(protocol.TypeEnded, &e)
	if e.Reason != "experimenter" {
		t.Fatalf("ended: %+v", e)
	}
	var body []byte
	if code := ts.api(t, "GET", "/api/sessions/"+sv.Code+"/export?format=xml", ts.AdminToken(), nil, &body); code != http.StatusBadRequest || !strings.Contains(string(body), "xml") {
		t.Fatalf("bad export format: %d %s", code, body)
	}
	if code := ts.api(t, "GET", "/api/sessions/"+sv.Code+"/export?kind=events&format=csv", ts.AdminToken(), nil, &body); code != http.StatusOK {
		t.Fatalf("events export: %d", code)
	}
	recs, err := csv.NewReader(strings.NewReader(string(body))).ReadAll()
	if err != nil || len(recs) < 5 || strings.Join(recs[0], ",") != strings.Join(export.EventColumns, ",") {
		t.Fatalf("events export: %v %q", err, body)
	}
}

func TestCSVExportRoundTrip(t *testing.T) {
	checkGoroutines(t)
	ts := startServer(t, t.TempDir(), Config{}, nil)
	defer ts.Close()
	a, b := dialKiosk(t, ts.url, "A, the first"), dialKiosk(t, ts.url, `B "quoted"`)
	wa := a.join(protocol.JoinRequest{})
	b.join(protocol.JoinRequest{})
	a.waitPaired()
	b.waitPaired()
	startCall(t, a, b)
	a.next(protocol.TypeClock)
	bodies := []string{
		"plain",
		"commas, in, it",
		`she said "no", then "yes"`,
		"two\nlines\r\nand CRLF",
		"emoji 😀👍🏽 and ünïcödé",
		"  leading and trailing spaces  ",
		`"`,
		"=SUM(A1:A2)",
	}
	for i, body := range bodies {
		k := a
		if i%2 == 1 {
			k = b
		}
		k.chat("group", body, "m"+string(rune('a'+i)))
	}
	var data []byte
	if code := ts.api(t, "GET", "/api/sessions/"+wa.Session+"/export?format=csv", ts.AdminToken(), nil, &data); code != http.StatusOK {
		t.Fatalf("export: %d %s", code, data)
	}
	recs, err := parseRFC4180(string(data))
	if err != nil {
		t.Fatalf("export does not parse as CSV: %v", err)
	}
	if got := strings.Join(recs[0], ","); got != strings.Join(export.MessageColumns, ",") {
		t.Fatalf("header %q", got)
	}
	col := map[string]int{}
	for i, c := range recs[0] {
		col[c] = i
	}
	if len(recs)-1 != len(bodies) {
		t.Fatalf("%d rows, want %d", len(recs)-1, len(bodies))
	}
	for i, r := range recs[1:] {
		if r[col["body"]] != bodies[i] {
			t.Errorf("row %d body %q, want %q", i, r[col["body"]], bodies[i])
		}
		wantNick := a.name
		if i%2 == 1 {
			wantNick = b.name
		}
		if r[col["nickname"]] != wantNick || r[col["session_code"]] != wa.Session || r[col["group"]] != "1" ||
			r[col["sender_role"]] != "participant" || r[col["seq"]] != itoa(i+1) || r[col["elapsed_s"]] == "" ||
			!strings.HasSuffix(r[col["timestamp_iso"]], "Z") || !strings.Contains(r[col["timestamp"]], ".") ||
			r[col["late"]] != "false" {
			t.Errorf("row %d: %q", i, r)
		}
	}

	// For a spreadsheet: a byte order mark, and the formula shown as text.
	var xl []byte
	if code := ts.api(t, "GET", "/api/sessions/"+wa.Session+"/export?format=csv&excel=1", ts.AdminToken(), nil, &xl); code != http.StatusOK {
		t.Fatalf("excel export: %d %s", code, xl)
	}
	if !strings.HasPrefix(string(xl), "\uFEFF") {
		t.Fatal("excel export has no byte order mark")
	}
	xrecs, err := parseRFC4180(strings.TrimPrefix(string(xl), "\uFEFF"))
	if err != nil {
		t.Fatal(err)
	}
	if got := xrecs[len(xrecs)-1][col["body"]]; got != "'=SUM(A1:A2)" {
		t.Fatalf("formula cell in the excel export: %q", got)
	}
	if got := xrecs[1][col["body"]]; got != "plain" {
		t.Fatalf("plain cell changed: %q", got)
	}
	var bad []byte
	if code := ts.api(t, "GET", "/api/sessions/"+wa.Session+"/export?format=jsonl&excel=1", ts.AdminToken(), nil, &bad); code != http.StatusBadRequest {
		t.Fatalf("excel with jsonl: %d %s, want 400", code, bad)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// parseRFC4180 is a strict reader that, unlike encoding/csv, keeps a CR
// inside a quoted field, so the test sees exactly what was written.
func parseRFC4180(s string) ([][]string, error) {
	var recs [][]string
	var rec []string
	var field strings.Builder
	i := 0
	for i < len(s) {
		if s[i] == '"' {
			i++
			for {
				if i >= len(s) {
					return nil, errors.New("unterminated quoted field")
				}
				if s[i] == '"' {
					if i+1 < len(s) && s[i+1] == '"' {
						field.WriteByte('"')
						i += 2
						continue
					}
					i++
					break
				}
				field.WriteByte(s[i])
				i++
			}
		}
		for i < len(s) && s[i] != ',' && s[i] != '\n' && s[i] != '\r' {
			if s[i] == '"' {
				return nil, errors.New("quote inside an unquoted field")
			}
			field.WriteByte(s[i])
			i++
		}
		rec = append(rec, field.String())
		field.Reset()
		if i >= len(s) {
			break
		}
		switch s[i] {
		case ',':
			i++
			if i == len(s) {
				rec = append(rec, "")
			}
		case '\r':
			i++
			if i < len(s) && s[i] == '\n' {
				i++
			}
			recs, rec = append(recs, rec), nil
		case '\n':
			i++
			recs, rec = append(recs, rec), nil
		}
	}
	if rec != nil {
		recs = append(recs, rec)
	}
	return recs, nil
}
