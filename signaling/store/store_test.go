package store

import (
	"errors"
	"fmt"
	"testing"
)

// openWithSession opens a store in dir with the open session "abc".
func openWithSession(tb testing.TB, dir string) *Store {
	tb.Helper()
	s, err := Open(dir)
	if err != nil {
		tb.Fatal(err)
	}
	if err := s.CreateSession(Session{Code: "abc", Room: "lab", Settings: []byte(`{}`), State: SessionOpen, CreatedMS: 1}); err != nil {
		tb.Fatal(err)
	}
	return s
}

func TestReopenKeepsDataAndRefusesNewerSchema(t *testing.T) {
	dir := t.TempDir()
	s := openWithSession(t, dir)
	if err := s.CreateSession(Session{Code: "abc", Room: "lab", Settings: []byte(`{}`), State: SessionOpen}); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate session: %v", err)
	}
	m1, dup, err := s.AppendMessage(Message{ID: "m1", Session: "abc", Channel: "session", SenderID: "p1", SenderRole: "participant", Body: "a", ClientMsgID: "c1"}, nil)
	if err != nil || dup || m1.Seq != 1 {
		t.Fatalf("first: %+v %v %v", m1, dup, err)
	}
	again, dup, err := s.AppendMessage(Message{ID: "m2", Session: "abc", Channel: "session", SenderID: "p1", SenderRole: "participant", Body: "a", ClientMsgID: "c1"}, nil)
	if err != nil || !dup || again.ID != "m1" {
		t.Fatalf("resend: %+v %v %v", again, dup, err)
	}
	m3, _, _ := s.AppendMessage(Message{ID: "m3", Session: "abc", Channel: "session", SenderRole: "experimenter", Body: "b"}, nil)
	other, _, _ := s.AppendMessage(Message{ID: "m4", Session: "abc", Channel: "group:x", SenderID: "p1", SenderRole: "participant", Body: "c", ClientMsgID: "c2"}, nil)
	if m3.Seq != 2 || other.Seq != 1 {
		t.Fatalf("seqs: %d %d", m3.Seq, other.Seq)
	}
	s.Close()

	s, err = Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := s.Messages("abc", "session", 1)
	if err != nil || len(msgs) != 1 || msgs[0].ID != "m3" {
		t.Fatalf("after reopen: %+v %v", msgs, err)
	}
	if _, err := s.db.Exec(`UPDATE meta SET value='99' WHERE key='schema_version'`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := Open(dir); !errors.Is(err, ErrNewerSchema) {
		t.Fatalf("newer schema: %v", err)
	}
	if _, err := OpenReadOnly(dir); !errors.Is(err, ErrNewerSchema) {
		t.Fatalf("newer schema read-only: %v", err)
	}
}

func TestGroupMembersCannotBeInTwoGroups(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.CreateSession(Session{Code: "s", Room: "lab", Settings: []byte(`{}`), State: SessionOpen})
	for _, id := range []string{"a", "b", "c"} {
		if _, err := s.AddParticipant(Participant{ID: id, Session: "s", Code: "code" + id, Seat: id, Pseudonym: id, TokenHash: "h" + id}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CreateGroup(Group{ID: "g1", Session: "s", Num: 1, Members: []string{"a", "b"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateGroup(Group{ID: "g2", Session: "s", Num: 2, Members: []string{"b", "c"}}); err == nil {
		t.Fatal("b joined a second group")
	}
	gs, _ := s.Groups("s")
	if len(gs) != 1 {
		t.Fatalf("a failed group was half stored: %+v", gs)
	}
}

// BenchmarkAppendBatch commits batches of 20 chat messages (the server's
// group commit under load: 1000 pairs, one message each a second) to a
// real database file; ns/op is a batch, disk sync included.
func BenchmarkAppendBatch(b *testing.B) {
	s := openWithSession(b, b.TempDir())
	defer s.Close()
	n := 0
	batch := make([]Append, 20)
	for b.Loop() {
		for i := range batch {
			n++
			id := fmt.Sprint(n)
			batch[i] = Append{Msg: Message{ID: "m" + id, Session: "abc", Channel: fmt.Sprintf("group:%d", n%1000),
				SenderID: fmt.Sprintf("p%d", n%2000), SenderRole: "participant", Nickname: "Alex", Body: "hello " + id, ClientMsgID: "c" + id}}
		}
		if _, err := s.AppendBatch(batch); err != nil {
			b.Fatal(err)
		}
	}
}

// Channel numbers are kept in memory between batches: a batch that fails
// takes none, and a reopened store goes on from what is stored.
func TestMessageNumbersSurviveFailedBatchesAndReopening(t *testing.T) {
	dir := t.TempDir()
	s := openWithSession(t, dir)
	msg := func(id string) Message {
		return Message{ID: id, Session: "abc", Channel: "session", SenderID: "p1", SenderRole: "participant", Body: id, ClientMsgID: "c-" + id}
	}
	if m, _, err := s.AppendMessage(msg("m1"), nil); err != nil || m.Seq != 1 {
		t.Fatalf("first message: seq %d, %v", m.Seq, err)
	}
	// The second item owes a delivery to a webhook that does not exist: the
	// whole batch is refused, the first item's number with it.
	if _, err := s.AppendBatch([]Append{{Msg: msg("m2")}, {Msg: msg("m3"), Webhooks: []string{"no-such-webhook"}}}); err == nil {
		t.Fatal("a batch with a delivery to no webhook was committed")
	}
	if m, _, err := s.AppendMessage(msg("m4"), nil); err != nil || m.Seq != 2 {
		t.Fatalf("after a failed batch: seq %d, %v; want 2", m.Seq, err)
	}
	if got, err := s.Messages("abc", "session", 0); err != nil || len(got) != 2 {
		t.Fatalf("stored %d messages, %v; want m1 and m4", len(got), err)
	}
	s.Close()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if m, _, err := s.AppendMessage(msg("m5"), nil); err != nil || m.Seq != 3 {
		t.Fatalf("after reopening: seq %d, %v; want 3", m.Seq, err)
	}
	if m, dup, err := s.AppendMessage(msg("m4"), nil); err != nil || !dup || m.Seq != 2 {
		t.Fatalf("m4 again: seq %d dup %v, %v; want the stored copy", m.Seq, dup, err)
	}
}
