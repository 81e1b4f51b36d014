package server

// experimenter_participants.go: the participants as the experimenter sees them:
// each one's view (seat, connection, devices, call quality, consent and
// recording, time left) and its state, the most pressing first.

import (
	"time"

	"github.com/parley-lab/parley/signaling/protocol"
	"github.com/parley-lab/parley/signaling/store"
)

// ParticipantView is a participant as the experimenter sees it. The resume
// token is never shown.
type ParticipantView struct {
	ID          string   `json:"id"`
	Code        string   `json:"participant_code"`
	IDInSession int      `json:"id_in_session"`
	Seat        string   `json:"seat"`
	Pseudonym   string   `json:"pseudonym"`
	Connected   bool     `json:"connected"`
	State       string   `json:"state"` // one of the State constants: connecting, device_check, waiting, in_call, left...
	Group       int      `json:"group,omitempty"`
	TimeLeftS   *float64 `json:"time_left_s,omitempty"`
	// Devices is the kiosk's report of its camera, microphone and speaker;
	// Quality its latest call statistics; LastSeen when it last sent anything.
	Devices  *protocol.Devices `json:"devices,omitempty"`
	Quality  *protocol.Stats   `json:"quality,omitempty"`
	LastSeen *time.Time        `json:"last_seen,omitempty"`
	// Consent (when the session records): "given", "declined" or "" (not
	// answered yet); Recording the kiosk's recording and its uploads.
	Consent   string         `json:"consent,omitempty"`
	Recording *RecordingView `json:"recording,omitempty"`
	// CanPair: the experimenter may pair this participant by hand now
	// (waiting, or in a group that ended; see handPairRefusal).
	CanPair bool `json:"can_pair"`
}

// Participants lists a session's participants with their state.
func (h *Hub) Participants(code string) ([]ParticipantView, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s, err := h.sessionLocked(code)
	if err != nil {
		return nil, err
	}
	now := h.clock.Now()
	out := []ParticipantView{}
	for _, p := range s.participants {
		out = append(out, h.participantViewLocked(p, now))
	}
	return out, nil
}

// Participant states as the experimenter sees them (ParticipantView.State).
const (
	StateConnecting          = "connecting"           // offline; its kiosk may come back (it did not leave)
	StateLeft                = "left"                 // its kiosk left before the discussion ended
	StateConsent             = "consent"              // answering the consent screen
	StateDeclined            = "declined"             // declined to be recorded: never paired
	StateDeviceCheck         = "device_check"         // in the device check
	StateWaiting             = "waiting"              // ready, waiting for a partner
	StateNoPartner           = "no_partner"           // waited past no_partner_after_s
	StatePaired              = "paired"               // in a group, the call not (yet) up
	StateInCall              = "in_call"              // the call with every partner is up
	StatePartnerReconnecting = "partner_reconnecting" // a partner is offline, or their call dropped
	StatePartnerLeft         = "partner_left"         // a partner left before the end
	StatePaused              = "paused"               // the group's clock is paused
	StateEnded               = "ended"                // the discussion (or the session) is over
	StateRemoved             = "removed"              // the experimenter removed them
)

// participantViewLocked is one participant as the experimenter sees it.
func (h *Hub) participantViewLocked(p *participant, now time.Time) ParticipantView {
	v := ParticipantView{ID: p.rec.ID, Code: p.rec.Code, IDInSession: p.rec.IDInSession, Seat: p.rec.Seat,
		Pseudonym: p.rec.Pseudonym, Connected: p.conn != nil, Devices: p.devices, Quality: p.quality}
	if !p.lastSeen.IsZero() {
		t := p.lastSeen.UTC()
		v.LastSeen = &t
	}
	if p.sess.settings.Record != protocol.RecordOff {
		v.Consent, v.Recording = p.rec.Consent, p.recording.view()
	}
	if g := p.group; g != nil {
		v.Group = g.rec.Num
		if gv := h.groupViewLocked(g, now); gv.TimeLeftS != nil {
			v.TimeLeftS = gv.TimeLeftS
		}
		if g.rec.EndedMS != 0 {
			zero := 0.0
			v.TimeLeftS = &zero
		}
	}
	v.State = p.stateLocked()
	v.CanPair = p.sess.rec.State != store.SessionEnded && p.handPairRefusal() == nil
	return v
}

// stateLocked is p's state, the most pressing first: what ended it, then
// its own connection, then where it is (before pairing in the kiosk's
// order: the consent screen comes before the device check), then its
// partners' connections and calls.
func (p *participant) stateLocked() string {
	g := p.group
	switch {
	case p.rec.RemovedMS != 0:
		return StateRemoved
	case g != nil && g.rec.EndedMS != 0, g == nil && p.sess.rec.State == store.SessionEnded:
		return StateEnded
	case p.left:
		return StateLeft
	case p.conn == nil:
		return StateConnecting
	case g == nil:
		switch {
		case p.rec.Consent == protocol.ConsentDeclined && !p.consentOK():
			return StateDeclined
		case !p.consentOK():
			return StateConsent
		case !p.ready():
			return StateDeviceCheck
		case p.noPartner:
			return StateNoPartner
		}
		return StateWaiting
	}
	state := StateInCall
	for _, o := range g.members {
		switch {
		case o == p:
		case o.left && o.rec.RemovedMS == 0:
			return StatePartnerLeft
		case o.conn == nil || p.callUp[o.rec.ID] && !p.connectedTo[o.rec.ID]:
			state = StatePartnerReconnecting
		case !p.connectedTo[o.rec.ID] && state == StateInCall:
			state = StatePaired
		}
	}
	if state != StatePartnerReconnecting && g.rec.PausedMS != 0 && g.rec.ClockStartedMS != 0 {
		return StatePaused
	}
	return state
}
