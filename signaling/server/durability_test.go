package server

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-lab/parley/signaling/protocol"
	"github.com/parley-lab/parley/signaling/store"
)

func TestRestartMidDiscussion(t *testing.T) {
	checkGoroutines(t)
	dir := t.TempDir()
	clock := newFakeClock()
	ts := startServer(t, dir, Config{}, clock)
	a, b := dialKiosk(t, ts.url, "A"), dialKiosk(t, ts.url, "B")
	wa := a.join(protocol.JoinRequest{})
	wb := b.join(protocol.JoinRequest{})
	pa := a.waitPaired()
	b.waitPaired()
	startCall(t, a, b)
	var clk protocol.Clock
	a.nextBody(protocol.TypeClock, &clk)
	a.chat("group", "before the restart", "a1")
	b.chat("group", "me too", "b1")
	clock.Advance(100 * time.Second)
	ts.Close()
	a.close()
	b.close()

	// Same data directory, new process state.
	ts2 := startServer(t, dir, Config{}, clock)
	defer ts2.Close()
	a2, b2 := dialKiosk(t, ts2.url, "A2"), dialKiosk(t, ts2.url, "B2")
	w := a2.join(protocol.JoinRequest{Token: wa.Token})
	if w.ParticipantID != wa.ParticipantID || w.Pseudonym != "A" || w.Session != wa.Session {
		t.Fatalf("after restart: %+v", w)
	}
	p := a2.waitPaired()
	if p.Group != pa.Group {
		t.Fatalf("group lost: %s vs %s", p.Group, pa.Group)
	}
	var clk2 protocol.Clock
	a2.nextBody(protocol.TypeClock, &clk2)
	if clk2.DeadlineMS != clk.DeadlineMS {
		t.Fatalf("deadline %d, want %d", clk2.DeadlineMS, clk.DeadlineMS)
	}
	var bodies []string
	for _, env := range a2.drain() {
		if env.Type == protocol.TypeChatMsg {
			var m protocol.ChatMessage
			json.Unmarshal(env.Data, &m)
			bodies = append(bodies, m.Body)
		}
	}
	if strings.Join(bodies, "|") != "before the restart|me too" {
		t.Fatalf("history after restart: %q", bodies)
	}
	b2.join(protocol.JoinRequest{Token: wb.Token, Since: map[string]int64{"group": 2}})
	b2.waitPaired()
	// They carry on: a new message gets the next seq and reaches the partner.
	ack := b2.chat("group", "after the restart", "b2")
	if ack.Message.Seq != 3 {
		t.Fatalf("seq after restart = %d, want 3", ack.Message.Seq)
	}
	var m protocol.ChatMessage
	a2.nextBody(protocol.TypeChatMsg, &m)
	if m.Body != "after the restart" {
		t.Fatalf("A2 got %+v", m)
	}
	// The restored clock still ends the discussion at the original deadline.
	clock.Advance(time.Duration(DefaultDurationS-100) * time.Second)
	var e protocol.Ended
	a2.nextBody(protocol.TypeEnded, &e)
	b2.nextBody(protocol.TypeEnded, &e)
	if e.Reason != "deadline" || e.AtMS != clk.DeadlineMS {
		t.Fatalf("ended = %+v, want deadline at %d", e, clk.DeadlineMS)
	}
}

