package store

import (
	"errors"
	"testing"
)

func TestReopenKeepsDataAndRefusesNewerSchema(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateSession(Session{Code: "abc", Room: "lab", Settings: []byte(`{}`), State: SessionOpen, CreatedMS: 1}); err != nil {
		t.Fatal(err)
	}
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
