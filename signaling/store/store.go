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
const SchemaVersion = 3

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
ALTER TABLE participants ADD COLUMN removed_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE groups ADD COLUMN paused_ms INTEGER NOT NULL DEFAULT 0;
CREATE UNIQUE INDEX events_idem ON events(participant_id, client_id) WHERE client_id != '';`,
	// version 3: recording: the participant's consent, the segments the
	// kiosks upload, and webhook deliveries of events (recording_complete)
	// besides messages: the outbox is rebuilt because SQLite cannot make
	// message_id nullable in place.
	`ALTER TABLE participants ADD COLUMN consent TEXT NOT NULL DEFAULT '';
ALTER TABLE participants ADD COLUMN consent_ms INTEGER NOT NULL DEFAULT 0;
CREATE TABLE recordings(
  participant_id TEXT NOT NULL REFERENCES participants(id),
  id TEXT NOT NULL,
  session_code TEXT NOT NULL REFERENCES sessions(code),
  group_id TEXT NOT NULL DEFAULT '',
  seq INTEGER NOT NULL,
  start_ms INTEGER NOT NULL,
  end_ms INTEGER NOT NULL,
  mode TEXT NOT NULL,
  container TEXT NOT NULL,
  codecs TEXT NOT NULL,
  width INTEGER NOT NULL DEFAULT 0,
  height INTEGER NOT NULL DEFAULT 0,
  size INTEGER NOT NULL,
  sha256 TEXT NOT NULL,
  video_frames INTEGER NOT NULL DEFAULT 0,
  audio_packets INTEGER NOT NULL DEFAULT 0,
  dropped INTEGER NOT NULL DEFAULT 0,
  end_reason TEXT NOT NULL DEFAULT '',
  repaired INTEGER NOT NULL DEFAULT 0,
  final INTEGER NOT NULL DEFAULT 0,
  received INTEGER NOT NULL DEFAULT 0,
  declared_ms INTEGER NOT NULL,
  complete_ms INTEGER NOT NULL DEFAULT 0,
  path TEXT NOT NULL,
  PRIMARY KEY(participant_id, id),
  UNIQUE(participant_id, seq));
CREATE INDEX recordings_session ON recordings(session_code, participant_id, seq);
CREATE TABLE deliveries_v3(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  webhook_id TEXT NOT NULL REFERENCES webhooks(id),
  message_id TEXT REFERENCES messages(id),
  event_id INTEGER REFERENCES events(id),
  attempts INTEGER NOT NULL DEFAULT 0,
  next_ms INTEGER NOT NULL,
  delivered_ms INTEGER NOT NULL DEFAULT 0,
  gave_up_ms INTEGER NOT NULL DEFAULT 0,
  last_error TEXT NOT NULL DEFAULT '',
  UNIQUE(webhook_id, message_id),
  UNIQUE(webhook_id, event_id));
INSERT INTO deliveries_v3(id,webhook_id,message_id,attempts,next_ms,delivered_ms,gave_up_ms,last_error)
  SELECT id,webhook_id,message_id,attempts,next_ms,delivered_ms,gave_up_ms,last_error FROM deliveries;
DROP TABLE deliveries;
ALTER TABLE deliveries_v3 RENAME TO deliveries;
CREATE INDEX deliveries_due ON deliveries(delivered_ms, gave_up_ms, next_ms);`,
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
