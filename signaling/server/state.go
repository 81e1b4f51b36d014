package server

// state.go: the hub's live state (sessions, participants, groups) and its
// restore from the store after a restart.

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/parley-lab/parley/signaling/protocol"
	"github.com/parley-lab/parley/signaling/store"
)

type session struct {
	rec          store.Session
	settings     SessionSettings
	participants []*participant
	groups       []*group
	groupByID    map[string]*group // the same groups: a chat message finds its readers without a scan
	webhooks     []store.Webhook
	// checkID is set for a workstation check's session (room protocol.CheckRoom).
	checkID string
}

// addGroupLocked adds g to s.
func (s *session) addGroupLocked(g *group) {
	if s.groupByID == nil {
		s.groupByID = map[string]*group{}
	}
	s.groups = append(s.groups, g)
	s.groupByID[g.rec.ID] = g
}

type participant struct {
	rec   store.Participant
	sess  *session
	group *group
	conn  *conn
	// held are signaling frames for this participant while it is offline.
	held []heldSignal
	// connectedTo: peers this participant reported the call connected with
	// (now); callUp: those it ever did in this group (a call that is down
	// again is reconnecting).
	connectedTo map[string]bool
	callUp      map[string]bool
	chat        bucket // chat messages
	reports     bucket // call states and stats
	// reported: ids of recent call-state and stats reports, so a resend
	// after a drop changes nothing twice.
	reported map[string]bool
	// noPartner is set once the participant waited past the session's
	// no_partner_after_s; noPartnerTimer fires then.
	noPartner      bool
	noPartnerTimer Timer
	// devices is the kiosk's latest device report (nil: none yet), quality
	// its latest call statistics, lastSeen when it last sent anything.
	devices  *protocol.Devices
	quality  *protocol.Stats
	lastSeen time.Time
	// recording is the kiosk's latest recording report and the segments it
	// declared and uploaded (recordings.go).
	recording recordingState
	// left is set when the kiosk said "leave" (its participant is done and
	// it forgot the token), cleared if it comes back all the same.
	left bool
}

// resumable reports whether an offline p may still come back: it did not
// leave, was not removed, and nobody else holds its seat now.
func (p *participant) resumable() bool {
	return p.conn == nil && !p.left && p.rec.RemovedMS == 0 && p.sess.seatHolder(p.rec.Seat, p) == nil
}

// ready reports whether p may be paired: it finished the device check, or
// the session has none.
func (p *participant) ready() bool {
	return p.rec.ReadyMS != 0 || p.sess.settings.DeviceCheck == protocol.DeviceCheckOff
}

// consentOK reports whether p's consent allows pairing: the session
// records nothing, or p consented. With recording on, one who has not
// answered yet waits, and one who declined is never paired.
func (p *participant) consentOK() bool {
	return p.sess.settings.Record == protocol.RecordOff || p.rec.Consent == protocol.ConsentGiven
}

// pairable reports whether p may be a candidate for a group: the one rule
// the pairing, the no-partner timer and pairing by hand apply.
func (p *participant) pairable() bool { return p.ready() && p.consentOK() }

// heldSignal is a relayed signal waiting for its recipient to come back.
type heldSignal struct {
	from  *participant
	frame []byte
}

type group struct {
	rec     store.Group
	members []*participant
	timer   Timer
}

