package engine

// signals.go: the partner's offers, answers, candidates and give-ups, as the
// server relays them, applied to the call they belong to.

import (
	"strings"

	"github.com/parley-lab/parley/signaling/protocol"
)

// sdpSessionID is the session id of an SDP's o= line ("" if none).
func sdpSessionID(sdp string) string {
	for line := range strings.SplitSeq(sdp, "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimRight(line, "\r"), "o="); ok {
			if f := strings.Fields(rest); len(f) >= 2 {
				return f[1]
			}
			return ""
		}
	}
	return ""
}

func (e *Engine) signalLocked(s *protocol.Signal) func() {
	if e.ended {
		return nil
	}
	peer := s.From
	if _, ok := e.members[peer]; !ok || peer == e.selfID {
		return nil
	}
	ce := e.calls[peer]
	if s.Kind == protocol.SignalGiveUp {
		// The partner gave up on a call: close ours too if it is that one
		// (not a fresh call made since) and make the fresh call together.
		if ce == nil || ce.offerID == "" || ce.offerID != s.Call {
			return nil
		}
		e.log.Info("the partner gave up on the call", "peer", peer, "call", s.Call)
		return func() { e.setCallState(peer, ce, protocol.CallFailed, true) }
	}
	var prelude func()
	if s.Kind == protocol.SignalOffer && ce != nil && ce.gotOffer && !ce.offerer {
		// A second offer means the partner made a fresh call (its kiosk
		// restarted, or its call failed): answer it with a fresh one too.
		old := ce.call
		delete(e.calls, peer)
		ce = nil
		prelude = func() {
			if old != nil {
				old.Close()
			}
		}
	}
	if ce == nil {
		if s.Kind != protocol.SignalOffer {
			return prelude // a late candidate of a call that is gone
		}
		start := e.dialLocked(peer, false)
		ce = e.calls[peer]
		ce.gotOffer = true
		ce.offerID = sdpSessionID(s.SDP)
		sig := *s
		return func() {
			if prelude != nil {
				prelude()
			}
			start()
			e.applySignal(peer, ce, sig)
		}
	}
	if s.Kind == protocol.SignalOffer {
		ce.gotOffer = true
		if ce.offerID == "" {
			ce.offerID = sdpSessionID(s.SDP)
		}
	}
	sig := *s
	return func() { e.applySignal(peer, ce, sig) }
}

func (e *Engine) applySignal(peer string, ce *callEntry, s protocol.Signal) {
	e.mu.Lock()
	c := ce.call
	e.mu.Unlock()
	if c == nil {
		return
	}
	if err := c.HandleSignal(s); err != nil {
		e.log.Warn("signal", "peer", peer, "kind", s.Kind, "err", err)
	}
}
