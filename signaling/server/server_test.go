package server

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/parley-lab/parley/signaling/protocol"
)

func TestHealthz(t *testing.T) {
	checkGoroutines(t)
	ts := startServer(t, t.TempDir(), Config{}, nil)
	defer ts.Close()
	resp, err := http.Get(ts.base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz: %s", resp.Status)
	}
}

func TestTwoParticipantsPair(t *testing.T) {
	checkGoroutines(t)
	ts := startServer(t, t.TempDir(), Config{ICEServers: []protocol.ICEServer{{URLs: []string{"stun:stun.example.org:3478"}}}}, nil)
	defer ts.Close()
	a := dialKiosk(t, ts.url, "Alice")
	wa := a.join(protocol.JoinRequest{})
	if wa.Pseudonym != "Alice" || wa.Token == "" || wa.ParticipantID == "" || wa.Settings.DurationS != DefaultDurationS {
		t.Fatalf("welcome = %+v", wa)
	}
	var w protocol.Waiting
	a.nextBody(protocol.TypeWaiting, &w)
	if w.Present != 1 || w.Needed != 2 {
		t.Fatalf("waiting = %+v, want 1 of 2", w)
	}
	b := dialKiosk(t, ts.url, "Bob")
	b.join(protocol.JoinRequest{})
	pa, pb := a.waitPaired(), b.waitPaired()
	if pa.Group != pb.Group || len(pa.Members) != 2 {
		t.Fatalf("paired: %+v / %+v", pa, pb)
	}
	// Exactly one offers, to the other.
	if len(pa.OfferTo)+len(pb.OfferTo) != 1 {
		t.Fatalf("offer_to: %v / %v", pa.OfferTo, pb.OfferTo)
	}
	if len(pa.OfferTo) != 1 || pa.OfferTo[0] != b.id() {
		t.Fatalf("the first to arrive should offer to the second: %v", pa.OfferTo)
	}
	if len(pa.ICEServers) != 1 || pa.ICEServers[0].URLs[0] != "stun:stun.example.org:3478" {
		t.Fatalf("ice servers not handed out: %+v", pa.ICEServers)
	}
	// Members see pseudonyms and ids only.
	raw := string(mustJSON(pb))
	for _, env := range b.drain() {
		raw += string(env.Data)
	}
	if strings.Contains(raw, "seat-") {
		t.Fatalf("partner's seat label leaked to the kiosk: %s", raw)
	}
	if pb.Members[0].Pseudonym != "Alice" || pb.Members[1].Pseudonym != "Bob" {
		t.Fatalf("members = %+v", pb.Members)
	}
}

func mustJSON(v any) []byte { b, _ := json.Marshal(v); return b }

func TestThreeParticipantsTwoPairOneWaits(t *testing.T) {
	checkGoroutines(t)
	ts := startServer(t, t.TempDir(), Config{}, nil)
	defer ts.Close()
	a, b, c := dialKiosk(t, ts.url, "A"), dialKiosk(t, ts.url, "B"), dialKiosk(t, ts.url, "C")
	a.join(protocol.JoinRequest{})
	b.join(protocol.JoinRequest{})
	a.waitPaired()
	b.waitPaired()
	c.join(protocol.JoinRequest{})
	var w protocol.Waiting
	c.nextBody(protocol.TypeWaiting, &w)
	if w.Present != 1 {
		t.Fatalf("C waiting = %+v", w)
	}
	for _, env := range c.drain() {
		if env.Type == protocol.TypePaired {
			t.Fatal("C was paired with nobody to pair with")
		}
	}
}

