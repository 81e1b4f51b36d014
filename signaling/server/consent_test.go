package server

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/parley-lab/parley/signaling/protocol"
	"github.com/parley-lab/parley/signaling/testkit"
)

// participantsOf is the experimenter's participants view of a session.
func participantsOf(t *testing.T, ts *testServer, code string) map[string]ParticipantView {
	t.Helper()
	var ps []ParticipantView
	if st := ts.api(t, "GET", "/api/sessions/"+code+"/participants", ts.AdminToken(), nil, &ps); st != http.StatusOK {
		t.Fatalf("participants: %d", st)
	}
	out := map[string]ParticipantView{}
	for _, p := range ps {
		out[p.Pseudonym] = p
	}
	return out
}

func TestConsentGatesPairing(t *testing.T) {
	checkGoroutines(t)
	clk := newFakeClock()
	ts := startServer(t, t.TempDir(), recordingConfig(protocol.RecordAudioVideo), clk)
	defer ts.Close()
	a := dialKiosk(t, ts.url, "a")
	if w := a.join(protocol.JoinRequest{}); w.Settings.Record != protocol.RecordAudioVideo || w.Consent != "" {
		t.Fatalf("welcome: record %q, consent %q", w.Settings.Record, w.Consent)
	}
	b := dialKiosk(t, ts.url, "b")
	b.join(protocol.JoinRequest{})
	code := a.welcome.Session
	// Neither has answered: both wait, and neither is told no partner came.
	ps := participantsOf(t, ts, code)
	if ps["a"].State != "consent" || ps["b"].State != "consent" || ps["a"].Consent != "" || ps["a"].Recording == nil {
		t.Fatalf("before answering: %+v %+v", ps["a"], ps["b"])
	}
	a.consent(false)
	a.consent(true) // the first answer is kept
	b.consent(true)
	// b's no-partner timer is armed in the same hold of the hub's lock as
	// its answer is recorded, and the participants view takes that lock: once
	// the view shows the answer, the fake clock may move past the timer. (A
	// waiting count alone is no such sign: a's answer sends b one too.)
	if ps = participantsOf(t, ts, code); ps["b"].Consent != protocol.ConsentGiven {
		t.Fatalf("b's answer not recorded after its ack: %+v", ps["b"])
	}
	var w protocol.Waiting
	clk.Advance(2 * DefaultNoPartnerAfterS * time.Second)
	testkit.Eventually(t, "b told that no partner came", func() bool {
		for _, env := range b.drain() {
			if env.Type == protocol.TypeWaiting {
				json.Unmarshal(env.Data, &w)
			}
		}
		return w.NoPartner
	})
	for _, env := range a.drain() {
		if env.Type == protocol.TypePaired {
			t.Fatal("a participant who declined was paired")
		}
		if env.Type == protocol.TypeWaiting {
			var aw protocol.Waiting
			json.Unmarshal(env.Data, &aw)
			if aw.NoPartner {
				t.Fatal("a participant who declined was told no partner came")
			}
		}
	}
	ps = participantsOf(t, ts, code)
	if ps["a"].State != "declined" || ps["a"].Consent != protocol.ConsentDeclined || ps["b"].Consent != protocol.ConsentGiven || ps["b"].Group != 0 {
		t.Fatalf("after answering: %+v %+v", ps["a"], ps["b"])
	}
	// Pairing by hand cannot include the one who declined.
	if st := ts.api(t, "POST", "/api/sessions/"+code+"/pair", ts.AdminToken(), map[string]any{"seats": []string{"seat-a", "seat-b"}}, nil); st != http.StatusConflict {
		t.Fatalf("pairing a decliner by hand: %d", st)
	}

	c := dialKiosk(t, ts.url, "c")
	c.join(protocol.JoinRequest{})
	c.consent(true)
	pb, pc := b.waitPaired(), c.waitPaired()
	if pb.Group != pc.Group || !hasMember(pb, c.id()) {
		t.Fatalf("b and c: %+v %+v", pb, pc)
	}
	for _, env := range a.drain() {
		if env.Type == protocol.TypePaired {
			t.Fatal("a was paired")
		}
	}

	evs, err := ts.Store().Events(code)
	if err != nil {
		t.Fatal(err)
	}
	given := map[string][]bool{}
	for _, e := range evs {
		if e.Kind == EvConsent {
			var d struct {
				Given    bool   `json:"given"`
				Language string `json:"language"`
				AtMS     int64  `json:"at_ms"`
			}
			json.Unmarshal(e.Data, &d)
			given[e.Participant] = append(given[e.Participant], d.Given)
			if d.Language != "en" || d.AtMS == 0 {
				t.Errorf("consent event data %s", e.Data)
			}
		}
		if e.Kind == EvNoPartner && e.Participant == a.id() {
			t.Error("a no_partner event for a participant who declined")
		}
	}
	if len(given[a.id()]) != 1 || given[a.id()][0] || len(given[b.id()]) != 1 || !given[b.id()][0] {
		t.Fatalf("consent events: %v", given)
	}

	// A resume carries the stored answer.
	for _, k := range []*kiosk{a, b} {
		k.close()
		k2 := dialKiosk(t, ts.url, k.name+"2")
		k2.send(protocol.TypeJoin, "resume", protocol.JoinRequest{Token: k.welcome.Token})
		var w protocol.Welcome
		k2.nextBody(protocol.TypeWelcome, &w)
		want := map[string]string{"a": protocol.ConsentDeclined, "b": protocol.ConsentGiven}[k.name]
		if !w.Resumed || w.Consent != want {
			t.Fatalf("%s resumed: consent %q, want %q", k.name, w.Consent, want)
		}
	}
	// One who declined keeps nothing on the server.
	up := ts.uploads(t, a.welcome.Token)
	up.put(segmentOf(a.welcome, 1, []byte("x"), true)).want(t, http.StatusForbidden, protocol.CodeNotRecorded)
}

