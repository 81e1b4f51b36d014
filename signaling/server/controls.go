package server

// controls.go: what the experimenter can do to a running session beyond
// opening and ending it: end one group's discussion, give a group (or all)
// more or less time, pause and resume a group's clock, remove a
// participant, and pair waiting participants by hand. Each is one
// operation here, called by the HTTP API, the CLI (through the API) and the
// dashboard, and each is recorded as an event with its time.

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/parley-lab/parley/signaling/protocol"
	"github.com/parley-lab/parley/signaling/store"
)

// Event kinds of the experimenter's controls.
const (
	EvGroupEnded   = "group_ended_by_experimenter"
	EvTimeAdjusted = "time_adjusted"
	EvClockPaused  = "clock_paused"
	EvClockResumed = "clock_resumed"
	EvRemoved      = "participant_removed"
	EvPairedByHand = "paired_by_experimenter"
)

// minRemainingOnShort: taking time away never ends a discussion in the past.
const minRemainingOnShort = time.Second

// Errors of the controls.
var (
	// ErrUnknownGroup: no group with that number in the session.
	ErrUnknownGroup = errors.New("unknown group")
	// ErrGroupState: the group's clock is not in a state that allows this.
	ErrGroupState = errors.New("group state does not allow this")
	// ErrUnknownParticipant: nobody with that id, code or seat in the session.
	ErrUnknownParticipant = errors.New("unknown participant")
)

// GroupView is a group as the experimenter sees it.
type GroupView struct {
	Num       int        `json:"num"`
	ID        string     `json:"id"`
	Seats     []string   `json:"seats"`
	State     string     `json:"state"` // waiting_for_call, running, paused, ended
	StartedAt *time.Time `json:"started_at,omitempty"`
	Deadline  *time.Time `json:"deadline,omitempty"`
	TimeLeftS *float64   `json:"time_left_s,omitempty"`
	EndReason string     `json:"end_reason,omitempty"`
}

func (h *Hub) groupViewLocked(g *group, now time.Time) GroupView {
	v := GroupView{Num: g.rec.Num, ID: g.rec.ID, Seats: []string{}, StartedAt: optTime(g.rec.ClockStartedMS), EndReason: g.rec.EndReason}
	for _, m := range g.members {
		v.Seats = append(v.Seats, m.rec.Seat)
	}
	var left float64
	switch {
	case g.rec.EndedMS != 0:
		v.State = "ended"
	case g.rec.ClockStartedMS == 0:
		v.State = "waiting_for_call"
	case g.rec.PausedMS != 0:
		v.State = "paused"
		left = float64(g.rec.DeadlineMS-g.rec.PausedMS) / 1000
		v.TimeLeftS = &left
	default:
		v.State = "running"
		v.Deadline = optTime(g.rec.DeadlineMS)
		left = max(0, float64(g.rec.DeadlineMS-ms(now))/1000)
		v.TimeLeftS = &left
	}
	return v
}

// groupsLocked resolves "N" (as `participants` shows) or "all" to groups.
func (h *Hub) groupsLocked(s *session, which string) ([]*group, error) {
	if which == "all" {
		return s.groups, nil
	}
	n, err := strconv.Atoi(strings.TrimPrefix(which, protocol.GroupKeyPrefix))
	if err != nil || n < 1 || n > len(s.groups) {
		return nil, fmt.Errorf("%w %q in session %s (it has %d groups)", ErrUnknownGroup, which, s.rec.Code, len(s.groups))
	}
	return []*group{s.groups[n-1]}, nil
}

// oneGroupLocked resolves which to a single group ("all" is refused).
func (h *Hub) oneGroupLocked(s *session, which string) (*group, error) {
	if which == "all" {
		return nil, fmt.Errorf("%w: name one group by its number", ErrBadRequest)
	}
	gs, err := h.groupsLocked(s, which)
	if err != nil {
		return nil, err
	}
	return gs[0], nil
}

// EndGroup ends one group's discussion now.
func (h *Hub) EndGroup(code, which string) (GroupView, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s, err := h.sessionLocked(code)
	if err != nil {
		return GroupView{}, err
	}
	g, err := h.oneGroupLocked(s, which)
	if err != nil {
		return GroupView{}, err
	}
	now := h.clock.Now()
	if g.rec.EndedMS != 0 {
		return GroupView{}, fmt.Errorf("%w: group %d has already ended", ErrGroupState, g.rec.Num)
	}
	h.endGroupLocked(g, protocol.EndExperimenter, ms(now))
	h.event(code, "", g.rec.ID, EvGroupEnded, nil, now)
	return h.groupViewLocked(g, now), nil
}

