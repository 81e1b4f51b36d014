package store

// sessions.go: sessions and their state changes.

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
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