func TestFourParticipantsTwoGroupsNothingCrosses(t *testing.T) {
	checkGoroutines(t)
	ts := startServer(t, t.TempDir(), Config{}, nil)
	defer ts.Close()
	ks := []*kiosk{dialKiosk(t, ts.url, "A"), dialKiosk(t, ts.url, "B"), dialKiosk(t, ts.url, "C"), dialKiosk(t, ts.url, "D")}
	for _, k := range ks {
		k.join(protocol.JoinRequest{})
	}
	for _, k := range ks {
		k.waitPaired()
	}
	a, b, c, d := ks[0], ks[1], ks[2], ks[3]
	if a.paired.Group != b.paired.Group || c.paired.Group != d.paired.Group || a.paired.Group == c.paired.Group {
		t.Fatalf("groups: %s %s %s %s", a.paired.Group, b.paired.Group, c.paired.Group, d.paired.Group)
	}
	// Group 1 talks: offer, candidate, chat.
	a.send(protocol.TypeSignal, "", protocol.Signal{To: b.id(), Kind: protocol.SignalOffer, SDP: "v=0 offer-from-A"})
	a.send(protocol.TypeSignal, "", protocol.Signal{To: b.id(), Kind: protocol.SignalCandidate, Candidate: json.RawMessage(`{"candidate":"candidate:A"}`)})
	a.chat(protocol.ChannelGroup, "secret of group 1", "a1")
	// A cannot signal into the other group.
	a.send(protocol.TypeSignal, "x", protocol.Signal{To: c.id(), Kind: protocol.SignalOffer, SDP: "v=0 intrusion"})
	a.expectError("x", protocol.CodeNotInGroup)
	// B gets exactly what A sent, with the sender set by the server.
	var sig protocol.Signal
	b.nextBody(protocol.TypeSignal, &sig)
	if sig.From != a.id() || sig.SDP != "v=0 offer-from-A" {
		t.Fatalf("B got %+v", sig)
	}
	var msg protocol.ChatMessage
	b.nextBody(protocol.TypeChatMsg, &msg)
	if msg.Body != "secret of group 1" || msg.Pseudonym != "A" || msg.Seq != 1 {
		t.Fatalf("B got %+v", msg)
	}
	// Group 2 got nothing of it.
	for _, k := range []*kiosk{c, d} {
		for _, env := range k.drain() {
			if env.Type == protocol.TypeSignal || env.Type == protocol.TypeChatMsg {
				t.Fatalf("%s received %s from the other group: %s", k.name, env.Type, env.Data)
			}
		}
	}
	// Group 2's own channel starts at seq 1: separate channels.
	ack := c.chat(protocol.ChannelGroup, "group 2 here", "c1")
	if ack.Message.Seq != 1 {
		t.Fatalf("group 2's first message has seq %d", ack.Message.Seq)
	}
	for _, k := range []*kiosk{a, b} {
		for _, env := range k.drain() {
			if env.Type == protocol.TypeChatMsg {
				t.Fatalf("%s received group 2's chat: %s", k.name, env.Data)
			}
		}
	}
}

