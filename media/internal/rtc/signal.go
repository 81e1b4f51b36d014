// Signalling: the offer, the partner's offer or answer, and the ICE
// candidates trickled in, held until the remote description is set.

package rtc

import (
	"fmt"

	"github.com/pion/webrtc/v4"

	"github.com/parley-lab/parley/signaling/protocol"
)

func (c *Call) offer() error {
	offer, err := c.pc.CreateOffer(nil)
	if err != nil {
		return err
	}
	if err := c.pc.SetLocalDescription(offer); err != nil {
		return err
	}
	return c.cfg.Send(protocol.Signal{Kind: protocol.SignalOffer, SDP: offer.SDP})
}

// HandleSignal applies the partner's offer, answer or candidate.
func (c *Call) HandleSignal(s protocol.Signal) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	c.mu.Unlock()
	switch s.Kind {
	case protocol.SignalOffer:
		if err := c.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: s.SDP}); err != nil {
			return fmt.Errorf("offer: %w", err)
		}
		c.flushCandidates()
		answer, err := c.pc.CreateAnswer(nil)
		if err != nil {
			return err
		}
		if err := c.pc.SetLocalDescription(answer); err != nil {
			return err
		}
		return c.cfg.Send(protocol.Signal{Kind: protocol.SignalAnswer, SDP: answer.SDP})
	case protocol.SignalAnswer:
		if err := c.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: s.SDP}); err != nil {
			return fmt.Errorf("answer: %w", err)
		}
		c.flushCandidates()
	case protocol.SignalCandidate:
		if len(s.Candidate) == 0 {
			return nil
		}
		var init webrtc.ICECandidateInit
		if err := jsonUnmarshal(s.Candidate, &init); err != nil {
			return fmt.Errorf("candidate: %w", err)
		}
		c.mu.Lock()
		if !c.remoteSet {
			// Held until the remote description is set: pion refuses them before.
			c.pending = append(c.pending, init)
			c.mu.Unlock()
			return nil
		}
		c.mu.Unlock()
		return c.pc.AddICECandidate(init)
	}
	return nil
}

func (c *Call) flushCandidates() {
	c.mark(&c.timeline.Negotiated)
	c.mu.Lock()
	c.remoteSet = true
	pending := c.pending
	c.pending = nil
	c.mu.Unlock()
	for _, p := range pending {
		if err := c.pc.AddICECandidate(p); err != nil {
			c.log.Debug("candidate", "err", err)
		}
	}
}