// restore loads every session from the store and re-arms the clocks of
// groups whose discussion is running, so a restarted server carries on.
func (h *Hub) restore() error {
	sessions, err := h.st.Sessions()
	if err != nil {
		return fmt.Errorf("load sessions: %w", err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, rec := range sessions {
		s := &session{rec: rec}
		if err := json.Unmarshal(rec.Settings, &s.settings); err != nil {
			return fmt.Errorf("session %s settings: %w", rec.Code, err)
		}
		s.settings = s.settings.WithDefaults()
		ps, err := h.st.Participants(rec.Code)
		if err != nil {
			return fmt.Errorf("session %s participants: %w", rec.Code, err)
		}
		for _, pr := range ps {
			p := &participant{rec: pr, sess: s, connectedTo: map[string]bool{}}
			s.participants = append(s.participants, p)
			h.byToken[pr.TokenHash] = p
			h.byID[pr.ID] = p
		}
		recs, err := h.st.Recordings(rec.Code)
		if err != nil {
			return fmt.Errorf("session %s recordings: %w", rec.Code, err)
		}
		for _, r := range recs {
			if p := h.byID[r.Participant]; p != nil {
				p.recording.declared++
				if r.CompleteMS != 0 {
					p.recording.uploaded++
				}
			}
		}
		if rec.State != store.SessionEnded {
			if err := h.restoreRecordingLocked(rec.Code); err != nil {
				return err
			}
		}
		if err := h.restoreLeftLocked(rec.Code); err != nil {
			return err
		}
		gs, err := h.st.Groups(rec.Code)
		if err != nil {
			return fmt.Errorf("session %s groups: %w", rec.Code, err)
		}
		for _, gr := range gs {
			g := &group{rec: gr}
			for _, id := range gr.Members {
				if p := h.byID[id]; p != nil {
					p.group = g
					g.members = append(g.members, p)
				}
			}
			s.addGroupLocked(g)
		}
		if s.webhooks, err = h.st.Webhooks(rec.Code); err != nil {
			return err
		}
		h.sessions[rec.Code] = s
		h.order = append(h.order, s)
	}
	now := h.clock.Now()
	for _, s := range h.order {
		for _, g := range s.groups {
			h.armLocked(g, now)
		}
	}
	return nil
}

func (p *participant) groupID() string {
	if p.group == nil {
		return ""
	}
	return p.group.rec.ID
}

// seatHolder returns the participant other than except who holds seat in s:
// one connected there, or one whose discussion is still running (it may
// resume at any moment). A seat never has two connected participants.
func (s *session) seatHolder(seat string, except *participant) *participant {
	for _, p := range s.participants {
		if p == except || p.rec.Seat != seat {
			continue
		}
		if p.conn != nil {
			return p
		}
		if g := p.group; g != nil && g.rec.EndedMS == 0 && s.rec.State != store.SessionEnded {
			return p
		}
	}
	return nil
}

func (s *session) pseudonymTaken(n string) bool {
	key := PseudonymKey(n)
	for _, p := range s.participants {
		if PseudonymKey(p.rec.Pseudonym) == key {
			return true
		}
	}
	return false
}

// allow applies the session's chat rate limit to p.
func (p *participant) allow(now time.Time, st SessionSettings) (wait time.Duration, ok bool) {
	return p.chat.take(now, st.RateBurst, st.RatePerSecond)
}

// bucket is a token bucket.
type bucket struct {
	tokens float64
	at     time.Time
}

// take takes a token: burst at once, refilled at perSec. When it refuses,
// wait says when the next token is there.
func (b *bucket) take(now time.Time, burst int, perSec float64) (wait time.Duration, ok bool) {
	if b.at.IsZero() {
		b.tokens, b.at = float64(burst), now
	}
	b.tokens = min(float64(burst), b.tokens+now.Sub(b.at).Seconds()*perSec)
	b.at = now
	if b.tokens < 1 {
		return time.Duration((1 - b.tokens) / perSec * float64(time.Second)), false
	}
	b.tokens--
	return 0, true
}

func (g *group) has(id string) bool {
	for _, m := range g.members {
		if m.rec.ID == id {
			return true
		}
	}
	return false
}

// restoreLeftLocked sets who left, from each participant's latest leave
// or reconnect.
func (h *Hub) restoreLeftLocked(code string) error {
	evs, err := h.st.EventsOfKinds(code, EvLeave, EvReconnect)
	if err != nil {
		return fmt.Errorf("session %s leave events: %w", code, err)
	}
	for _, e := range evs {
		if p := h.byID[e.Participant]; p != nil {
			p.left = e.Kind == EvLeave
		}
	}
	return nil
}

// restoreRecordingLocked sets whether each participant of a running
// session is recording now, from the latest start or stop they reported.
func (h *Hub) restoreRecordingLocked(code string) error {
	evs, err := h.st.EventsOfKinds(code, EvRecordingStarted, EvRecordingStopped)
	if err != nil {
		return fmt.Errorf("session %s recording events: %w", code, err)
	}
	for _, e := range evs {
		p := h.byID[e.Participant]
		var d struct {
			Segment string `json:"segment"`
			Seq     int    `json:"seq"`
		}
		if p == nil || json.Unmarshal(e.Data, &d) != nil {
			continue
		}
		p.recording.noteReport(d.Segment, d.Seq, e.Kind == EvRecordingStarted)
	}
	return nil
}
