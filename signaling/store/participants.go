package store

// participants.go: participants, their resume tokens (hashed), readiness and consent.

import (
	"database/sql"
	"fmt"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

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
	RemovedMS   int64 // when the experimenter removed the participant; 0 = not removed
	// Consent is the answer to the recording consent screen
	// (protocol.ConsentGiven or ConsentDeclined; "" = not answered), given at
	// ConsentMS.
	Consent   string
	ConsentMS int64
}

// AddParticipant stores p, assigning IDInSession and Arrival, with the
// events that record it, and returns it.
func (s *Store) AddParticipant(p Participant, evs ...Event) (Participant, error) {
	err := s.tx(func(tx *sql.Tx) error {
		if err := tx.QueryRow(`SELECT COALESCE(MAX(id_in_session),0)+1, COALESCE(MAX(arrival),0)+1 FROM participants WHERE session_code=?`, p.Session).
			Scan(&p.IDInSession, &p.Arrival); err != nil {
			return err
		}
		_, err := tx.Exec(`INSERT INTO participants(`+participantCols+`) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
			p.ID, p.Session, p.Code, p.IDInSession, p.Seat, p.Pseudonym, p.TokenHash, p.GroupID, p.JoinedMS, p.Arrival, p.ReadyMS, p.RemovedMS, p.Consent, p.ConsentMS)
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

const participantCols = `id,session_code,code,id_in_session,seat,pseudonym,token_hash,group_id,joined_ms,arrival,ready_ms,removed_ms,consent,consent_ms`

func scanParticipant(sc interface{ Scan(...any) error }) (Participant, error) {
	var p Participant
	err := sc.Scan(&p.ID, &p.Session, &p.Code, &p.IDInSession, &p.Seat, &p.Pseudonym, &p.TokenHash, &p.GroupID, &p.JoinedMS, &p.Arrival, &p.ReadyMS, &p.RemovedMS, &p.Consent, &p.ConsentMS)
	return p, err
}

// SetRemoved records that the experimenter removed a participant, with the
// events that record it. The first time wins.
func (s *Store) SetRemoved(participantID string, ms int64, evs ...Event) (bool, error) {
	return s.updateOnce(`UPDATE participants SET removed_ms=? WHERE id=? AND removed_ms=0`, []any{ms, participantID}, evs)
}

// SetReady records that a participant finished the device check, with the
// events that record it. The first time wins.
func (s *Store) SetReady(participantID string, ms int64, evs ...Event) (bool, error) {
	return s.updateOnce(`UPDATE participants SET ready_ms=? WHERE id=? AND ready_ms=0`, []any{ms, participantID}, evs)
}

// SetConsent records a participant's answer to the consent screen, with
// the events that record it. The first answer wins.
func (s *Store) SetConsent(participantID, consent string, ms int64, evs ...Event) (bool, error) {
	return s.updateOnce(`UPDATE participants SET consent=?, consent_ms=? WHERE id=? AND consent=''`, []any{consent, ms, participantID}, evs)
}

// Participants lists a session's participants in arrival order.
func (s *Store) Participants(session string) ([]Participant, error) {
	return queryAll(s.db, scanParticipant, `SELECT `+participantCols+` FROM participants WHERE session_code=? ORDER BY id_in_session`, session)
}
