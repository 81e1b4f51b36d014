package store

import (
	"database/sql"
	"path/filepath"
	"testing"
)

// A version 2 file is migrated to version 3 with its webhook outbox kept:
// the deliveries table is rebuilt so it can hold events as well as messages.
func TestMigrateToVersion3KeepsOutbox(t *testing.T) {
	dir := t.TempDir()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, FileName)+"?_pragma=foreign_keys(1)")
	if err != nil {
		t.Fatal(err)
	}
	for v, m := range migrations[:2] {
		if _, err := db.Exec(m); err != nil {
			t.Fatalf("version %d: %v", v+1, err)
		}
	}
	for _, q := range []string{
		`INSERT INTO meta(key,value) VALUES('schema_version','2')`,
		`INSERT INTO sessions(code,room,settings,state,created_ms) VALUES('abc','lab','{}','open',1)`,
		`INSERT INTO participants(id,session_code,code,id_in_session,seat,pseudonym,token_hash,joined_ms,arrival) VALUES('p1','abc','c1',1,'s1','A','h1',1,1)`,
		`INSERT INTO messages(id,session_code,channel,seq,sender_role,body,ts_ms) VALUES('m1','abc','session',1,'experimenter','hi',5)`,
		`INSERT INTO webhooks(id,session_code,url,created_ms) VALUES('w1','abc','http://x',1)`,
		`INSERT INTO deliveries(webhook_id,message_id,next_ms) VALUES('w1','m1',5)`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()

	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	due, err := s.DueDeliveries(10, 10)
	if err != nil || len(due) != 1 || due[0].MessageID != "m1" || due[0].EventID != 0 {
		t.Fatalf("outbox after migration: %+v %v", due, err)
	}
	ps, err := s.Participants("abc")
	if err != nil || len(ps) != 1 || ps[0].Consent != "" {
		t.Fatalf("participants after migration: %+v %v", ps, err)
	}
	if ok, err := s.SetConsent("p1", "declined", 7); !ok || err != nil {
		t.Fatalf("consent: %v %v", ok, err)
	}
	if ok, _ := s.SetConsent("p1", "given", 8); ok {
		t.Fatal("a second answer replaced the first")
	}

	// Segments: declared once per id and seq; the whole recording is
	// complete (with its event and delivery) only when 1..final are.
	seg := func(id string, seq int, final bool) Recording {
		return Recording{Participant: "p1", ID: id, Session: "abc", Seq: seq, Mode: "audio", Container: "webm", Codecs: []string{"A_OPUS"},
			Size: int64(10 * seq), SHA256: "x", Final: final, DeclaredMS: 1, Path: id + ".webm"}
	}
	for _, r := range []Recording{seg("one", 1, false), seg("two", 2, true)} {
		if _, created, err := s.DeclareSegment(r); !created || err != nil {
			t.Fatalf("declare %s: %v %v", r.ID, created, err)
		}
	}
	if old, created, err := s.DeclareSegment(seg("two", 2, true)); created || err != nil || old.Size != 20 {
		t.Fatalf("declare again: %+v %v %v", old, created, err)
	}
	if _, _, err := s.DeclareSegment(seg("other", 2, false)); err == nil {
		t.Fatal("a second segment with seq 2")
	}
	done := func(id string) bool {
		whole, err := s.CompleteSegment("p1", id, 9, Completion{
			Uploaded: Event{Session: "abc", Participant: "p1", Kind: "recording_uploaded"},
			Whole: func(n int, b int64) Event {
				return Event{Session: "abc", Participant: "p1", Kind: "recording_complete"}
			},
			Webhooks: []string{"w1"},
		})
		if err != nil {
			t.Fatal(err)
		}
		return whole
	}
	if done("two") || !done("one") || done("one") {
		t.Fatal("recording_complete fired at the wrong completion")
	}
	due, _ = s.DueDeliveries(10, 10)
	if len(due) != 2 || due[1].EventID == 0 {
		t.Fatalf("event delivery: %+v", due)
	}
	if e, err := s.Event(due[1].EventID); err != nil || e.Kind != "recording_complete" {
		t.Fatalf("delivered event: %+v %v", e, err)
	}
	recs, err := s.Recordings("abc")
	if err != nil || len(recs) != 2 || recs[0].CompleteMS != 9 || recs[1].Received != 20 || recs[1].Codecs[0] != "A_OPUS" {
		t.Fatalf("recordings: %+v %v", recs, err)
	}
}
