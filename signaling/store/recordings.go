package store

// recordings.go: the recorded segments kiosks upload: what each kiosk
// declared, how much of it the server holds, and when it was complete.

import (
	"database/sql"
	"errors"
	"fmt"
	"strings"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// Recording is one segment of one participant's recording.
type Recording struct {
	Participant string
	ID          string // the kiosk's segment id, unique per participant
	Session     string
	Group       string
	Seq         int
	StartMS     int64
	EndMS       int64
	Mode        string
	Container   string
	Codecs      []string
	Width       int
	Height      int
	Size        int64
	SHA256      string
	VideoFrames int
	AudioPkts   int
	Dropped     int
	EndReason   string
	Repaired    bool
	Final       bool
	// Received is how many bytes the server held at the last acknowledged
	// chunk (Size once complete). The upload handler takes the .part file's
	// size as the truth; this column is for exports and views.
	Received   int64
	DeclaredMS int64
	CompleteMS int64 // 0 = not complete
	// Path is the file's path relative to the data directory (the final
	// name; the upload in progress is Path + ".part").
	Path string
}

// ErrSeqTaken is returned when a participant declares a second segment with
// a sequence number already used by another segment id.
var ErrSeqTaken = errors.New("sequence number already declared")

const recordingCols = `participant_id,id,session_code,group_id,seq,start_ms,end_ms,mode,container,codecs,width,height,size,sha256,
video_frames,audio_packets,dropped,end_reason,repaired,final,received,declared_ms,complete_ms,path`

func scanRecording(sc interface{ Scan(...any) error }) (Recording, error) {
	var r Recording
	var codecs string
	err := sc.Scan(&r.Participant, &r.ID, &r.Session, &r.Group, &r.Seq, &r.StartMS, &r.EndMS, &r.Mode, &r.Container, &codecs,
		&r.Width, &r.Height, &r.Size, &r.SHA256, &r.VideoFrames, &r.AudioPkts, &r.Dropped, &r.EndReason, &r.Repaired, &r.Final,
		&r.Received, &r.DeclaredMS, &r.CompleteMS, &r.Path)
	if codecs != "" {
		r.Codecs = strings.Split(codecs, "+")
	}
	return r, err
}

// DeclareSegment stores a newly declared segment. If the participant has
// declared that id already, the stored one is returned with created false
// (the caller compares them); a new id with a sequence number already
// taken is ErrSeqTaken.
func (s *Store) DeclareSegment(r Recording, evs ...Event) (stored Recording, created bool, err error) {
	err = s.tx(func(tx *sql.Tx) error {
		old, err := scanRecording(tx.QueryRow(`SELECT `+recordingCols+` FROM recordings WHERE participant_id=? AND id=?`, r.Participant, r.ID))
		if err == nil {
			stored = old
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		_, err = tx.Exec(`INSERT INTO recordings(`+recordingCols+`) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
			r.Participant, r.ID, r.Session, r.Group, r.Seq, r.StartMS, r.EndMS, r.Mode, r.Container, strings.Join(r.Codecs, "+"),
			r.Width, r.Height, r.Size, r.SHA256, r.VideoFrames, r.AudioPkts, r.Dropped, r.EndReason, r.Repaired, r.Final,
			r.Received, r.DeclaredMS, r.CompleteMS, r.Path)
		if isUnique(err) {
			return fmt.Errorf("segment %s, seq %d: %w", r.ID, r.Seq, ErrSeqTaken)
		}
		if err != nil {
			return err
		}
		stored, created = r, true
		return addEvents(tx, evs)
	})
	return stored, created, err
}

// Segment returns one participant's segment.
func (s *Store) Segment(participantID, id string) (Recording, error) {
	r, err := scanRecording(s.db.QueryRow(`SELECT `+recordingCols+` FROM recordings WHERE participant_id=? AND id=?`, participantID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return r, fmt.Errorf("segment %s: %w", id, ErrNotFound)
	}
	return r, err
}

// SetReceived records how much of an incomplete segment the server holds.
func (s *Store) SetReceived(participantID, id string, n int64) error {
	_, err := s.db.Exec(`UPDATE recordings SET received=? WHERE participant_id=? AND id=? AND complete_ms=0`, n, participantID, id)
	return err
}

// Completion is what CompleteSegment needs besides the segment: the event
// that records the upload, and how to record the participant's whole
// recording being complete (with the webhooks owed that event).
type Completion struct {
	Uploaded Event
	// Whole builds the event of the participant's recording being complete
	// (every segment 1..final), given their count and total size.
	Whole    func(segments int, bytes int64) Event
	Webhooks []string
}

// CompleteSegment marks a segment complete (its file at Path) with its
// event. If that makes a final segment and every earlier one complete, the
// Whole event is written too, with a delivery to each webhook, in the same
// transaction; whole reports it. A segment already complete changes
// nothing.
func (s *Store) CompleteSegment(participantID, id string, ms int64, c Completion) (whole bool, err error) {
	err = s.tx(func(tx *sql.Tx) error {
		var seq int
		res, err := tx.Exec(`UPDATE recordings SET complete_ms=?, received=size WHERE participant_id=? AND id=? AND complete_ms=0`, ms, participantID, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return nil
		}
		if err := tx.QueryRow(`SELECT seq FROM recordings WHERE participant_id=? AND id=?`, participantID, id).Scan(&seq); err != nil {
			return err
		}
		if err := addEvents(tx, []Event{c.Uploaded}); err != nil {
			return err
		}
		whole, err = completeSetTx(tx, participantID, seq, ms, c)
		return err
	})
	return whole && err == nil, err
}

// MarkFinal marks a segment its participant's last (the kiosk learnt that
// the discussion was over after it had sent the segment). If that makes the
// participant's recording whole, it is recorded as in CompleteSegment.
func (s *Store) MarkFinal(participantID, id string, ms int64, c Completion) (whole bool, err error) {
	err = s.tx(func(tx *sql.Tx) error {
		res, err := tx.Exec(`UPDATE recordings SET final=1 WHERE participant_id=? AND id=? AND final=0`, participantID, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return nil
		}
		var seq int
		var complete int64
		if err := tx.QueryRow(`SELECT seq, complete_ms FROM recordings WHERE participant_id=? AND id=?`, participantID, id).Scan(&seq, &complete); err != nil {
			return err
		}
		if complete == 0 {
			return nil // its completion will close the set
		}
		whole, err = completeSetTx(tx, participantID, seq, ms, c)
		return err
	})
	return whole && err == nil, err
}

// completeSetTx writes the Whole event (with its webhook deliveries) when
// the segment seq, just completed or marked final, closes the
// participant's set: a final segment and every one before it complete.
func completeSetTx(tx *sql.Tx, participantID string, seq int, ms int64, c Completion) (bool, error) {
	var final sql.NullInt64
	if err := tx.QueryRow(`SELECT MIN(seq) FROM recordings WHERE participant_id=? AND final!=0`, participantID).Scan(&final); err != nil {
		return false, err
	}
	// Only the completion that closes the set fires: a segment after
	// the final one (which should not exist) changes nothing.
	if !final.Valid || int64(seq) > final.Int64 || c.Whole == nil {
		return false, nil
	}
	var n int
	var bytes int64
	if err := tx.QueryRow(`SELECT COUNT(*), COALESCE(SUM(size),0) FROM recordings WHERE participant_id=? AND seq BETWEEN 1 AND ? AND complete_ms!=0`,
		participantID, final.Int64).Scan(&n, &bytes); err != nil {
		return false, err
	}
	if int64(n) != final.Int64 {
		return false, nil
	}
	e := c.Whole(n, bytes)
	if err := addEvents(tx, []Event{e}); err != nil {
		return false, err
	}
	var evID int64
	if err := tx.QueryRow(`SELECT last_insert_rowid()`).Scan(&evID); err != nil {
		return false, err
	}
	for _, w := range c.Webhooks {
		if _, err := tx.Exec(`INSERT INTO deliveries(webhook_id,event_id,next_ms) VALUES(?,?,?)`, w, evID, ms); err != nil {
			return false, err
		}
	}
	return true, nil
}

// Recordings lists a session's segments (every session's if empty) by
// participant (in order of joining) and sequence number.
func (s *Store) Recordings(session string) ([]Recording, error) {
	q := `SELECT ` + prefixed("r.", recordingCols) + ` FROM recordings r JOIN participants p ON p.id = r.participant_id`
	var args []any
	if session != "" {
		q += ` WHERE r.session_code=?`
		args = append(args, session)
	}
	return queryAll(s.db, scanRecording, q+` ORDER BY r.session_code, p.id_in_session, r.seq`, args...)
}

func prefixed(prefix, cols string) string {
	parts := strings.Split(cols, ",")
	for i, c := range parts {
		parts[i] = prefix + strings.TrimSpace(c)
	}
	return strings.Join(parts, ",")
}
