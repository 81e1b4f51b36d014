// Package store keeps everything the rendezvous server must not lose in one
// embedded SQLite database (WAL mode, synchronous=FULL, versioned schema):
// sessions, participants and their resume tokens (hashed), groups and their
// clocks, chat messages, events, webhooks and the webhook outbox. A write
// returns only after it is committed, so whatever the server acknowledged
// survives kill -9.
package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// FileName is the database's name inside the data directory.
const FileName = "parley.db"

// SchemaVersion is the schema this code writes. Open migrates older files
// forward and refuses newer ones.
const SchemaVersion = 2

// busyTimeoutMS is how long a writer waits for another connection's lock
// before SQLITE_BUSY; the hub, the webhook dispatcher and an export may
// overlap.
const busyTimeoutMS = 5000

// Errors.
var (
	// ErrNotFound is returned when a looked-up row does not exist.
	ErrNotFound = errors.New("not found")
	// ErrNewerSchema is returned when the file was written by a newer Parley.
	ErrNewerSchema = errors.New("database schema is newer than this program")
	// ErrExists is returned when a row with that key is already stored.
	ErrExists = errors.New("already exists")
)

// Session states.
const (
	SessionOpen    = "open"
	SessionStarted = "started"
	SessionEnded   = "ended"
)

// Session is one experiment run in a room.
type Session struct {
	Code      string
	Room      string
	Settings  json.RawMessage // the server's session settings, as JSON
	State     string
	CreatedMS int64
	StartedMS int64 // 0 = not started
	EndedMS   int64 // 0 = not ended
}

// Participant is one person at one seat in one session.
type Participant struct {
	ID          string
	Session     string
	Code        string // participant_code in exports
	IDInSession int
	Seat        string
	Pseudonym   string
	TokenHash   string
	GroupID     string
	JoinedMS    int64
	Arrival     int64 // arrival order within the session
	ReadyMS     int64 // when the participant finished the device check; 0 = not yet
}

// Group is a set of participants who discuss together.
type Group struct {
	ID             string
	Session        string
	Num            int // 1-based within the session
	Members        []string
	PairedMS       int64
	ClockStartedMS int64
	DeadlineMS     int64
	ClockReason    string
	EndedMS        int64
	EndReason      string
}

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

// Event is one logged happening: a join, a pairing, a call state, stats...
type Event struct {
	ID          int64
	Session     string
	Participant string
	Group       string
	Kind        string
	Data        json.RawMessage
	TimeMS      int64
	// ClientID is the kiosk's id for an event it reported (call state,
	// stats): a resend after a drop is stored once.
	ClientID string
}

// Webhook receives every new message of a session (or of one channel).
type Webhook struct {
	ID        string
	Session   string
	Channel   string // empty = every channel of the session
	URL       string
	CreatedMS int64
}

// Delivery is one message owed to one webhook.
type Delivery struct {
	ID        int64
	WebhookID string
	URL       string
	MessageID string
	Attempts  int
	NextMS    int64
}

// Store is an open database. Its methods are safe for concurrent use.
type Store struct {
	db   *sql.DB
	path string
	// The statements of AppendBatch, compiled once (SQLite compiles a
	// statement on every query otherwise).
	dupStmt, seqStmt, insertStmt, deliveryStmt, eventStmt *sql.Stmt

	// appendMu serialises AppendBatch; nextSeq is each channel's next
	// message number, as committed, read from the database the first time
	// a channel is written. SQLite takes about 35 µs for the MAX(seq)
	// query, the dearest part of storing a message; AppendBatch is the
	// only writer of messages.
	appendMu sync.Mutex
	nextSeq  map[channelKey]int64
}

type channelKey struct{ session, channel string }

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

// Open opens (creating if needed) the database in dir.
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("data directory %s: %w", dir, err)
	}
	path := filepath.Join(dir, FileName)
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=foreign_keys(1)" +
		fmt.Sprintf("&_pragma=busy_timeout(%d)", busyTimeoutMS) + "&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	s := &Store{db: db, path: path, nextSeq: map[channelKey]int64{}}
	if err := s.migrate(); err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := s.prepareAppend(); err != nil {
		s.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return s, nil
}

