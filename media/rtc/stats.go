package rtc

import (
	"encoding/json"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/parley-lab/parley/signaling/protocol"
)

func jsonMarshal(v any) ([]byte, error)   { return json.Marshal(v) }
func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

type statsSample struct {
	at            time.Time
	framesDecoded int64
	bytes         int64
	framesSent    uint32
	packetsRecv   int64
}

// Stats reports the call's quality since the previous call of Stats.
func (c *Call) Stats() protocol.Stats {
	c.mu.Lock()
	v, a := c.video, c.audio
	prev := c.lastStats
	c.mu.Unlock()
	now := time.Now()
	var s protocol.Stats
	cur := statsSample{at: now}
	if v != nil {
		cur.framesDecoded = v.decoded.Load()
		cur.bytes += v.bytes.Load()
		s.FramesDecoded = cur.framesDecoded
	}
	if a != nil {
		cur.bytes += a.bytes.Load()
	}
	var lost, recv int64
	for _, st := range c.pc.GetStats() {
		switch x := st.(type) {
		case webrtc.ICECandidatePairStats:
			if x.Nominated && x.CurrentRoundTripTime > 0 {
				s.RTTMS = x.CurrentRoundTripTime * 1000
			}
		case webrtc.OutboundRTPStreamStats:
			if x.Kind == "video" {
				cur.framesSent += x.FramesSent
			}
		case webrtc.InboundRTPStreamStats:
			lost += int64(x.PacketsLost)
			recv += int64(x.PacketsReceived)
		}
	}
	if !prev.at.IsZero() {
		dt := now.Sub(prev.at).Seconds()
		if dt > 0 {
			s.FPSRecv = float64(cur.framesDecoded-prev.framesDecoded) / dt
			s.FPSSent = float64(cur.framesSent-prev.framesSent) / dt
			s.BitrateKbps = float64(cur.bytes-prev.bytes) * 8 / 1000 / dt
		}
	}
	if recv+lost > 0 {
		s.PacketLoss = float64(lost) / float64(recv+lost)
	}
	c.mu.Lock()
	c.lastStats = cur
	c.mu.Unlock()
	return s
}