func TestSignalHeldUntilPartnerReturns(t *testing.T) {
	checkGoroutines(t)
	ts := startServer(t, t.TempDir(), Config{}, nil)
	defer ts.Close()
	a, b := dialKiosk(t, ts.url, "A"), dialKiosk(t, ts.url, "B")
	a.join(protocol.JoinRequest{})
	wb := b.join(protocol.JoinRequest{})
	a.waitPaired()
	b.waitPaired()
	b.close()
	var ps protocol.PeerState
	a.nextBody(protocol.TypePeerState, &ps)
	if ps.Online || ps.ParticipantID != wb.ParticipantID {
		t.Fatalf("peer state = %+v", ps)
	}
	a.send(protocol.TypeSignal, "", protocol.Signal{To: wb.ParticipantID, Kind: protocol.SignalOffer, SDP: "v=0 while-away"})
	a.send(protocol.TypeSignal, "", protocol.Signal{To: wb.ParticipantID, Kind: protocol.SignalCandidate, Candidate: json.RawMessage(`{"candidate":"c1"}`)})
	a.drain() // both relayed (held) before B returns
	b2 := dialKiosk(t, ts.url, "B2")
	w := b2.join(protocol.JoinRequest{Token: wb.Token})
	if !w.Resumed || w.ParticipantID != wb.ParticipantID {
		t.Fatalf("resume welcome = %+v", w)
	}
	var s1, s2 protocol.Signal
	b2.nextBody(protocol.TypeSignal, &s1)
	b2.nextBody(protocol.TypeSignal, &s2)
	if s1.Kind != protocol.SignalOffer || s1.SDP != "v=0 while-away" || s2.Kind != protocol.SignalCandidate {
		t.Fatalf("held signals = %+v, %+v", s1, s2)
	}
	a.nextBody(protocol.TypePeerState, &ps)
	if !ps.Online {
		t.Fatalf("A not told that B is back: %+v", ps)
	}

	// A new offer replaces what is still held from the same sender: the
	// older call's offer and candidates would only confuse the returning kiosk.
	b2.close()
	a.nextBody(protocol.TypePeerState, &ps)
	a.send(protocol.TypeSignal, "", protocol.Signal{To: wb.ParticipantID, Kind: protocol.SignalOffer, SDP: "v=0 first call"})
	a.send(protocol.TypeSignal, "", protocol.Signal{To: wb.ParticipantID, Kind: protocol.SignalCandidate, Candidate: json.RawMessage(`{"candidate":"old"}`)})
	a.send(protocol.TypeSignal, "", protocol.Signal{To: wb.ParticipantID, Kind: protocol.SignalOffer, SDP: "v=0 second call"})
	a.drain()
	b3 := dialKiosk(t, ts.url, "B3")
	b3.join(protocol.JoinRequest{Token: wb.Token})
	var got []protocol.Signal
	for _, env := range b3.drain() {
		if env.Type == protocol.TypeSignal {
			var sg protocol.Signal
			json.Unmarshal(env.Data, &sg)
			got = append(got, sg)
		}
	}
	if len(got) != 1 || got[0].SDP != "v=0 second call" {
		t.Fatalf("held after a second offer: %+v", got)
	}
}

func TestResumeGetsSameIdentityAndOnlyMissedMessages(t *testing.T) {
	checkGoroutines(t)
	clock := newFakeClock()
	ts := startServer(t, t.TempDir(), Config{}, clock)
	defer ts.Close()
	a, b := dialKiosk(t, ts.url, "A"), dialKiosk(t, ts.url, "B")
	a.join(protocol.JoinRequest{})
	wb := b.join(protocol.JoinRequest{})
	a.waitPaired()
	pb := b.waitPaired()
	startCall(t, a, b)
	var clk protocol.Clock
	b.nextBody(protocol.TypeClock, &clk)
	a.chat("group", "one", "a1")
	a.chat("group", "two", "a2")
	var m protocol.ChatMessage
	b.nextBody(protocol.TypeChatMsg, &m)
	b.nextBody(protocol.TypeChatMsg, &m)
	if m.Seq != 2 {
		t.Fatalf("B saw seq %d", m.Seq)
	}
	b.close()
	clock.Advance(30 * time.Second)
	a.chat("group", "three, while B was away", "a3")
	a.chat("group", "four", "a4")

	b2 := dialKiosk(t, ts.url, "B again")
	w := b2.join(protocol.JoinRequest{Token: wb.Token, Since: map[string]int64{"group": 2}})
	if w.Pseudonym != "B" || w.ParticipantID != wb.ParticipantID || w.Token != "" {
		t.Fatalf("resumed welcome = %+v (the token must not be sent again)", w)
	}
	p2 := b2.waitPaired()
	if p2.Group != pb.Group {
		t.Fatalf("group changed: %s -> %s", pb.Group, p2.Group)
	}
	var clk2 protocol.Clock
	b2.nextBody(protocol.TypeClock, &clk2)
	if clk2.DeadlineMS != clk.DeadlineMS {
		t.Fatalf("deadline changed: %d -> %d", clk.DeadlineMS, clk2.DeadlineMS)
	}
	if left := clk2.DeadlineMS - clk2.ServerTimeMS; left != int64(DefaultDurationS-30)*1000 {
		t.Fatalf("remaining = %d ms, want %d", left, (DefaultDurationS-30)*1000)
	}
	var got []string
	for _, env := range b2.drain() {
		if env.Type == protocol.TypeChatMsg {
			var cm protocol.ChatMessage
			json.Unmarshal(env.Data, &cm)
			if !cm.Replay {
				t.Fatalf("replayed message not marked: %+v", cm)
			}
			got = append(got, cm.Body)
		}
	}
	if strings.Join(got, "|") != "three, while B was away|four" {
		t.Fatalf("replayed %q, want exactly the two missed messages", got)
	}
}