// OpenReadOnly opens an existing database for export while a server may be
// writing it.
func OpenReadOnly(dir string) (*Store, error) {
	path := filepath.Join(dir, FileName)
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("no Parley database in %s: %w", dir, err)
	}
	dsn := "file:" + path + "?mode=ro" + fmt.Sprintf("&_pragma=busy_timeout(%d)", busyTimeoutMS)
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	s := &Store{db: db, path: path}
	var v int
	if err := db.QueryRow(`SELECT value FROM meta WHERE key='schema_version'`).Scan(&v); err != nil {
		db.Close()
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if v > SchemaVersion {
		db.Close()
		return nil, fmt.Errorf("%s: %w (version %d)", path, ErrNewerSchema, v)
	}
	return s, nil
}

// Close closes the database.
func (s *Store) Close() error {
	for _, st := range []*sql.Stmt{s.dupStmt, s.seqStmt, s.insertStmt, s.deliveryStmt, s.eventStmt} {
		if st != nil {
			st.Close()
		}
	}
	return s.db.Close()
}

// Path is the database file's path.
func (s *Store) Path() string { return s.path }

var migrations = []string{
	// version 1
	`CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE sessions(
  code TEXT PRIMARY KEY,
  room TEXT NOT NULL,
  settings TEXT NOT NULL,
  state TEXT NOT NULL,
  created_ms INTEGER NOT NULL,
  started_ms INTEGER NOT NULL DEFAULT 0,
  ended_ms INTEGER NOT NULL DEFAULT 0);
CREATE TABLE participants(
  id TEXT PRIMARY KEY,
  session_code TEXT NOT NULL REFERENCES sessions(code),
  code TEXT NOT NULL UNIQUE,
  id_in_session INTEGER NOT NULL,
  seat TEXT NOT NULL,
  pseudonym TEXT NOT NULL,
  token_hash TEXT NOT NULL UNIQUE,
  group_id TEXT NOT NULL DEFAULT '',
  joined_ms INTEGER NOT NULL,
  arrival INTEGER NOT NULL,
  UNIQUE(session_code, id_in_session));
CREATE TABLE groups(
  id TEXT PRIMARY KEY,
  session_code TEXT NOT NULL REFERENCES sessions(code),
  num INTEGER NOT NULL,
  members TEXT NOT NULL,
  paired_ms INTEGER NOT NULL,
  clock_started_ms INTEGER NOT NULL DEFAULT 0,
  deadline_ms INTEGER NOT NULL DEFAULT 0,
  clock_reason TEXT NOT NULL DEFAULT '',
  ended_ms INTEGER NOT NULL DEFAULT 0,
  end_reason TEXT NOT NULL DEFAULT '',
  UNIQUE(session_code, num));
CREATE TABLE messages(
  id TEXT PRIMARY KEY,
  session_code TEXT NOT NULL REFERENCES sessions(code),
  channel TEXT NOT NULL,
  seq INTEGER NOT NULL,
  sender_id TEXT NOT NULL DEFAULT '',
  sender_role TEXT NOT NULL,
  nickname TEXT NOT NULL DEFAULT '',
  body TEXT NOT NULL,
  ts_ms INTEGER NOT NULL,
  client_msg_id TEXT NOT NULL DEFAULT '',
  UNIQUE(session_code, channel, seq));
CREATE UNIQUE INDEX messages_idem ON messages(sender_id, client_msg_id) WHERE sender_id != '' AND client_msg_id != '';
CREATE TABLE events(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  session_code TEXT NOT NULL,
  participant_id TEXT NOT NULL DEFAULT '',
  group_id TEXT NOT NULL DEFAULT '',
  kind TEXT NOT NULL,
  data TEXT NOT NULL DEFAULT '{}',
  ts_ms INTEGER NOT NULL);
CREATE INDEX events_session ON events(session_code, id);
CREATE TABLE webhooks(
  id TEXT PRIMARY KEY,
  session_code TEXT NOT NULL REFERENCES sessions(code),
  channel TEXT NOT NULL DEFAULT '',
  url TEXT NOT NULL,
  created_ms INTEGER NOT NULL,
  deleted_ms INTEGER NOT NULL DEFAULT 0);
CREATE TABLE deliveries(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  webhook_id TEXT NOT NULL REFERENCES webhooks(id),
  message_id TEXT NOT NULL REFERENCES messages(id),
  attempts INTEGER NOT NULL DEFAULT 0,
  next_ms INTEGER NOT NULL,
  delivered_ms INTEGER NOT NULL DEFAULT 0,
  gave_up_ms INTEGER NOT NULL DEFAULT 0,
  last_error TEXT NOT NULL DEFAULT '',
  UNIQUE(webhook_id, message_id));
CREATE INDEX deliveries_due ON deliveries(delivered_ms, gave_up_ms, next_ms);`,
	// version 2: late chat (typed before the deadline, delivered after) and
	// kiosk events that a kiosk resends after a drop.
	`ALTER TABLE messages ADD COLUMN typed_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN late INTEGER NOT NULL DEFAULT 0;
ALTER TABLE events ADD COLUMN client_id TEXT NOT NULL DEFAULT '';
ALTER TABLE participants ADD COLUMN ready_ms INTEGER NOT NULL DEFAULT 0;
CREATE UNIQUE INDEX events_idem ON events(participant_id, client_id) WHERE client_id != '';`,
}

