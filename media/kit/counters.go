package kit

import (
	"sync"
	"time"
)

// Counters is what the network benchmark reads of the partner's media as
// it arrives: every decoded frame's time (for freezes and the first frame
// after a fault) and the audio frames received and concealed.
type Counters struct {
	FramesDecoded int64
	LastDecoded   time.Time
	// LongestFreeze is the longest time between two decoded frames since
	// the counters were last reset.
	LongestFreeze  time.Duration
	AudioFrames    int64 // 20 ms frames handed to the jitter buffer, concealed ones included
	AudioConcealed int64
	AudioLate      int64 // late packets that replaced their concealment
}

type counters struct {
	mu sync.Mutex
	c  Counters
}

func (c *counters) frame(at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.c.LastDecoded.IsZero() {
		c.c.LongestFreeze = max(c.c.LongestFreeze, at.Sub(c.c.LastDecoded))
	}
	c.c.FramesDecoded++
	c.c.LastDecoded = at
}

func (c *counters) audio(lost, replaced bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case replaced:
		c.c.AudioLate++
		c.c.AudioConcealed-- // its place is played from the real packet
	case lost:
		c.c.AudioFrames++
		c.c.AudioConcealed++
	default:
		c.c.AudioFrames++
	}
}

// Counters reports the partner's media so far.
func (k *Kit) Counters() Counters {
	k.counters.mu.Lock()
	defer k.counters.mu.Unlock()
	return k.counters.c
}

// ResetCounters starts the counts afresh (the benchmark measures after the
// call is set up).
func (k *Kit) ResetCounters() {
	k.counters.mu.Lock()
	defer k.counters.mu.Unlock()
	last := k.counters.c.LastDecoded
	k.counters.c = Counters{LastDecoded: last}
}