// AdjustTime gives a group (or "all" whose clocks run) delta more time
// (less when negative; never less than a second left).
func (h *Hub) AdjustTime(code, which string, delta time.Duration) ([]GroupView, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s, err := h.sessionLocked(code)
	if err != nil {
		return nil, err
	}
	gs, err := h.groupsLocked(s, which)
	if err != nil {
		return nil, err
	}
	now := h.clock.Now()
	out := []GroupView{}
	for _, g := range gs {
		if g.rec.EndedMS != 0 || g.rec.ClockStartedMS == 0 {
			if which != "all" {
				return nil, fmt.Errorf("%w: group %d's clock is not running (%s)", ErrGroupState, g.rec.Num, h.groupViewLocked(g, now).State)
			}
			continue
		}
		ref := now
		if g.rec.PausedMS != 0 {
			ref = time.UnixMilli(g.rec.PausedMS) // the time left is what changes
		}
		deadline := max(g.rec.DeadlineMS+delta.Milliseconds(), ms(ref.Add(minRemainingOnShort)))
		data := map[string]any{"delta_s": delta.Seconds(), "deadline_ms": deadline, "previous_deadline_ms": g.rec.DeadlineMS}
		if err := h.setClockLocked(g, deadline, g.rec.PausedMS, ev(code, "", g.rec.ID, EvTimeAdjusted, data, now), now); err != nil {
			return nil, err
		}
		out = append(out, h.groupViewLocked(g, now))
	}
	return out, nil
}

// PauseGroup stops a group's clock; its members see "paused".
func (h *Hub) PauseGroup(code, which string) (GroupView, error) { return h.pause(code, which, true) }

// ResumeGroup starts a paused group's clock again with the time it had left.
func (h *Hub) ResumeGroup(code, which string) (GroupView, error) { return h.pause(code, which, false) }

func (h *Hub) pause(code, which string, pause bool) (GroupView, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s, err := h.sessionLocked(code)
	if err != nil {
		return GroupView{}, err
	}
	g, err := h.oneGroupLocked(s, which)
	if err != nil {
		return GroupView{}, err
	}
	now := h.clock.Now()
	state := h.groupViewLocked(g, now).State
	switch {
	case pause && state != "running":
		return GroupView{}, fmt.Errorf("%w: group %d is %s; only a running clock can be paused", ErrGroupState, g.rec.Num, state)
	case !pause && state != "paused":
		return GroupView{}, fmt.Errorf("%w: group %d is %s; only a paused clock can be resumed", ErrGroupState, g.rec.Num, state)
	}
	deadline, paused, kind := g.rec.DeadlineMS, ms(now), EvClockPaused
	if !pause {
		deadline, paused, kind = ms(now)+(g.rec.DeadlineMS-g.rec.PausedMS), 0, EvClockResumed
	}
	data := map[string]any{"time_left_ms": deadline - ms(now)}
	if err := h.setClockLocked(g, deadline, paused, ev(code, "", g.rec.ID, kind, data, now), now); err != nil {
		return GroupView{}, err
	}
	return h.groupViewLocked(g, now), nil
}

// setClockLocked stores a group's new deadline and pause, re-arms its timer
// and tells its members.
func (h *Hub) setClockLocked(g *group, deadline, paused int64, e store.Event, now time.Time) error {
	ok, err := h.st.SetClock(g.rec.ID, deadline, paused, e)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: group %d's clock is not running", ErrGroupState, g.rec.Num)
	}
	g.rec.DeadlineMS, g.rec.PausedMS = deadline, paused
	h.armLocked(g, now)
	for _, m := range g.members {
		h.sendLocked(m, protocol.TypeClock, "", h.clockMsg(g, now))
	}
	h.log.Info("clock changed", "session", g.rec.Session, "group", g.rec.ID, "event", e.Kind)
	return nil
}

// participantLocked finds a session's participant by id, code or seat. A
// seat used by several participants in turn (its kiosk restarted for the
// next person) names the latest.
func (h *Hub) participantLocked(s *session, who string) (*participant, error) {
	var atSeat *participant
	for _, p := range s.participants {
		if p.rec.ID == who || p.rec.Code == who {
			return p, nil
		}
		if p.rec.Seat == who {
			atSeat = p
		}
	}
	if atSeat == nil {
		return nil, fmt.Errorf("%w %q in session %s", ErrUnknownParticipant, who, s.rec.Code)
	}
	return atSeat, nil
}

