package server

// discussion.go: the discussion clock of each group: its start (all
// connected, or the fallback), its deadline, and the end of the discussion.

import (
	"time"

	"github.com/parley-lab/parley/signaling/protocol"
	"github.com/parley-lab/parley/signaling/store"
)

// armLocked schedules a group's next clock event: the end at the deadline,
// or the fallback start if the call never reports connected.
func (h *Hub) armLocked(g *group, now time.Time) {
	if g.timer != nil {
		g.timer.Stop()
		g.timer = nil
	}
	if g.rec.EndedMS != 0 {
		return
	}
	if g.rec.PausedMS != 0 {
		return // paused: nothing is due until the experimenter resumes
	}
	if g.rec.ClockStartedMS != 0 {
		d := time.UnixMilli(g.rec.DeadlineMS).Sub(now)
		g.timer = h.clock.AfterFunc(max(d, 0), func() { h.deadline(g) })
		return
	}
	s := g.members[0].sess
	if s.settings.ClockStart == ClockPaired {
		h.startClockLocked(g, now, ClockPaired)
		return
	}
	fallback := time.UnixMilli(g.rec.PairedMS).Add(time.Duration(s.settings.ClockFallbackS) * time.Second)
	g.timer = h.clock.AfterFunc(max(fallback.Sub(now), 0), func() { h.fallback(g) })
}

func (h *Hub) fallback(g *group) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed || g.rec.ClockStartedMS != 0 || g.rec.EndedMS != 0 {
		return
	}
	h.startClockLocked(g, h.clock.Now(), protocol.ClockFallback)
}

func (h *Hub) deadline(g *group) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed || g.rec.EndedMS != 0 {
		return
	}
	h.endGroupLocked(g, protocol.EndDeadline, g.rec.DeadlineMS)
}

func (h *Hub) clockMsg(g *group, now time.Time) protocol.Clock {
	c := protocol.Clock{StartedAtMS: g.rec.ClockStartedMS, DeadlineMS: g.rec.DeadlineMS, ServerTimeMS: ms(now), Reason: g.rec.ClockReason}
	if g.rec.PausedMS != 0 {
		c.Paused, c.RemainingMS = true, g.rec.DeadlineMS-g.rec.PausedMS
	}
	return c
}

// startClockLocked starts a group's discussion clock; evs (such as the
// call_connected that started it) commit with it.
func (h *Hub) startClockLocked(g *group, now time.Time, reason string, evs ...store.Event) {
	s := g.members[0].sess
	start := ms(now)
	deadline := start + int64(s.settings.DurationS)*1000
	evs = append(evs, ev(s.rec.Code, "", g.rec.ID, EvClockStart, map[string]any{"reason": reason, "deadline_ms": deadline, "paired_ms": g.rec.PairedMS, "setup_ms": start - g.rec.PairedMS}, now))
	ok, err := h.st.StartClock(g.rec.ID, start, deadline, reason, evs...)
	if err != nil {
		h.log.Error("start clock", "group", g.rec.ID, "err", err)
		return
	}
	if !ok {
		return
	}
	g.rec.ClockStartedMS, g.rec.DeadlineMS, g.rec.ClockReason = start, deadline, reason
	h.log.Info("clock start", "session", s.rec.Code, "group", g.rec.ID, "reason", reason, "deadline", time.UnixMilli(deadline).UTC().Format(time.RFC3339))
	// Arm the deadline before the members hear of the clock (see formGroupLocked).
	h.armLocked(g, now)
	for _, m := range g.members {
		h.sendLocked(m, protocol.TypeClock, "", h.clockMsg(g, now))
	}
}

// endGroupLocked ends a group's discussion at atMS and tells its members;
// the offline ones learn it when they return. A removed member is not told
// again: its kiosk says it was removed, not that the discussion ended.
func (h *Hub) endGroupLocked(g *group, reason string, atMS int64) {
	now := h.clock.Now()
	s := g.members[0].sess
	ok, err := h.st.EndGroup(g.rec.ID, atMS, reason,
		ev(s.rec.Code, "", g.rec.ID, EvClockEnd, map[string]any{"reason": reason, "deadline_ms": g.rec.DeadlineMS, "processed_late_ms": ms(now) - atMS}, now))
	if err != nil {
		h.log.Error("end group", "group", g.rec.ID, "err", err)
		// Try again shortly: the end must be recorded.
		g.timer = h.clock.AfterFunc(time.Second, func() { h.deadline(g) })
		return
	}
	if !ok {
		return
	}
	if g.timer != nil {
		g.timer.Stop()
		g.timer = nil
	}
	g.rec.EndedMS, g.rec.EndReason = atMS, reason
	h.log.Info("clock end", "session", s.rec.Code, "group", g.rec.ID, "reason", reason)
	for _, m := range g.members {
		if m.rec.RemovedMS != 0 {
			continue // told "removed" already: that stays their kiosk's last word
		}
		h.sendLocked(m, protocol.TypeEnded, "", protocol.Ended{Reason: reason, AtMS: atMS})
	}
}
