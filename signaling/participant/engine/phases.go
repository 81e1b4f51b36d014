package engine

// phases.go: the participant's way through the session: joining (and the
// notice when the server cannot be reached), consent, ready, paired and
// ended.

import (
	"time"

	"github.com/parley-lab/parley/signaling/participant"
	"github.com/parley-lab/parley/signaling/protocol"
)

// Join joins with the typed pseudonym.
func (e *Engine) Join(pseudonym string) {
	e.mu.Lock()
	if e.st.Phase != participant.PhaseIdle {
		e.mu.Unlock()
		return
	}
	e.st.Phase = participant.PhaseConnecting
	e.st.LastError = nil
	e.armUnreachableLocked()
	e.mu.Unlock()
	e.notify()
	e.sess.Start(pseudonym)
}

// armUnreachableLocked starts the wait after which a kiosk without a
// server connection says that the server cannot be reached.
func (e *Engine) armUnreachableLocked() {
	if e.unreachable != nil || e.st.ServerOnline {
		return
	}
	e.unreachable = e.cfg.Clock.AfterFunc(e.cfg.UnreachableAfter, func() {
		e.mu.Lock()
		e.unreachable = nil
		changed := !e.st.ServerOnline && !e.closed && !e.ended
		if changed {
			e.st.ServerUnreachable = true
			e.log.Warn("the lab server has not answered", "for", e.cfg.UnreachableAfter, "url", e.cfg.Session.URL)
		}
		e.mu.Unlock()
		if changed {
			e.notify()
		}
	})
}

// Ready says the participant finished the device check: the server may
// pair them now.
func (e *Engine) Ready() {
	e.mu.Lock()
	e.st.Ready = true
	e.mu.Unlock()
	e.sess.Ready()
	e.notify()
}

// Consent answers the consent screen; the first answer is kept (here and
// at the server), and goes out through the session's outbox, so it
// survives an outage and a restart.
func (e *Engine) Consent(given bool, language string) {
	e.mu.Lock()
	if e.st.Consent != "" {
		e.mu.Unlock()
		return
	}
	e.st.Consent = protocol.ConsentDeclined
	if given {
		e.st.Consent = protocol.ConsentGiven
	}
	e.mu.Unlock()
	if err := e.sess.Send(protocol.TypeConsent, protocol.Consent{Given: given, Language: language}); err != nil {
		e.log.Error("consent not sent", "err", err)
	}
	e.notify()
}

// pairedLocked records the group and starts a call with each partner that
// has none (a resume keeps calls that are running: media flow peer to peer
// while the server is away).
func (e *Engine) pairedLocked(p *protocol.Paired) func() {
	e.group = p.Group
	e.ice = p.ICEServers
	e.members = map[string]string{}
	var partners []string
	for _, m := range p.Members {
		e.members[m.ID] = m.Pseudonym
		if m.ID != e.selfID {
			partners = append(partners, m.Pseudonym)
		}
	}
	e.st.Partners = partners
	e.partnerAtServer = true
	e.updatePartnerOnlineLocked()
	e.st.Channels = channels(p.Channels)
	e.st.Duration = time.Duration(p.DurationS) * time.Second
	if e.st.Phase < participant.PhasePaired {
		e.st.Phase = participant.PhasePaired
	}
	if e.ended {
		return nil
	}
	offerTo := map[string]bool{}
	for _, id := range p.OfferTo {
		offerTo[id] = true
	}
	var dials []func()
	for _, id := range e.partnerIDsLocked() {
		if e.calls[id] != nil {
			continue
		}
		dials = append(dials, e.dialLocked(id, offerTo[id]))
	}
	return func() {
		for _, d := range dials {
			d()
		}
	}
}

// updatePartnerOnlineLocked: the partner counts as there while the server
// sees it or while its media reach us (a partner who only lost the server
// is still talking peer to peer; the UI must not cover that video).
func (e *Engine) updatePartnerOnlineLocked() {
	e.st.PartnerOnline = e.partnerAtServer || e.st.MediaConnected
}

// armDeadlineLocked (re)arms the kiosk's own end of the discussion for
// EndGrace after the deadline the server gave, as of now: a server that is
// away at zero, or a kiosk cut off from it, must not let the call run on.
// A paused clock arms nothing; its next Clock message re-arms. The timer
// runs on the monotonic clock, so a stepped wall clock does not move it.
func (e *Engine) armDeadlineLocked(now time.Time) {
	e.disarmDeadlineLocked()
	if e.ended || e.closed || e.st.Paused || e.st.Deadline.IsZero() {
		return
	}
	deadline := e.st.Deadline
	e.atDeadline = e.cfg.Clock.AfterFunc(deadline.Sub(now)+e.cfg.EndGrace, func() {
		e.mu.Lock()
		if e.ended || e.closed || e.st.Paused || !e.st.Deadline.Equal(deadline) {
			e.mu.Unlock()
			return // ended, or a newer clock re-armed
		}
		e.atDeadline = nil
		e.log.Warn("the server has not ended the discussion at its deadline: ending it here; the session stays until the server is back and says so",
			"deadline", deadline, "grace", e.cfg.EndGrace, "server_online", e.st.ServerOnline)
		after := e.endLocked(protocol.EndDeadline, false)
		e.mu.Unlock()
		after()
		e.notify()
	})
}

func (e *Engine) disarmDeadlineLocked() {
	if e.atDeadline != nil {
		e.atDeadline.Stop()
		e.atDeadline = nil
	}
}

// endLocked ends the discussion: calls close at once, devices are released.
// The first end is the one the participant is told: a later "ended" (the
// group's end after this participant was removed) does not replace it.
// byServer: the server said so. An end by this kiosk's own clock
// (armDeadlineLocked) keeps the session until the server's "ended" comes,
// so what the outbox holds goes the moment the server is back, not at the
// kiosk's next start; leaving (the end action, the exit keys) lets it go
// as usual.
func (e *Engine) endLocked(reason string, byServer bool) func() {
	if e.ended {
		if byServer && e.awaitingServerEnd {
			e.awaitingServerEnd = false
			return e.releaseSession
		}
		return nil
	}
	e.st.Phase = participant.PhaseEnded
	e.st.EndReason = reason
	e.st.MediaConnected = false
	e.ended = true
	e.awaitingServerEnd = !byServer
	e.disarmDeadlineLocked()
	calls := e.takeCallsLocked()
	return func() {
		e.syncRecording(protocol.SegmentCallEnded, true)
		closeCalls(calls)
		e.cfg.Media.Close()
		if byServer {
			e.releaseSession()
		}
	}
}

// releaseSession lets the session go once the server has ended the
// discussion: nothing is left to resume. The session delivers what its
// outbox still holds (chat typed before the end is accepted late), then
// forgets the token so a restarted kiosk greets the next participant
// instead of this one's end screen; what the server did not take in time
// is kept for the next start.
func (e *Engine) releaseSession() {
	// Run apart: this may be the session's own goroutine, which Close waits for.
	go e.sess.Close(true)
}