func TestClockStartsWhenAllConnectedAndEndsBothSides(t *testing.T) {
	checkGoroutines(t)
	clock := newFakeClock()
	cfg := Config{Rooms: []Room{{Name: "econlab", AutoSession: true, Defaults: SessionSettings{DurationS: 60}}}}
	ts := startServer(t, t.TempDir(), cfg, clock)
	defer ts.Close()
	a, b := dialKiosk(t, ts.url, "A"), dialKiosk(t, ts.url, "B")
	a.join(protocol.JoinRequest{Room: "econlab"})
	b.join(protocol.JoinRequest{Room: "econlab"})
	a.waitPaired()
	b.waitPaired()
	clock.Advance(2 * time.Second)
	a.send(protocol.TypeCallState, "", protocol.CallState{Peer: b.id(), State: protocol.CallConnected})
	for _, env := range a.drain() {
		if env.Type == protocol.TypeClock {
			t.Fatal("clock started when only one side was connected")
		}
	}
	b.send(protocol.TypeCallState, "", protocol.CallState{Peer: a.id(), State: protocol.CallConnected})
	var ca, cb protocol.Clock
	a.nextBody(protocol.TypeClock, &ca)
	b.nextBody(protocol.TypeClock, &cb)
	if ca.DeadlineMS != cb.DeadlineMS || ca.DeadlineMS-ca.StartedAtMS != 60_000 || ca.Reason != ClockAllConnected {
		t.Fatalf("clocks %+v / %+v", ca, cb)
	}
	// B drops just before the end; it learns of the end when it returns.
	wb := b.welcome
	b.close()
	clock.Advance(60 * time.Second)
	var e protocol.Ended
	a.nextBody(protocol.TypeEnded, &e)
	a.send(protocol.TypeChat, "late", protocol.ChatSend{Channel: "group", Body: "too late", ClientMsgID: "z"})
	a.expectError("late", protocol.CodeChatClosed)
	b2 := dialKiosk(t, ts.url, "B2")
	b2.join(protocol.JoinRequest{Token: wb.Token})
	b2.nextBody(protocol.TypeEnded, &e)
	if e.Reason != "deadline" || e.AtMS != ca.DeadlineMS {
		t.Fatalf("B's end = %+v", e)
	}
	// Both times are logged.
	eventKinds(t, ts, a.welcome.Session, EvJoin, EvPaired, EvCallState, EvCallConnected, EvClockStart, EvClockEnd, EvDisconnect, EvReconnect)
}

func TestClockFallbackWhenCallNeverConnects(t *testing.T) {
	checkGoroutines(t)
	clock := newFakeClock()
	cfg := Config{Rooms: []Room{{Name: "lab", AutoSession: true, Defaults: SessionSettings{DurationS: 60, ClockFallbackS: 20}}}}
	ts := startServer(t, t.TempDir(), cfg, clock)
	defer ts.Close()
	a, b := dialKiosk(t, ts.url, "A"), dialKiosk(t, ts.url, "B")
	a.join(protocol.JoinRequest{})
	b.join(protocol.JoinRequest{})
	a.waitPaired()
	b.waitPaired()
	clock.Advance(19 * time.Second)
	for _, env := range a.drain() {
		if env.Type == protocol.TypeClock {
			t.Fatal("clock started before the fallback")
		}
	}
	clock.Advance(time.Second)
	var c protocol.Clock
	b.nextBody(protocol.TypeClock, &c)
	if c.Reason != "fallback" {
		t.Fatalf("clock reason %q", c.Reason)
	}
}

func TestAssignedPseudonymsAreStableAcrossRestart(t *testing.T) {
	checkGoroutines(t)
	dir := t.TempDir()
	cfg := Config{Rooms: []Room{{Name: "lab", AutoSession: true, Defaults: SessionSettings{AssignPseudonyms: true}}}}
	ts := startServer(t, dir, cfg, nil)
	a := dialKiosk(t, ts.url, "A")
	a.send(protocol.TypeJoin, "", protocol.JoinRequest{Room: "lab", Seat: "ws-01"})
	var w protocol.Welcome
	a.nextBody(protocol.TypeWelcome, &w)
	if w.Pseudonym == "" {
		t.Fatal("no pseudonym assigned")
	}
	a.close()
	ts.Close()
	ts2 := startServer(t, dir, cfg, nil)
	defer ts2.Close()
	a2 := dialKiosk(t, ts2.url, "A2")
	w2 := a2.join(protocol.JoinRequest{Token: w.Token})
	if w2.Pseudonym != w.Pseudonym {
		t.Fatalf("assigned pseudonym changed after restart: %q -> %q", w.Pseudonym, w2.Pseudonym)
	}
}

