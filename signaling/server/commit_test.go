package server

// Failed commits, made real: a trigger in the server's own SQLite file
// refuses chosen event kinds until the test lifts it.

import (
	"database/sql"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/parley-lab/parley/signaling/protocol"
	"github.com/parley-lab/parley/signaling/store"
	"github.com/parley-lab/parley/signaling/testkit"
)

// eventFault makes every insert of an event of a refused kind fail (the
// whole transaction with it), through a second connection to the file.
type eventFault struct {
	t  *testing.T
	db *sql.DB
}

func newEventFault(t *testing.T, dir string) *eventFault {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, store.FileName)+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	for _, q := range []string{
		`CREATE TABLE test_fault(kind TEXT NOT NULL)`,
		`CREATE TRIGGER test_fault BEFORE INSERT ON events WHEN EXISTS (SELECT 1 FROM test_fault WHERE kind = NEW.kind)
		 BEGIN SELECT RAISE(ABORT, 'injected fault'); END`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	return &eventFault{t: t, db: db}
}

func (f *eventFault) refuse(kind string) {
	if _, err := f.db.Exec(`INSERT INTO test_fault(kind) VALUES(?)`, kind); err != nil {
		f.t.Fatal(err)
	}
}

func (f *eventFault) lift() {
	if _, err := f.db.Exec(`DELETE FROM test_fault`); err != nil {
		f.t.Fatal(err)
	}
}

func eventsOf(t *testing.T, ts *testServer, session, kind string) []store.Event {
	t.Helper()
	evs, err := ts.Store().Events(session)
	if err != nil {
		t.Fatal(err)
	}
	var out []store.Event
	for _, e := range evs {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

// A disconnect is the server's own event: nobody resends it, so a commit
// that fails must not lose it; it is stored (once) when the store works again.
func TestServerEventsSurviveAFailedCommit(t *testing.T) {
	checkGoroutines(t)
	dir := t.TempDir()
	ts := startServer(t, dir, Config{}, nil)
	defer ts.Close()
	a, b := dialKiosk(t, ts.url, "A"), dialKiosk(t, ts.url, "B")
	w := a.join(protocol.JoinRequest{})
	wb := b.join(protocol.JoinRequest{})
	a.waitPaired()
	b.waitPaired()
	fault := newEventFault(t, dir)
	fault.refuse(EvDisconnect)
	b.close()
	testkit.Eventually(t, "the disconnect's commit failing", func() bool {
		ts.hub.cqMu.Lock()
		defer ts.hub.cqMu.Unlock()
		return ts.hub.retryTries > 0
	})
	if n := len(eventsOf(t, ts, w.Session, EvDisconnect)); n != 0 {
		t.Fatalf("%d disconnect events stored while the store refused them", n)
	}
	fault.lift()
	testkit.Eventually(t, "the disconnect stored after all", func() bool {
		return len(eventsOf(t, ts, w.Session, EvDisconnect)) > 0
	})
	evs := eventsOf(t, ts, w.Session, EvDisconnect)
	if len(evs) != 1 || evs[0].Participant != wb.ParticipantID {
		t.Fatalf("disconnect events %+v, want B's once", evs)
	}
}

// Pairing by hand records the group and paired_by_hand in one
// transaction: when the event cannot be stored, neither is the group.
func TestPairedByHandCommitsWithItsGroup(t *testing.T) {
	checkGoroutines(t)
	dir := t.TempDir()
	cfg := Config{Rooms: []Room{{Name: "lab", AutoSession: true, Defaults: SessionSettings{Matching: "random"}}}}
	ts := startServer(t, dir, cfg, newFakeClock())
	defer ts.Close()
	var w protocol.Welcome
	for _, name := range []string{"A", "B"} {
		w = dialKiosk(t, ts.url, name).join(protocol.JoinRequest{Room: "lab"})
	}
	fault := newEventFault(t, dir)
	fault.refuse(EvPairedByHand)
	pair := map[string]any{"seats": []string{"seat-A", "seat-B"}}
	var raw []byte
	if code := ts.api(t, "POST", "/api/sessions/"+w.Session+"/pair", ts.AdminToken(), pair, &raw); code == http.StatusOK {
		t.Fatalf("pairing by hand succeeded though its event could not be stored: %s", raw)
	}
	if gs, err := ts.Store().Groups(w.Session); err != nil || len(gs) != 0 {
		t.Fatalf("groups stored without their paired_by_hand event: %+v %v", gs, err)
	}
	fault.lift()
	if code := ts.api(t, "POST", "/api/sessions/"+w.Session+"/pair", ts.AdminToken(), pair, &raw); code != http.StatusOK {
		t.Fatalf("pairing by hand: %d %s", code, raw)
	}
	// Both in the same commit: stored by the time the API answers.
	if evs := eventsOf(t, ts, w.Session, EvPairedByHand); len(evs) != 1 || evs[0].Group == "" {
		t.Fatalf("paired_by_hand events %+v, want one naming the group", evs)
	}
}
