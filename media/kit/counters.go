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
	// AudioUnderruns counts the times the speaker found the buffer empty
	// (each bridged by a fading continuation, then silence);
	// AudioShed is the audio skipped to bring the delay down.
	AudioUnderruns int64
	AudioShed      time.Duration
}

type counters struct {
	mu   sync.Mutex
	c    Counters
	base jitterStats // the jitter buffer's counts at the last reset
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
	js := k.jb.stats()
	k.counters.mu.Lock()
	defer k.counters.mu.Unlock()
	c := k.counters.c
	c.AudioUnderruns = int64(js.underruns - k.counters.base.underruns)
	c.AudioShed = js.shed - k.counters.base.shed
	return c
}

// ResetCounters starts the counts afresh (the benchmark measures after the
// call is set up).
func (k *Kit) ResetCounters() {
	js := k.jb.stats()
	k.counters.mu.Lock()
	defer k.counters.mu.Unlock()
	last := k.counters.c.LastDecoded
	k.counters.c = Counters{LastDecoded: last}
	k.counters.base = js
}