// startCall has both members report the call connected.
func startCall(t *testing.T, a, b *kiosk) {
	t.Helper()
	a.send(protocol.TypeCallState, "", protocol.CallState{Peer: b.id(), State: protocol.CallConnected})
	b.send(protocol.TypeCallState, "", protocol.CallState{Peer: a.id(), State: protocol.CallConnected})
}

func TestChatResendIsNotDuplicated(t *testing.T) {
	checkGoroutines(t)
	ts := startServer(t, t.TempDir(), Config{}, nil)
	defer ts.Close()
	a, b := dialKiosk(t, ts.url, "A"), dialKiosk(t, ts.url, "B")
	a.join(protocol.JoinRequest{})
	b.join(protocol.JoinRequest{})
	a.waitPaired()
	b.waitPaired()
	first := a.chat("group", "hello", "same-id")
	again := a.chat("group", "hello", "same-id")
	if first.Message.ID != again.Message.ID || again.Message.Seq != 1 {
		t.Fatalf("resend made a new message: %+v vs %+v", first, again)
	}
	n := 0
	for _, env := range b.drain() {
		if env.Type == protocol.TypeChatMsg {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("B received %d copies", n)
	}
	msgs, _ := ts.Store().Messages(a.welcome.Session, "", 0)
	if len(msgs) != 1 {
		t.Fatalf("%d messages stored", len(msgs))
	}
}

// Named channels (otreechat's channel=, uproot's chat.create/add_player):
// declared in the session settings by seat label, read and written only by
// those seats, across groups.
func TestNamedChannelsBySeat(t *testing.T) {
	checkGoroutines(t)
	cfg := Config{Rooms: []Room{{Name: "lab", AutoSession: true, Defaults: SessionSettings{
		Channels: []NamedChannel{{Name: "buyers", Seats: []string{"seat-A", "seat-C"}}}}}}}
	ts := startServer(t, t.TempDir(), cfg, nil)
	defer ts.Close()
	ks := []*kiosk{dialKiosk(t, ts.url, "A"), dialKiosk(t, ts.url, "B"), dialKiosk(t, ts.url, "C"), dialKiosk(t, ts.url, "D")}
	for _, k := range ks {
		k.join(protocol.JoinRequest{})
	}
	a, b, c, d := ks[0], ks[1], ks[2], ks[3]
	has := func(k *kiosk, name string) bool {
		for _, ch := range k.welcome.Channels {
			if ch.Name == name {
				return true
			}
		}
		return false
	}
	if !has(a, "buyers") || !has(c, "buyers") || has(b, "buyers") || has(d, "buyers") {
		t.Fatalf("channel lists: %v %v %v %v", a.welcome.Channels, b.welcome.Channels, c.welcome.Channels, d.welcome.Channels)
	}
	a.waitPaired()
	c.waitPaired()
	if a.paired.Group == c.paired.Group {
		t.Fatal("A and C should be in different groups for this test")
	}
	a.chat("buyers", "buyers only", "b1")
	var m protocol.ChatMessage
	c.nextBody(protocol.TypeChatMsg, &m)
	if m.Channel != "buyers" || m.Body != "buyers only" {
		t.Fatalf("C got %+v", m)
	}
	for _, k := range []*kiosk{b, d} {
		for _, env := range k.drain() {
			if env.Type == protocol.TypeChatMsg {
				t.Fatalf("%s is not a buyer but got %s", k.name, env.Data)
			}
		}
	}
	b.send(protocol.TypeChat, "x", protocol.ChatSend{Channel: "buyers", Body: "let me in", ClientMsgID: "x"})
	b.expectError("x", protocol.CodeNoChannel)
}
