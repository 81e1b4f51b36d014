package store

// groups.go: groups and their discussion clocks.

import (
	"database/sql"
	"encoding/json"
	"fmt"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

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
	// PausedMS is when the experimenter paused the clock; 0 = running.
	// While paused, DeadlineMS-PausedMS is the time left.
	PausedMS int64
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
			// Free: in no group, or in one whose discussion ended (paired
			// again by hand); group_id is then the latest group.
			res, err := tx.Exec(`UPDATE participants SET group_id=? WHERE id=? AND (group_id='' OR group_id IN (SELECT id FROM groups WHERE ended_ms!=0))`, g.ID, m)
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

// SetClock changes a running group's deadline and pause (pausedMS 0:
// running), with the events that record it.
func (s *Store) SetClock(groupID string, deadlineMS, pausedMS int64, evs ...Event) (bool, error) {
	return s.updateOnce(`UPDATE groups SET deadline_ms=?, paused_ms=? WHERE id=? AND ended_ms=0 AND clock_started_ms!=0`,
		[]any{deadlineMS, pausedMS, groupID}, evs)
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
	return queryAll(s.db, scanGroup, `SELECT id,session_code,num,members,paired_ms,clock_started_ms,deadline_ms,clock_reason,ended_ms,end_reason,paused_ms FROM groups WHERE session_code=? ORDER BY num`, session)
}

func scanGroup(sc interface{ Scan(...any) error }) (Group, error) {
	var g Group
	var members string
	if err := sc.Scan(&g.ID, &g.Session, &g.Num, &members, &g.PairedMS, &g.ClockStartedMS, &g.DeadlineMS, &g.ClockReason, &g.EndedMS, &g.EndReason, &g.PausedMS); err != nil {
		return g, err
	}
	if err := json.Unmarshal([]byte(members), &g.Members); err != nil {
		return g, fmt.Errorf("group %s members: %w", g.ID, err)
	}
	return g, nil
}
