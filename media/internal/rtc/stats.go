package rtc

import (
	"encoding/json"
	"time"

	"github.com/pion/interceptor/pkg/cc"

	"github.com/parley-lab/parley/signaling/protocol"
)

func jsonMarshal(v any) ([]byte, error)   { return json.Marshal(v) }
func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

type statsSample struct {
	at             time.Time
	framesDecoded  int64
	bytes          int64
	lost, expected int64 // the partner's packets, from the inbound stats
	delaySum       int64 // video: first packet to decoded picture, ns
	delayN         int64
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
		cur.delaySum, cur.delayN = v.delaySum.Load(), v.delayN.Load()
		s.FramesDecoded = cur.framesDecoded
	}
	if a != nil {
		cur.bytes += a.bytes.Load()
	}
	if f := c.path.rtt.Load(); f != nil {
		s.RTTMS = float64((*f)()) / float64(time.Millisecond)
	}
	// Loss is of the partner's video packets: those found missing that
	// did not come by themselves later (a repair does not undo the loss).
	// pion's GetStats is not used: its report races pion's own Close of a
	// connection the partner ended, and it has no inbound counts without
	// pion's stats interceptor.
	n := c.repair.nack.Stats()
	cur.lost, cur.expected = n.Missing+n.Skipped-n.Reordered, n.Expected
	// Rates, loss and delay are over the interval since the previous
	// report (the first covers the call so far); FPSSent and the audio
	// delay are the kit's (countedCall), which owns the encoder and the
	// jitter buffer.
	dt := now.Sub(prev.at).Seconds()
	if prev.at.IsZero() {
		dt = now.Sub(c.started).Seconds()
	}
	if dt > 0 {
		s.IntervalMS = int64(dt * 1000)
		s.FPSRecv = float64(cur.framesDecoded-prev.framesDecoded) / dt
		s.BitrateKbps = float64(cur.bytes-prev.bytes) * 8 / 1000 / dt
	}
	if exp := cur.expected - prev.expected; exp > 0 {
		s.PacketLoss = max(0, float64(cur.lost-prev.lost)/float64(exp))
	}
	if n := cur.delayN - prev.delayN; n > 0 {
		s.VideoDelayMS = float64(cur.delaySum-prev.delaySum) / float64(n) / 1e6
	}
	c.mu.Lock()
	c.lastStats = cur
	c.mu.Unlock()
	return s
}

// Repair is what the call's loss repair did so far: the NACKs this side
// sent for the partner's video, and the retransmissions it sent for the
// partner's NACKs.
type Repair struct {
	NACK       NACKStats
	Retransmit RetransmitStats
}

// Repair reports loss repair since the call began.
func (c *Call) Repair() Repair {
	return Repair{NACK: c.repair.nack.Stats(), Retransmit: c.repair.budget.Stats()}
}

// Estimate is the congestion controller's estimate of what the path to
// the partner carries (bit/s), audio and video together; before the call
// is set up, the ceiling.
//
// pion's GCC lowers its loss-based estimate to the delay-based one on
// every update and raises it only while loss stays under 2%, so on a link
// with steady random loss between 2% and 10% (Wi-Fi) every dip of the
// delay-based estimate was kept for good. GCC holds the rate in that
// band; here loss lowers the estimate only above LossDecreaseThreshold.
func (c *Call) Estimate() int {
	e := c.estimatorNow()
	if e == nil {
		return c.cfg.VideoCeiling + AudioReserve
	}
	st := e.GetStats()
	delay, _ := st["delayTargetBitrate"].(int)
	loss, _ := st["lossTargetBitrate"].(int)
	avg, _ := st["averageLoss"].(float64)
	if delay <= 0 { // no feedback yet
		return e.GetTargetBitrate()
	}
	return int(float64(c.lossAware(delay, loss, avg)) * c.path.drain())
}

// lossAware is the estimate from GCC's delay- and loss-based ones and the
// average loss.
func (c *Call) lossAware(delay, loss int, avg float64) int {
	if avg > LossDecreaseThreshold && loss > 0 {
		// Loss with no queue on the path is random (radio, a bad cable),
		// not the path's limit: the rate need not fall to the floor, where
		// the encoder skips most frames. A queue, or loss above
		// RandomLossLimit, is congestion.
		if avg <= RandomLossLimit && c.path.free() {
			return min(delay, max(loss, RandomLossRate))
		}
		return min(delay, loss)
	}
	return delay
}

// How loss counts in the estimate.
const (
	// LossDecreaseThreshold is the average loss above which the loss-based
	// estimate counts (GCC's threshold for decreasing).
	LossDecreaseThreshold = 0.10
	// RandomLossLimit is the most loss taken as random when the path
	// shows no queue.
	RandomLossLimit = 0.30
	// RandomLossRate is the least estimate under random loss: a video
	// rate at which 640x480 keeps its frame rate.
	RandomLossRate = 600_000
)

// TargetVideoBitrate is the video bitrate the estimate leaves (bit/s).
func (c *Call) TargetVideoBitrate() int { return VideoBitrate(c.Estimate(), c.cfg.VideoCeiling) }

func (c *Call) estimatorNow() cc.BandwidthEstimator {
	if p := c.bwe.Load(); p != nil {
		return *p
	}
	return nil
}