// RemoveParticipant takes a participant out of the session: their kiosk
// goes to the end screen, they are never paired again, and their group's
// discussion ends for the others.
func (h *Hub) RemoveParticipant(code, who string) (ParticipantView, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s, err := h.sessionLocked(code)
	if err != nil {
		return ParticipantView{}, err
	}
	p, err := h.participantLocked(s, who)
	if err != nil {
		return ParticipantView{}, err
	}
	now := h.clock.Now()
	if p.rec.RemovedMS != 0 {
		return ParticipantView{}, fmt.Errorf("%w: %s was removed already", ErrGroupState, p.rec.Seat)
	}
	ok, err := h.st.SetRemoved(p.rec.ID, ms(now), ev(code, p.rec.ID, p.groupID(), EvRemoved, nil, now))
	if err != nil {
		return ParticipantView{}, err
	}
	if ok {
		p.rec.RemovedMS = ms(now)
	}
	h.sendLocked(p, protocol.TypeEnded, "", protocol.Ended{Reason: protocol.EndRemoved, AtMS: ms(now)})
	if g := p.group; g != nil && g.rec.EndedMS == 0 {
		h.endGroupLocked(g, protocol.EndExperimenter, ms(now))
	}
	h.log.Info("participant removed", "session", code, "seat", p.rec.Seat, "participant", p.rec.ID)
	return h.participantViewLocked(p, now), nil
}

// handPairRefusal says why p cannot be paired by hand now (nil: it can).
// A member of a group whose discussion ended (its partner was removed, or
// the experimenter ended it early) can be paired again, as one waiting can,
// if it is connected or may still resume and consented where the session
// records.
func (p *participant) handPairRefusal() error {
	switch {
	case p.rec.RemovedMS != 0:
		return fmt.Errorf("%w: %s was removed", ErrGroupState, p.rec.Seat)
	case p.group != nil && p.group.rec.EndedMS == 0:
		return fmt.Errorf("%w: %s is in group %d already", ErrGroupState, p.rec.Seat, p.group.rec.Num)
	case p.conn == nil && !p.resumable():
		return fmt.Errorf("%w: %s is not connected and has left", ErrGroupState, p.rec.Seat)
	case !p.consentOK():
		return fmt.Errorf("%w: %s has not consented to being recorded (this session records %s)", ErrGroupState, p.rec.Seat, p.sess.settings.Record)
	}
	return nil
}

// PairByHand forms a group of the participants at seats (as many as the
// session's group size), whatever the matching rule: waiting ones, or
// members of a group that ended (see handPairRefusal).
func (h *Hub) PairByHand(code string, seats []string) (GroupView, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s, err := h.sessionLocked(code)
	if err != nil {
		return GroupView{}, err
	}
	if s.rec.State == store.SessionEnded {
		return GroupView{}, fmt.Errorf("%w: session %s has ended", ErrSessionState, code)
	}
	if len(seats) != s.settings.GroupSize {
		return GroupView{}, fmt.Errorf("%w: a group in this session has %d members; %d seats were named", ErrBadRequest, s.settings.GroupSize, len(seats))
	}
	var ids []string
	seen := map[*participant]bool{}
	before := map[string]int{} // seat: the ended group it was in
	for _, seat := range seats {
		p, err := h.participantLocked(s, seat)
		if err != nil {
			return GroupView{}, err
		}
		if seen[p] {
			return GroupView{}, fmt.Errorf("%w: %s is named twice", ErrBadRequest, seat)
		}
		if err := p.handPairRefusal(); err != nil {
			return GroupView{}, err
		}
		if p.group != nil {
			before[p.rec.Seat] = p.group.rec.Num
		}
		seen[p] = true
		ids = append(ids, p.rec.ID)
	}
	now := h.clock.Now()
	byHand := map[string]any{"seats": seats}
	if len(before) > 0 {
		byHand["previous_groups"] = before
	}
	if err := h.formGroupLocked(s, ids, now, byHand); err != nil {
		return GroupView{}, err
	}
	g := s.groups[len(s.groups)-1]
	h.pairLocked(s, now, false) // the others' waiting counts
	return h.groupViewLocked(g, now), nil
}