func hasMember(p protocol.Paired, id string) bool {
	for _, m := range p.Members {
		if m.ID == id {
			return true
		}
	}
	return false
}

func TestNoConsentNeededWithoutRecording(t *testing.T) {
	checkGoroutines(t)
	ts := startServer(t, t.TempDir(), recordingConfig(""), nil)
	defer ts.Close()
	a, b := dialKiosk(t, ts.url, "a"), dialKiosk(t, ts.url, "b")
	if w := a.join(protocol.JoinRequest{}); w.Settings.Record != protocol.RecordOff {
		t.Fatalf("default record %q", w.Settings.Record)
	}
	b.join(protocol.JoinRequest{})
	a.waitPaired()
	b.waitPaired()
	if p := participantsOf(t, ts, a.welcome.Session)["a"]; p.Recording != nil || p.Consent != "" {
		t.Fatalf("a session that records nothing shows recording: %+v", p)
	}
	// Nothing is kept from a session that records nothing.
	ts.uploads(t, a.welcome.Token).put(segmentOf(a.welcome, 1, []byte("x"), true)).want(t, http.StatusForbidden, protocol.CodeNotRecorded)
}

func TestRecordingReports(t *testing.T) {
	checkGoroutines(t)
	ts := startServer(t, t.TempDir(), recordingConfig(protocol.RecordAudioVideo), nil)
	defer ts.Close()
	a := recordingKiosk(t, ts, "a")
	code := a.welcome.Session
	report := func(ref string, r protocol.RecordingState) {
		t.Helper()
		a.send(protocol.TypeRecording, ref, r)
		for {
			if env := a.next(protocol.TypeAck); env.Ref == ref {
				return
			}
		}
	}
	report("r1", protocol.RecordingState{Segment: "seg-1", Seq: 1, State: protocol.RecordingStarted, ID: "r1"})
	if r := participantsOf(t, ts, code)["a"].Recording; r == nil || !r.Recording || r.Segment != "seg-1" {
		t.Fatalf("after start: %+v", r)
	}
	report("r1", protocol.RecordingState{Segment: "seg-1", Seq: 1, State: protocol.RecordingStarted, ID: "r1"}) // a resend
	report("r2", protocol.RecordingState{Segment: "seg-1", Seq: 1, State: protocol.RecordingStopped, Reason: protocol.SegmentCallLost, ID: "r2"})
	if r := participantsOf(t, ts, code)["a"].Recording; r.Recording {
		t.Fatalf("after stop: %+v", r)
	}
	a.send(protocol.TypeRecording, "bad", protocol.RecordingState{Segment: "seg-1", Seq: 1, State: "paused", ID: "bad"})
	if e := a.expectError("bad", protocol.CodeBadField); e.Field != "state" {
		t.Fatalf("bad state refusal names %q", e.Field)
	}
	a.send(protocol.TypeRecording, "bad2", protocol.RecordingState{Segment: "a/b", Seq: 1, State: protocol.RecordingStarted})
	a.expectError("bad2", protocol.CodeBadField)
	kinds := eventKinds(t, ts, code, EvRecordingStarted, EvRecordingStopped)
	if kinds[EvRecordingStarted] != 1 || kinds[EvRecordingStopped] != 1 {
		t.Fatalf("events: %v", kinds)
	}
	rows := exportRows(t, ts, code, "events")
	found := 0
	for _, r := range rows {
		if r["kind"] == EvRecordingStopped {
			var d map[string]any
			json.Unmarshal([]byte(r["data"]), &d)
			if d["segment"] != "seg-1" || d["seq"] != 1.0 || d["reason"] != protocol.SegmentCallLost || d["at_ms"] == nil {
				t.Fatalf("recording_stopped data %v", d)
			}
			found++
		}
		if r["kind"] == EvConsent && !strings.Contains(r["data"], `"given":true`) {
			t.Fatalf("consent in the events export: %v", r)
		}
	}
	if found != 1 {
		t.Fatalf("events export has %d recording_stopped", found)
	}
}

