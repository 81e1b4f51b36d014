package store

// messages.go: chat messages, committed in batches with their webhook deliveries.

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// Message is a committed chat message.
type Message struct {
	ID          string
	Session     string
	Channel     string // channel key: protocol.GroupKey(group id), "session", "experimenter" or a named channel's name
	Seq         int64
	SenderID    string // participant id; empty for experimenter/system
	SenderRole  string
	Nickname    string
	Body        string
	TimeMS      int64
	ClientMsgID string
	// TypedMS is when the participant typed it (server time, from the
	// kiosk), 0 if not reported; Late marks a message typed before its
	// group's end and committed after it.
	TypedMS int64
	Late    bool
}

// prepareAppend compiles AppendBatch's statements.
func (s *Store) prepareAppend() error {
	for _, p := range []struct {
		st  **sql.Stmt
		sql string
	}{
		{&s.dupStmt, `SELECT ` + messageCols + ` FROM messages WHERE sender_id=? AND client_msg_id=? AND sender_id!='' AND client_msg_id!=''`},
		{&s.seqStmt, `SELECT COALESCE(MAX(seq),0)+1 FROM messages WHERE session_code=? AND channel=?`},
		{&s.insertStmt, `INSERT INTO messages(` + messageCols + `) VALUES(?,?,?,?,?,?,?,?,?,?,?,?)`},
		{&s.deliveryStmt, `INSERT INTO deliveries(webhook_id,message_id,next_ms) VALUES(?,?,?)`},
		{&s.eventStmt, insertEvent},
	} {
		st, err := s.db.Prepare(p.sql)
		if err != nil {
			return err
		}
		*p.st = st
	}
	return nil
}

// AppendMessage commits m with the next sequence number of its channel and
// queues it for the given webhooks, all in one transaction. If the sender
// already sent m.ClientMsgID, nothing is written and the stored message is
// returned with dup=true.
func (s *Store) AppendMessage(m Message, webhookIDs []string) (stored Message, dup bool, err error) {
	res, err := s.AppendBatch([]Append{{Msg: m, Webhooks: webhookIDs}})
	if err != nil {
		return Message{}, false, err
	}
	return res[0].Stored, res[0].Dup, nil
}

// Append is one message of a batch, with the webhooks it is owed to.
type Append struct {
	Msg      Message
	Webhooks []string
}

// Appended is the outcome of one Append.
type Appended struct {
	Stored Message
	Dup    bool
}

// AppendBatch commits several messages in one transaction (group commit: one
// disk sync for all), in order, each as AppendMessage would. Either all are
// committed or none.
func (s *Store) AppendBatch(items []Append) ([]Appended, error) {
	return s.CommitBatch(items, nil)
}

// CommitBatch commits messages (as AppendBatch) and events in one
// transaction. An event a kiosk already reported (same participant and
// ClientID) is skipped.
func (s *Store) CommitBatch(items []Append, evs []Event) ([]Appended, error) {
	s.appendMu.Lock()
	defer s.appendMu.Unlock()
	out := make([]Appended, len(items))
	next := map[channelKey]int64{} // numbers taken in this transaction
	err := s.tx(func(tx *sql.Tx) error {
		dupStmt, seqStmt, insertStmt, deliveryStmt, eventStmt := tx.Stmt(s.dupStmt), tx.Stmt(s.seqStmt), tx.Stmt(s.insertStmt), tx.Stmt(s.deliveryStmt), tx.Stmt(s.eventStmt)
		for i, it := range items {
			m := it.Msg
			if m.SenderID != "" && m.ClientMsgID != "" {
				old, err := scanMessage(dupStmt.QueryRow(m.SenderID, m.ClientMsgID))
				if err == nil {
					out[i] = Appended{Stored: old, Dup: true}
					continue
				}
				if !errors.Is(err, sql.ErrNoRows) {
					return err
				}
			}
			k := channelKey{m.Session, m.Channel}
			seq, ok := next[k]
			if !ok {
				seq, ok = s.nextSeq[k]
			}
			if !ok {
				if err := seqStmt.QueryRow(m.Session, m.Channel).Scan(&seq); err != nil {
					return err
				}
			}
			m.Seq = seq
			if _, err := insertStmt.Exec(m.ID, m.Session, m.Channel, m.Seq, m.SenderID, m.SenderRole, m.Nickname, m.Body, m.TimeMS, m.ClientMsgID, m.TypedMS, m.Late); err != nil {
				return err
			}
			next[k] = seq + 1
			for _, w := range it.Webhooks {
				if _, err := deliveryStmt.Exec(w, m.ID, m.TimeMS); err != nil {
					return err
				}
			}
			out[i] = Appended{Stored: m}
		}
		for _, e := range evs {
			if len(e.Data) == 0 {
				e.Data = json.RawMessage(`{}`)
			}
			if _, err := eventStmt.Exec(e.Session, e.Participant, e.Group, e.Kind, string(e.Data), e.TimeMS, e.ClientID); err != nil {
				return fmt.Errorf("event %s: %w", e.Kind, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err // the numbers taken were rolled back with the rest
	}
	for k, seq := range next {
		s.nextSeq[k] = seq
	}
	return out, nil
}

const messageCols = `id,session_code,channel,seq,sender_id,sender_role,nickname,body,ts_ms,client_msg_id,typed_ms,late`

func scanMessage(sc interface{ Scan(...any) error }) (Message, error) {
	var m Message
	err := sc.Scan(&m.ID, &m.Session, &m.Channel, &m.Seq, &m.SenderID, &m.SenderRole, &m.Nickname, &m.Body, &m.TimeMS, &m.ClientMsgID, &m.TypedMS, &m.Late)
	return m, err
}

// LatestMessages returns a session's n latest messages (every channel),
// oldest first.
func (s *Store) LatestMessages(session string, n int) ([]Message, error) {
	msgs, err := queryAll(s.db, scanMessage, `SELECT `+messageCols+` FROM messages WHERE session_code=? ORDER BY ts_ms DESC, channel DESC, seq DESC LIMIT ?`, session, n)
	slices.Reverse(msgs)
	return msgs, err
}

// ChannelCounts returns how many messages each channel of a session holds.
func (s *Store) ChannelCounts(session string) (map[string]int64, error) {
	type count struct {
		channel string
		n       int64
	}
	rows, err := queryAll(s.db, func(sc interface{ Scan(...any) error }) (count, error) {
		var c count
		err := sc.Scan(&c.channel, &c.n)
		return c, err
	}, `SELECT channel, COUNT(*) FROM messages WHERE session_code=? GROUP BY channel`, session)
	out := map[string]int64{}
	for _, c := range rows {
		out[c.channel] = c.n
	}
	return out, err
}

// Messages returns a channel's messages with seq > afterSeq, in order. An
// empty channel means every channel of the session (ordered by time, then
// channel and seq).
func (s *Store) Messages(session, channel string, afterSeq int64) ([]Message, error) {
	if channel == "" {
		return queryAll(s.db, scanMessage, `SELECT `+messageCols+` FROM messages WHERE session_code=? ORDER BY ts_ms, channel, seq`, session)
	}
	return queryAll(s.db, scanMessage, `SELECT `+messageCols+` FROM messages WHERE session_code=? AND channel=? AND seq>? ORDER BY seq`, session, channel, afterSeq)
}

// Message returns one message by id.
func (s *Store) Message(id string) (Message, error) {
	m, err := scanMessage(s.db.QueryRow(`SELECT `+messageCols+` FROM messages WHERE id=?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return m, fmt.Errorf("message %s: %w", id, ErrNotFound)
	}
	return m, err
}
