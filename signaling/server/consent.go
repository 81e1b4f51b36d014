package server

// consent.go: what kiosks report about recording: the participant's consent
// (stored once, it decides pairing when the session records) and each
// segment's start and stop (kept as events and as the latest state for the
// experimenter's view).

import (
	"fmt"
	"unicode/utf8"

	"github.com/parley-lab/parley/signaling/protocol"
	"github.com/parley-lab/parley/signaling/store"
)

// Event kinds of recording.
const (
	EvConsent           = "consent"            // {given, language, at_ms}
	EvRecordingStarted  = "recording_started"  // {segment, seq, reason, at_ms}
	EvRecordingStopped  = "recording_stopped"  // {segment, seq, reason, at_ms}
	EvRecordingUploaded = "recording_uploaded" // {segment, seq, size, sha256, path}
	EvRecordingComplete = "recording_complete" // {segments, bytes}; also sent to the session's webhooks
)

// maxLanguageBytes bounds Consent.Language (a BCP 47 tag is far shorter).
const maxLanguageBytes = 35

// recordingState is what the hub keeps of a participant's recording.
type recordingState struct {
	active   bool   // a segment started and has not stopped
	segment  string // the latest segment reported
	seq      int
	declared int // segments declared for upload
	uploaded int // segments complete on the server
}

// RecordingView is a participant's recording as the experimenter sees it.
type RecordingView struct {
	Recording bool   `json:"recording"` // a segment is being recorded now
	Segment   string `json:"segment,omitempty"`
	Seq       int    `json:"seq,omitempty"`
	Declared  int    `json:"declared"` // segments declared for upload
	Uploaded  int    `json:"uploaded"` // of which complete on the server
}

// noteReport takes a segment's start or stop. The latest report by
// sequence number is the state: a stop resent after the next segment's
// start does not hide that start.
func (r *recordingState) noteReport(segment string, seq int, started bool) {
	if seq >= r.seq {
		r.segment, r.seq, r.active = segment, seq, started
	}
}

func (r recordingState) view() *RecordingView {
	return &RecordingView{Recording: r.active, Segment: r.segment, Seq: r.seq, Declared: r.declared, Uploaded: r.uploaded}
}

// consentLocked records the participant's answer to the consent screen (the
// first one wins; a resend or a second answer is acknowledged and changes
// nothing), and pairs.
func (h *Hub) consentLocked(p *participant, ref string, c *protocol.Consent) *protocol.Error {
	if len(c.Language) > maxLanguageBytes || !utf8.ValidString(c.Language) {
		return &protocol.Error{Code: protocol.CodeBadField, Field: "language", Message: fmt.Sprintf("the language must be a language tag of at most %d bytes", maxLanguageBytes)}
	}
	now := h.clock.Now()
	if err := h.allowReport(p, now); err != nil {
		return err
	}
	if p.rec.Consent == "" {
		answer := protocol.ConsentDeclined
		if c.Given {
			answer = protocol.ConsentGiven
		}
		at := h.reportedAt(p, c.AtMS, now)
		e := ev(p.sess.rec.Code, p.rec.ID, p.groupID(), EvConsent, map[string]any{"given": c.Given, "language": c.Language, "at_ms": ms(at)}, at)
		e.ClientID = c.ID
		ok, err := h.st.SetConsent(p.rec.ID, answer, ms(at), e)
		if err != nil {
			h.log.Error("store consent", "err", err)
			return &protocol.Error{Code: protocol.CodeInternal, Message: "the server could not record your answer; it will be sent again"}
		}
		if ok {
			p.rec.Consent, p.rec.ConsentMS = answer, ms(at)
			h.version.Add(1)
			h.log.Info("consent", "session", p.sess.rec.Code, "seat", p.rec.Seat, "participant", p.rec.ID, "answer", answer)
		}
	}
	if ref != "" {
		h.ackLocked(p, ref)
	}
	if p.group == nil {
		h.pairLocked(p.sess, now, false)
	}
	return nil
}

// recordingLocked records a segment's start or stop, like a call state:
// stored once by its id, acknowledged once committed.
func (h *Hub) recordingLocked(p *participant, ref string, r *protocol.RecordingState) *protocol.Error {
	if err := checkSegmentID(r.Segment); err != nil {
		return &protocol.Error{Code: protocol.CodeBadField, Field: "segment", Message: err.Error()}
	}
	if r.Seq < 1 {
		return &protocol.Error{Code: protocol.CodeBadField, Field: "seq", Message: fmt.Sprintf("seq must be 1 or more, got %d", r.Seq)}
	}
	kind := EvRecordingStarted
	switch r.State {
	case protocol.RecordingStarted:
	case protocol.RecordingStopped:
		kind = EvRecordingStopped
	default:
		return &protocol.Error{Code: protocol.CodeBadField, Field: "state", Message: fmt.Sprintf("state %q is not %q or %q", r.State, protocol.RecordingStarted, protocol.RecordingStopped)}
	}
	if r.Reason != "" && !knownEndReason(r.Reason) {
		return &protocol.Error{Code: protocol.CodeBadField, Field: "reason", Message: fmt.Sprintf("reason %q is not %s", r.Reason, endReasonList)}
	}
	now := h.clock.Now()
	if err := h.allowReport(p, now); err != nil {
		return err
	}
	at := h.reportedAt(p, r.AtMS, now)
	report := &commitReq{from: p, ackRef: ref}
	defer h.enqueueLocked(report)
	if r.ID != "" && p.reported[r.ID] {
		return nil // a resend: acknowledged again
	}
	p.rememberReport(r.ID)
	p.recording.noteReport(r.Segment, r.Seq, r.State == protocol.RecordingStarted)
	e := ev(p.sess.rec.Code, p.rec.ID, p.groupID(), kind, map[string]any{"segment": r.Segment, "seq": r.Seq, "reason": r.Reason, "at_ms": ms(at)}, at)
	e.ClientID = r.ID
	report.events = []store.Event{e}
	return nil
}

// endReasonList names the segment end reasons, for refusals.
var endReasonList = fmt.Sprintf("%q, %q, %q or %q", protocol.SegmentCallEnded, protocol.SegmentCallLost, protocol.SegmentCrash, protocol.SegmentShutdown)

func knownEndReason(r string) bool {
	switch r {
	case protocol.SegmentCallEnded, protocol.SegmentCallLost, protocol.SegmentCrash, protocol.SegmentShutdown:
		return true
	}
	return false
}

// checkSegmentID checks a segment id: 1 to MaxSegmentIDBytes letters,
// digits, '-' and '_' (it becomes part of a file name).
func checkSegmentID(id string) error {
	if id == "" || len(id) > protocol.MaxSegmentIDBytes {
		return fmt.Errorf("the segment id must be 1 to %d characters, got %d", protocol.MaxSegmentIDBytes, len(id))
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return fmt.Errorf("the segment id %q may hold only letters, digits, '-' and '_'", id)
		}
	}
	return nil
}