func TestWebhookSurvivesRestart(t *testing.T) {
	checkGoroutines(t)
	var mu sync.Mutex
	var got []WebhookPayload
	failFirst := true
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p WebhookPayload
		body, _ := io.ReadAll(r.Body)
		json.Unmarshal(body, &p)
		mu.Lock()
		defer mu.Unlock()
		if failFirst { // a flaky receiver: the first attempt fails and is retried
			failFirst = false
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		got = append(got, p)
	}))
	defer hook.Close()
	waitFor := func(n int) []WebhookPayload {
		t.Helper()
		deadline := time.Now().Add(waitTimeout)
		for time.Now().Before(deadline) {
			mu.Lock()
			if len(got) >= n {
				out := append([]WebhookPayload(nil), got...)
				mu.Unlock()
				return out
			}
			mu.Unlock()
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatalf("webhook received %d of %d messages", len(got), n)
		return nil
	}
	dir := t.TempDir()
	cfg := Config{WebhookBackoff: 50 * time.Millisecond}
	ts := startServer(t, dir, cfg, nil)
	a, b := dialKiosk(t, ts.url, "A"), dialKiosk(t, ts.url, "B")
	wa := a.join(protocol.JoinRequest{})
	b.join(protocol.JoinRequest{})
	a.waitPaired()
	b.waitPaired()
	if code := ts.api(t, "POST", "/api/sessions/"+wa.Session+"/webhooks", ts.AdminToken(), map[string]string{"url": hook.URL}, nil); code != http.StatusOK {
		t.Fatalf("register webhook: %d", code)
	}
	a.chat("group", "first", "1")
	waitFor(1)
	a.close()
	b.close()
	ts.Close()

	ts2 := startServer(t, dir, cfg, nil)
	defer ts2.Close()
	a2 := dialKiosk(t, ts2.url, "A2")
	a2.join(protocol.JoinRequest{Token: wa.Token})
	a2.waitPaired()
	a2.chat("group", "after restart", "2")
	ps := waitFor(2)
	if ps[0].Message.Body != "first" || ps[1].Message.Body != "after restart" || ps[1].Session != wa.Session {
		t.Fatalf("webhook payloads: %+v", ps)
	}
}

func TestMessagesCommittedBeforeDelivery(t *testing.T) {
	checkGoroutines(t)
	dir := t.TempDir()
	ts := startServer(t, dir, Config{}, nil)
	defer ts.Close()
	a, b := dialKiosk(t, ts.url, "A"), dialKiosk(t, ts.url, "B")
	wa := a.join(protocol.JoinRequest{})
	b.join(protocol.JoinRequest{})
	a.waitPaired()
	b.waitPaired()
	a.send(protocol.TypeChat, "", protocol.ChatSend{Channel: "group", Body: "durable", ClientMsgID: "d1"})
	var m protocol.ChatMessage
	b.nextBody(protocol.TypeChatMsg, &m)
	// A separate connection to the file (as after kill -9) sees it.
	st, err := store.OpenReadOnly(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	msgs, err := st.Messages(wa.Session, "", 0)
	if err != nil || len(msgs) != 1 || msgs[0].ID != m.ID {
		t.Fatalf("stored %+v, %v; delivered %s", msgs, err, m.ID)
	}
}

// A long chat history is replayed in full to a participant who joins late:
// the replay must never count as a slow kiosk and be dropped.
func TestLongHistoryReplayedInFull(t *testing.T) {
	checkGoroutines(t)
	cfg := Config{Rooms: []Room{{Name: "lab", AutoSession: true, Defaults: SessionSettings{SessionChat: true, RateBurst: 2000, RatePerSecond: 1000}}}}
	ts := startServer(t, t.TempDir(), cfg, nil)
	defer ts.Close()
	a := dialKiosk(t, ts.url, "A")
	a.join(protocol.JoinRequest{})
	const n = 1500
	body := strings.Repeat("long history ", 20)
	for i := range n {
		a.send(protocol.TypeChat, "", protocol.ChatSend{Channel: "session", Body: body, ClientMsgID: fmt.Sprint(i)})
	}
	for range n {
		a.next(protocol.TypeChatAck)
	}
	late := dialKiosk(t, ts.url, "Late")
	late.join(protocol.JoinRequest{})
	got := 0
	for got < n {
		var m protocol.ChatMessage
		late.nextBody(protocol.TypeChatMsg, &m)
		if !m.Replay || m.Seq != int64(got+1) {
			t.Fatalf("replayed message %d: %+v", got, m)
		}
		got++
	}
}
