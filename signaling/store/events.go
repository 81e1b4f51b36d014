package store

// events.go: the events log; events of a state change commit in its transaction.

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

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

// EventsOfKinds lists a session's events of the given kinds, in the order
// they were logged (what a restarted server needs, without reading every
// statistics report).
func (s *Store) EventsOfKinds(session string, kinds ...string) ([]Event, error) {
	if len(kinds) == 0 {
		return nil, nil
	}
	q := `SELECT id,session_code,participant_id,group_id,kind,data,ts_ms,client_id FROM events WHERE session_code=? AND kind IN (?` +
		strings.Repeat(",?", len(kinds)-1) + `) ORDER BY id`
	args := []any{session}
	for _, k := range kinds {
		args = append(args, k)
	}
	return queryAll(s.db, scanEvent, q, args...)
}

func scanEvent(sc interface{ Scan(...any) error }) (Event, error) {
	var e Event
	var data string
	err := sc.Scan(&e.ID, &e.Session, &e.Participant, &e.Group, &e.Kind, &data, &e.TimeMS, &e.ClientID)
	e.Data = json.RawMessage(data)
	return e, err
}