func (s *Store) migrate() error {
	var have int
	var name string
	err := s.db.QueryRow(`SELECT name FROM sqlite_master WHERE type='table' AND name='meta'`).Scan(&name)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		have = 0
	case err != nil:
		return err
	default:
		if err := s.db.QueryRow(`SELECT value FROM meta WHERE key='schema_version'`).Scan(&have); err != nil {
			return fmt.Errorf("schema version: %w", err)
		}
	}
	if have > SchemaVersion {
		return fmt.Errorf("%w (file has version %d, this program %d)", ErrNewerSchema, have, SchemaVersion)
	}
	for v := have; v < len(migrations); v++ {
		err := s.tx(func(tx *sql.Tx) error {
			if _, err := tx.Exec(migrations[v]); err != nil {
				return fmt.Errorf("migrate to version %d: %w", v+1, err)
			}
			_, err := tx.Exec(`INSERT INTO meta(key,value) VALUES('schema_version',?) ON CONFLICT(key) DO UPDATE SET value=excluded.value`, v+1)
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) tx(fn func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(context.Background(), nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// insertEvent stores an event; a kiosk event already stored (same
// participant and client id) is skipped.
const insertEvent = `INSERT INTO events(session_code,participant_id,group_id,kind,data,ts_ms,client_id) VALUES(?,?,?,?,?,?,?) ON CONFLICT DO NOTHING`

// addEvents writes events inside tx, so a state change and the events that
// record it commit together or not at all.
func addEvents(tx *sql.Tx, evs []Event) error {
	for _, e := range evs {
		if len(e.Data) == 0 {
			e.Data = json.RawMessage(`{}`)
		}
		if _, err := tx.Exec(insertEvent, e.Session, e.Participant, e.Group, e.Kind, string(e.Data), e.TimeMS, e.ClientID); err != nil {
			return fmt.Errorf("event %s: %w", e.Kind, err)
		}
	}
	return nil
}

// queryAll runs q and scans every row with scan.
func queryAll[T any](db *sql.DB, scan func(interface{ Scan(...any) error }) (T, error), q string, args ...any) ([]T, error) {
	rows, err := db.Query(q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

func isUnique(err error) bool {
	return err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed")
}

// CreateSession stores a new session, with the events that record it.
func (s *Store) CreateSession(ss Session, evs ...Event) error {
	return s.tx(func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT INTO sessions(`+sessionCols+`) VALUES(?,?,?,?,?,?,?)`,
			ss.Code, ss.Room, string(ss.Settings), ss.State, ss.CreatedMS, ss.StartedMS, ss.EndedMS)
		if isUnique(err) {
			return fmt.Errorf("session %s: %w", ss.Code, ErrExists)
		}
		if err != nil {
			return err
		}
		return addEvents(tx, evs)
	})
}

// SetSessionState records a session's state change at ms (the start or end
// time for those states), with the events that record it.
func (s *Store) SetSessionState(code, state string, ms int64, evs ...Event) error {
	var startedMS, endedMS any // nil keeps the stored value
	switch state {
	case SessionStarted:
		startedMS = ms
	case SessionEnded:
		endedMS = ms
	}
	return s.tx(func(tx *sql.Tx) error {
		res, err := tx.Exec(`UPDATE sessions SET state=?, started_ms=COALESCE(?,started_ms), ended_ms=COALESCE(?,ended_ms) WHERE code=?`,
			state, startedMS, endedMS, code)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("session %s: %w", code, ErrNotFound)
		}
		return addEvents(tx, evs)
	})
}

const sessionCols = `code,room,settings,state,created_ms,started_ms,ended_ms`

func scanSession(sc interface{ Scan(...any) error }) (Session, error) {
	var ss Session
	var settings string
	err := sc.Scan(&ss.Code, &ss.Room, &settings, &ss.State, &ss.CreatedMS, &ss.StartedMS, &ss.EndedMS)
	ss.Settings = json.RawMessage(settings)
	return ss, err
}

// Sessions lists all sessions, oldest first.
func (s *Store) Sessions() ([]Session, error) {
	return queryAll(s.db, scanSession, `SELECT `+sessionCols+` FROM sessions ORDER BY created_ms, code`)
}

// Session returns one session.
func (s *Store) Session(code string) (Session, error) {
	ss, err := scanSession(s.db.QueryRow(`SELECT `+sessionCols+` FROM sessions WHERE code=?`, code))
	if errors.Is(err, sql.ErrNoRows) {
		return ss, fmt.Errorf("session %s: %w", code, ErrNotFound)
	}
	return ss, err
}

// AddParticipant stores p, assigning IDInSession and Arrival, with the
// events that record it, and returns it.
func (s *Store) AddParticipant(p Participant, evs ...Event) (Participant, error) {
	err := s.tx(func(tx *sql.Tx) error {
		if err := tx.QueryRow(`SELECT COALESCE(MAX(id_in_session),0)+1, COALESCE(MAX(arrival),0)+1 FROM participants WHERE session_code=?`, p.Session).
			Scan(&p.IDInSession, &p.Arrival); err != nil {
			return err
		}
		_, err := tx.Exec(`INSERT INTO participants(`+participantCols+`) VALUES(?,?,?,?,?,?,?,?,?,?,?)`,
			p.ID, p.Session, p.Code, p.IDInSession, p.Seat, p.Pseudonym, p.TokenHash, p.GroupID, p.JoinedMS, p.Arrival, p.ReadyMS)
		if isUnique(err) {
			return fmt.Errorf("participant %s: %w", p.ID, ErrExists)
		}
		if err != nil {
			return err
		}
		return addEvents(tx, evs)
	})
	return p, err
}

const participantCols = `id,session_code,code,id_in_session,seat,pseudonym,token_hash,group_id,joined_ms,arrival,ready_ms`

func scanParticipant(sc interface{ Scan(...any) error }) (Participant, error) {
	var p Participant
	err := sc.Scan(&p.ID, &p.Session, &p.Code, &p.IDInSession, &p.Seat, &p.Pseudonym, &p.TokenHash, &p.GroupID, &p.JoinedMS, &p.Arrival, &p.ReadyMS)
	return p, err
}

// SetReady records that a participant finished the device check, with the
// events that record it. The first time wins.
func (s *Store) SetReady(participantID string, ms int64, evs ...Event) (bool, error) {
	return s.updateOnce(`UPDATE participants SET ready_ms=? WHERE id=? AND ready_ms=0`, []any{ms, participantID}, evs)
}

// Participants lists a session's participants in arrival order.
func (s *Store) Participants(session string) ([]Participant, error) {
	return queryAll(s.db, scanParticipant, `SELECT `+participantCols+` FROM participants WHERE session_code=? ORDER BY id_in_session`, session)
}

// CreateGroup stores a group (its ID and Num chosen by the caller), sets
// its members' group and writes the events that record it, in one
// transaction.
func (s *Store) CreateGroup(g Group, evs ...Event) error {
	members, _ := json.Marshal(g.Members)
	err := s.tx(func(tx *sql.Tx) error {
		if _, err := tx.Exec(`INSERT INTO groups(id,session_code,num,members,paired_ms) VALUES(?,?,?,?,?)`,
			g.ID, g.Session, g.Num, string(members), g.PairedMS); err != nil {
			return err
		}
		for _, m := range g.Members {
			res, err := tx.Exec(`UPDATE participants SET group_id=? WHERE id=? AND group_id=''`, g.ID, m)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n != 1 {
				return fmt.Errorf("participant %s is not free to join group %s", m, g.ID)
			}
		}
		return addEvents(tx, evs)
	})
	return err
}

// StartClock records when a group's discussion started and when it ends,
// with the events that record it. It does nothing (and writes no event) if
// the clock already started: the first start wins.
func (s *Store) StartClock(groupID string, startMS, deadlineMS int64, reason string, evs ...Event) (bool, error) {
	return s.updateOnce(`UPDATE groups SET clock_started_ms=?, deadline_ms=?, clock_reason=? WHERE id=? AND clock_started_ms=0`,
		[]any{startMS, deadlineMS, reason, groupID}, evs)
}

// EndGroup records that a group's discussion ended, with the events that
// record it. The first end wins.
func (s *Store) EndGroup(groupID string, ms int64, reason string, evs ...Event) (bool, error) {
	return s.updateOnce(`UPDATE groups SET ended_ms=?, end_reason=? WHERE id=? AND ended_ms=0`, []any{ms, reason, groupID}, evs)
}

// updateOnce runs an update that applies at most once and, if it applied,
// writes evs in the same transaction.
func (s *Store) updateOnce(q string, args []any, evs []Event) (bool, error) {
	applied := false
	err := s.tx(func(tx *sql.Tx) error {
		res, err := tx.Exec(q, args...)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return nil
		}
		applied = true
		return addEvents(tx, evs)
	})
	return applied && err == nil, err
}

// Groups lists a session's groups.
func (s *Store) Groups(session string) ([]Group, error) {
	return queryAll(s.db, scanGroup, `SELECT id,session_code,num,members,paired_ms,clock_started_ms,deadline_ms,clock_reason,ended_ms,end_reason FROM groups WHERE session_code=? ORDER BY num`, session)
}

func scanGroup(sc interface{ Scan(...any) error }) (Group, error) {
	var g Group
	var members string
	if err := sc.Scan(&g.ID, &g.Session, &g.Num, &members, &g.PairedMS, &g.ClockStartedMS, &g.DeadlineMS, &g.ClockReason, &g.EndedMS, &g.EndReason); err != nil {
		return g, err
	}
	if err := json.Unmarshal([]byte(members), &g.Members); err != nil {
		return g, fmt.Errorf("group %s members: %w", g.ID, err)
	}
	return g, nil
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

// Messages returns a channel's messages with seq > afterSeq, in order. An
// empty channel means every channel of the session (ordered by time, then
// channel and seq).
func (s *Store) Messages(session, channel string, afterSeq int64) ([]Message, error) {
	if channel == "" {
		return queryAll(s.db, scanMessage, `SELECT `+messageCols+` FROM messages WHERE session_code=? ORDER BY ts_ms, channel, seq`, session)
	}
	return queryAll(s.db, scanMessage, `SELECT `+messageCols+` FROM messages WHERE session_code=? AND channel=? AND seq>? ORDER BY seq`, session, channel, afterSeq)
}

// AddEvent logs one event in a transaction of its own (for writers outside
// the server's batched committer, such as the webhook dispatcher).
func (s *Store) AddEvent(e Event) error {
	return s.tx(func(tx *sql.Tx) error { return addEvents(tx, []Event{e}) })
}

// Events lists a session's events in the order they were logged; an empty
// session means all sessions.
func (s *Store) Events(session string) ([]Event, error) {
	q := `SELECT id,session_code,participant_id,group_id,kind,data,ts_ms,client_id FROM events`
	var args []any
	if session != "" {
		q += ` WHERE session_code=?`
		args = append(args, session)
	}
	return queryAll(s.db, scanEvent, q+` ORDER BY id`, args...)
}

func scanEvent(sc interface{ Scan(...any) error }) (Event, error) {
	var e Event
	var data string
	err := sc.Scan(&e.ID, &e.Session, &e.Participant, &e.Group, &e.Kind, &data, &e.TimeMS, &e.ClientID)
	e.Data = json.RawMessage(data)
	return e, err
}

// AddWebhook stores a webhook.
func (s *Store) AddWebhook(w Webhook) error {
	_, err := s.db.Exec(`INSERT INTO webhooks(id,session_code,channel,url,created_ms) VALUES(?,?,?,?,?)`, w.ID, w.Session, w.Channel, w.URL, w.CreatedMS)
	return err
}

// DeleteWebhook stops a webhook; owed deliveries are dropped.
func (s *Store) DeleteWebhook(id string, ms int64) error {
	res, err := s.db.Exec(`UPDATE webhooks SET deleted_ms=? WHERE id=? AND deleted_ms=0`, ms, id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("webhook %s: %w", id, ErrNotFound)
	}
	return nil
}

// Webhooks lists the live webhooks of a session (all sessions if empty).
func (s *Store) Webhooks(session string) ([]Webhook, error) {
	q := `SELECT id,session_code,channel,url,created_ms FROM webhooks WHERE deleted_ms=0`
	var args []any
	if session != "" {
		q += ` AND session_code=?`
		args = append(args, session)
	}
	return queryAll(s.db, func(sc interface{ Scan(...any) error }) (Webhook, error) {
		var w Webhook
		err := sc.Scan(&w.ID, &w.Session, &w.Channel, &w.URL, &w.CreatedMS)
		return w, err
	}, q+` ORDER BY created_ms, id`, args...)
}

// DueDeliveries returns up to limit deliveries owed at nowMS.
func (s *Store) DueDeliveries(nowMS int64, limit int) ([]Delivery, error) {
	return queryAll(s.db, func(sc interface{ Scan(...any) error }) (Delivery, error) {
		var d Delivery
		err := sc.Scan(&d.ID, &d.WebhookID, &d.URL, &d.MessageID, &d.Attempts, &d.NextMS)
		return d, err
	}, `SELECT d.id, d.webhook_id, w.url, d.message_id, d.attempts, d.next_ms
FROM deliveries d JOIN webhooks w ON w.id = d.webhook_id
WHERE d.delivered_ms=0 AND d.gave_up_ms=0 AND w.deleted_ms=0 AND d.next_ms<=? ORDER BY d.next_ms, d.id LIMIT ?`, nowMS, limit)
}

// MarkDelivered records a successful delivery.
func (s *Store) MarkDelivered(id, ms int64) error {
	_, err := s.db.Exec(`UPDATE deliveries SET delivered_ms=?, attempts=attempts+1 WHERE id=?`, ms, id)
	return err
}

// MarkFailed records a failed attempt; nextMS=0 gives up.
func (s *Store) MarkFailed(id, nowMS, nextMS int64, reason string) error {
	if nextMS == 0 {
		_, err := s.db.Exec(`UPDATE deliveries SET attempts=attempts+1, gave_up_ms=?, last_error=? WHERE id=?`, nowMS, reason, id)
		return err
	}
	_, err := s.db.Exec(`UPDATE deliveries SET attempts=attempts+1, next_ms=?, last_error=? WHERE id=?`, nextMS, reason, id)
	return err
}

// Message returns one message by id.
func (s *Store) Message(id string) (Message, error) {
	m, err := scanMessage(s.db.QueryRow(`SELECT `+messageCols+` FROM messages WHERE id=?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return m, fmt.Errorf("message %s: %w", id, ErrNotFound)
	}
	return m, err
}
