package server

// relay.go: the signaling relay between members of one group.

import (
	"fmt"

	"github.com/parley-lab/parley/signaling/protocol"
)

func (h *Hub) signalLocked(p *participant, ref string, sig *protocol.Signal) *protocol.Error {
	g := p.group
	if g == nil {
		return &protocol.Error{Code: protocol.CodeNotPaired, Message: "signaling is only possible after pairing"}
	}
	var to *participant
	for _, m := range g.members {
		if m.rec.ID == sig.To && m != p {
			to = m
		}
	}
	if to == nil {
		return &protocol.Error{Code: protocol.CodeNotInGroup, Message: fmt.Sprintf("%q is not another member of your group", sig.To), Field: "to"}
	}
	switch sig.Kind {
	case protocol.SignalOffer, protocol.SignalAnswer:
		if sig.SDP == "" {
			return &protocol.Error{Code: protocol.CodeBadField, Message: "an offer or answer needs \"sdp\"", Field: "sdp"}
		}
	case protocol.SignalCandidate:
	case protocol.SignalGiveUp:
		if sig.Call == "" {
			return &protocol.Error{Code: protocol.CodeBadField, Message: "a give_up needs \"call\"", Field: "call"}
		}
	default:
		return &protocol.Error{Code: protocol.CodeBadField, Message: fmt.Sprintf("signal kind %q is not offer, answer, candidate or give_up", sig.Kind), Field: "kind"}
	}
	out := *sig
	out.From, out.To = p.rec.ID, ""
	frame, _ := protocol.Encode(protocol.TypeSignal, "", out)
	// The ack tells the sender the signal reached the server (relayed or
	// held): one written into a connection that died unnoticed is resent.
	if ref != "" {
		h.ackLocked(p, ref)
	}
	if to.conn != nil && to.conn.enqueue(frame) {
		return nil
	}
	// Held until the partner is back; the oldest go first if it never is.
	// A new offer starts a new call: what is still held from the same
	// sender belongs to the call it replaces and would only confuse.
	if sig.Kind == protocol.SignalOffer {
		kept := to.held[:0]
		for _, hs := range to.held {
			if hs.from != p {
				kept = append(kept, hs)
			}
		}
		to.held = kept
	}
	if len(to.held) >= h.cfg.MaxHeldSignals {
		to.held = to.held[1:]
	}
	to.held = append(to.held, heldSignal{from: p, frame: frame})
	return nil
}

// ackLocked confirms p's request ref, with the server's time: the kiosk
// times the round trip to learn the server's clock.
func (h *Hub) ackLocked(p *participant, ref string) {
	h.sendLocked(p, protocol.TypeAck, ref, protocol.Ack{ID: ref, ServerTimeMS: ms(h.clock.Now())})
}