func TestRecordSettingValidation(t *testing.T) {
	err := SessionSettings{Record: "video"}.WithDefaults().Validate()
	if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "record:") || !strings.Contains(err.Error(), `"audio_video"`) {
		t.Fatalf("record = video: %v", err)
	}
	if s := (SessionSettings{}).WithDefaults(); s.Record != protocol.RecordOff || s.Validate() != nil {
		t.Fatalf("default record %q: %v", s.Record, s.Validate())
	}
}

// With the device check on, the experimenter still sees who has the
// consent screen in front of them and who declined: the kiosk asks for
// consent before its device check.
func TestConsentStatesComeBeforeTheDeviceCheck(t *testing.T) {
	checkGoroutines(t)
	cfg := recordingConfig(protocol.RecordAudio)
	cfg.Rooms[0].Defaults.DeviceCheck = protocol.DeviceCheckRequired
	ts := startServer(t, t.TempDir(), cfg, nil)
	defer ts.Close()
	a := dialKiosk(t, ts.url, "a")
	// Joined, not through the device check (join() would finish it).
	a.send(protocol.TypeJoin, "join", protocol.JoinRequest{Room: DefaultRoom, Seat: "seat-a", Pseudonym: "a"})
	a.nextBody(protocol.TypeWelcome, &a.welcome)
	code := a.welcome.Session
	if ps := participantsOf(t, ts, code); ps["a"].State != "consent" {
		t.Fatalf("before answering: state %q, want consent", ps["a"].State)
	}
	a.consent(false)
	if ps := participantsOf(t, ts, code); ps["a"].State != "declined" {
		t.Fatalf("after declining: state %q, want declined", ps["a"].State)
	}
}

// A restarted server still shows who is recording now: the latest start or
// stop each participant reported is read back from the events.
func TestRecordingStateSurvivesARestart(t *testing.T) {
	checkGoroutines(t)
	dir := t.TempDir()
	cfg := recordingConfig(protocol.RecordAudioVideo)
	ts := startServer(t, dir, cfg, nil)
	a := recordingKiosk(t, ts, "a")
	b := recordingKiosk(t, ts, "b")
	report := func(k *kiosk, ref string, r protocol.RecordingState) {
		r.ID = ref
		k.send(protocol.TypeRecording, ref, r)
		for env := k.next(protocol.TypeAck); env.Ref != ref; env = k.next(protocol.TypeAck) {
		}
	}
	report(a, "a1", protocol.RecordingState{Segment: "seg-a1", Seq: 1, State: protocol.RecordingStarted})
	report(b, "b1", protocol.RecordingState{Segment: "seg-b1", Seq: 1, State: protocol.RecordingStarted})
	report(b, "b2", protocol.RecordingState{Segment: "seg-b1", Seq: 1, State: protocol.RecordingStopped, Reason: protocol.SegmentCallLost})
	code := a.welcome.Session
	a.close()
	b.close()
	ts.Close()

	ts = startServer(t, dir, cfg, nil)
	defer ts.Close()
	ps := participantsOf(t, ts, code)
	if r := ps["a"].Recording; r == nil || !r.Recording || r.Segment != "seg-a1" || r.Seq != 1 {
		t.Fatalf("a after the restart: %+v", r)
	}
	if r := ps["b"].Recording; r == nil || r.Recording || r.Seq != 1 {
		t.Fatalf("b after the restart: %+v", r)
	}
}
