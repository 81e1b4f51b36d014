// A call's state and its end: pion's connection states as the engine
// sees them, the partner's hang-up, and our own Close.

package rtc

import (
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/parley-lab/parley/signaling/protocol"
)

func (c *Call) onState(s webrtc.PeerConnectionState) {
	c.log.Debug("peer connection state", "state", s.String())
	var state string
	switch s {
	case webrtc.PeerConnectionStateNew, webrtc.PeerConnectionStateConnecting:
		state = protocol.CallConnecting
	case webrtc.PeerConnectionStateConnected:
		state = protocol.CallConnected
	case webrtc.PeerConnectionStateDisconnected:
		state = protocol.CallDisconnected
	case webrtc.PeerConnectionStateFailed:
		state = protocol.CallFailed
	case webrtc.PeerConnectionStateClosed:
		// pion closes the connection when the partner's side closes DTLS:
		// its kiosk stopped, or its discussion ended a moment before ours
		// (the server's "ended" reaches the two kiosks a few milliseconds
		// apart). Disconnected for now; failed (and called afresh) only if
		// our own end does not come within RemoteHangupGrace. Our own Close
		// is filtered below.
		state = protocol.CallDisconnected
		time.AfterFunc(RemoteHangupGrace, c.hungUp)
	default:
		return
	}
	c.mu.Lock()
	if c.closed || c.state == state {
		c.mu.Unlock()
		return
	}
	c.state = state
	c.mu.Unlock()
	if state == protocol.CallConnected {
		c.mark(&c.timeline.Connected)
	}
	c.log.Debug("call state", "state", state, "after", time.Since(c.started))
	if c.cfg.OnState != nil {
		c.cfg.OnState(state)
	}
}

// hungUp reports the call failed after the partner closed it, unless it
// was closed here meanwhile.
func (c *Call) hungUp() {
	c.mu.Lock()
	if c.closed || c.state == protocol.CallFailed {
		c.mu.Unlock()
		return
	}
	c.state = protocol.CallFailed
	c.mu.Unlock()
	c.log.Debug("call state", "state", protocol.CallFailed, "after", time.Since(c.started), "why", "the partner closed the connection")
	if c.cfg.OnState != nil {
		c.cfg.OnState(protocol.CallFailed)
	}
}

// Closed says whether Close was called.
func (c *Call) Closed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// Close ends the call and waits for its goroutines.
func (c *Call) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	err := c.pc.Close()
	c.wg.Wait()
	c.mu.Lock()
	if c.video != nil {
		c.video.close()
	}
	c.mu.Unlock()
	return err
}
