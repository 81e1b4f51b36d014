package server

// experimenter.go: what the experimenter can see and do, as operations on the
// hub that the HTTP API (api.go), the CLI and a dashboard all call: here the
// sessions (list, show, create, start, end); the participants, the channels,
// the controls and the webhooks have files of their own
// (experimenter_participants.go, experimenter_channels.go, controls.go,
// webhook.go).

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/parley-lab/parley/pairing"
	"github.com/parley-lab/parley/signaling/protocol"
	"github.com/parley-lab/parley/signaling/store"
)

// API errors.
var (
	// ErrUnknownSession: no session with that code.
	ErrUnknownSession = errors.New("unknown session")
	// ErrUnknownChannel: no such channel in the session.
	ErrUnknownChannel = errors.New("unknown channel")
	// ErrSessionState: the session is not in a state that allows this.
	ErrSessionState = errors.New("session state does not allow this")
)

// sessionLocked finds a session by code.
func (h *Hub) sessionLocked(code string) (*session, error) {
	s, ok := h.sessions[code]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownSession, code)
	}
	return s, nil
}

// SessionView is a session as the API shows it.
type SessionView struct {
	Code         string          `json:"code"`
	Room         string          `json:"room"`
	State        string          `json:"state"`
	Settings     SessionSettings `json:"settings"`
	CreatedAt    time.Time       `json:"created_at"`
	StartedAt    *time.Time      `json:"started_at,omitempty"`
	EndedAt      *time.Time      `json:"ended_at,omitempty"`
	Participants int             `json:"participants"`
	Connected    int             `json:"connected"`
	Groups       int             `json:"groups"`
	// AllGroupsEnded: every group's discussion is over (the session itself
	// stays open for latecomers until the experimenter ends it).
	AllGroupsEnded bool `json:"all_groups_ended"`
}

func optTime(msec int64) *time.Time {
	if msec == 0 {
		return nil
	}
	t := time.UnixMilli(msec).UTC()
	return &t
}

func (h *Hub) viewLocked(s *session) SessionView {
	v := SessionView{Code: s.rec.Code, Room: s.rec.Room, State: s.rec.State, Settings: s.settings,
		CreatedAt: time.UnixMilli(s.rec.CreatedMS).UTC(), StartedAt: optTime(s.rec.StartedMS), EndedAt: optTime(s.rec.EndedMS),
		Participants: len(s.participants), Groups: len(s.groups)}
	for _, p := range s.participants {
		if p.conn != nil {
			v.Connected++
		}
	}
	v.AllGroupsEnded = len(s.groups) > 0
	for _, g := range s.groups {
		if g.rec.EndedMS == 0 {
			v.AllGroupsEnded = false
		}
	}
	return v
}

// StartView is a started session with who was paired and who was left.
type StartView struct {
	SessionView
	// Paired lists each group formed at the start by its members' seats;
	// LeftOver the seats of connected participants without a group.
	Paired   [][]string `json:"paired"`
	LeftOver []string   `json:"left_over"`
}

// SessionViews lists every session, oldest first.
func (h *Hub) SessionViews() []SessionView {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := []SessionView{}
	for _, s := range h.order {
		if s.checkID == "" && s.rec.Room != protocol.CheckRoom {
			out = append(out, h.viewLocked(s))
		}
	}
	return out
}

// SessionView shows one session.
func (h *Hub) SessionView(code string) (SessionView, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s, err := h.sessionLocked(code)
	if err != nil {
		return SessionView{}, err
	}
	return h.viewLocked(s), nil
}

// CreateSession opens a session in room. settings (JSON, may be empty)
// override the room's defaults field by field.
func (h *Hub) CreateSession(room string, settings json.RawMessage) (SessionView, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r, ok := h.cfg.room(room)
	if !ok {
		return SessionView{}, fmt.Errorf("%w: room %q is not configured on this server", ErrBadRequest, room)
	}
	st := r.Defaults
	if len(settings) > 0 && string(settings) != "null" {
		dec := json.NewDecoder(strings.NewReader(string(settings)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&st); err != nil {
			return SessionView{}, fmt.Errorf("%w: settings: %s", ErrBadRequest, protocol.DescribeJSONError(err, "settings."))
		}
	}
	s, err := h.createSessionLocked(room, st, h.clock.Now())
	if err != nil {
		return SessionView{}, err
	}
	return h.viewLocked(s), nil
}

// StartSession starts a session; random matching pairs those present now.
// It says who was paired and who was left over.
func (h *Hub) StartSession(code string) (StartView, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s, err := h.sessionLocked(code)
	if err != nil {
		return StartView{}, err
	}
	if s.rec.State != store.SessionOpen {
		return StartView{}, fmt.Errorf("%w: session %s is %s, only an open session can be started", ErrSessionState, code, s.rec.State)
	}
	now := h.clock.Now()
	if err := h.st.SetSessionState(code, store.SessionStarted, ms(now), ev(code, "", "", EvSessionStarted, nil, now)); err != nil {
		return StartView{}, err
	}
	s.rec.State, s.rec.StartedMS = store.SessionStarted, ms(now)
	h.log.Info("session started", "session", code)
	before := len(s.groups)
	h.pairLocked(s, now, pairing.Rule(s.settings.Matching) == pairing.Random)
	out := StartView{SessionView: h.viewLocked(s), Paired: [][]string{}, LeftOver: []string{}}
	for _, g := range s.groups[before:] {
		var seats []string
		for _, m := range g.members {
			seats = append(seats, m.rec.Seat)
		}
		out.Paired = append(out.Paired, seats)
	}
	for _, p := range s.participants {
		if p.group == nil && p.conn != nil {
			out.LeftOver = append(out.LeftOver, p.rec.Seat)
		}
	}
	return out, nil
}

// EndSession ends a session and every discussion still running in it.
func (h *Hub) EndSession(code string) (SessionView, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s, err := h.sessionLocked(code)
	if err != nil {
		return SessionView{}, err
	}
	if s.rec.State == store.SessionEnded {
		return SessionView{}, fmt.Errorf("%w: session %s has already ended", ErrSessionState, code)
	}
	now := h.clock.Now()
	for _, g := range s.groups {
		if g.rec.EndedMS == 0 {
			h.endGroupLocked(g, protocol.EndExperimenter, ms(now))
		}
	}
	if err := h.st.SetSessionState(code, store.SessionEnded, ms(now), ev(code, "", "", EvSessionEnded, nil, now)); err != nil {
		return SessionView{}, err
	}
	s.rec.State, s.rec.EndedMS = store.SessionEnded, ms(now)
	h.log.Info("session ended", "session", code)
	for _, p := range s.participants {
		if p.group == nil && p.rec.RemovedMS == 0 {
			h.sendLocked(p, protocol.TypeEnded, "", protocol.Ended{Reason: protocol.EndSession, AtMS: ms(now)})
		}
	}
	return h.viewLocked(s), nil
}
