package rtc

// pathqueue.go: what the path's round trip says of the queues on it, for
// the congestion estimate (stats.go).
//
// GCC sees a queue only while it grows: its delay detector follows the
// trend of the packets' delays. A queue that filled before the estimate
// fell (a home router's or a VPN's second of buffer at a cap) stands
// still once the rate matches the link, and the detector reads "normal";
// on the kernel's htb cap at 500 kb/s the round trip stayed at 0.7 to 1.4 s
// for the whole discussion. Like libwebrtc's RTT-based back-off, but with a
// limit that suits a conversation, the estimate is scaled down while the
// round trip stands StandingQueueLimit above the least seen (for a second,
// over more than one reading), which drains
// the queue, and scaled back up once it is gone.

import (
	"math"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// QueueMargin is how far above twice the least round trip of the call
	// the round trip may be with no standing queue on the path.
	QueueMargin = 30 * time.Millisecond
	// StandingQueueLimit is how far above the least round trip the round
	// trip may stand before the estimate is scaled down to drain the
	// queue: a fifth of a second of queueing is heard in a conversation.
	StandingQueueLimit = 150 * time.Millisecond
	// drainPerSecond is how fast the scale falls while a queue stands
	// (to 0.8 after a second), risePerSecond how fast it returns once
	// the queue is gone; drainFloor is the least scale.
	drainPerSecond = 0.8
	risePerSecond  = 1.5
	drainFloor     = 0.5
	// standingAfter: a queue stands once the round trip has stayed over
	// the limit this long, across at least standingReadings different
	// readings; a busy machine's one late answer to an ICE check is no
	// queue.
	standingAfter    = time.Second
	standingReadings = 2
)

// pathQueue tells from the path's round trip (ICE's checks, which wait in
// the same queues as the media) whether a queue stands on the path, and
// scales the estimate to drain one. The estimate is asked for every
// encoded frame; the round trip is read at most every rttRefresh (ICE
// measures it every few seconds).
type pathQueue struct {
	rtt    atomic.Pointer[func() time.Duration]
	mu     sync.Mutex
	min    time.Duration
	last   time.Duration // the latest read
	readAt time.Time
	scale  float64 // the drain's scale of the estimate; 0 means 1
	// highSince is when the round trip went over the limit (zero: it is
	// under it); highN counts the different readings over it since.
	highSince time.Time
	highN     int
}

// refresh reads the round trip if the last reading is stale and moves
// the scale by the time since; it reports whether a round trip is known.
// q.mu is held.
func (q *pathQueue) refreshLocked(now time.Time) bool {
	f := q.rtt.Load()
	if f == nil {
		return false
	}
	// At most every rttRefresh, known or not: the estimate asks on every
	// encoded frame, and a round trip not yet known (or a closed agent)
	// must not turn each frame into a call into the ICE agent.
	if !q.readAt.IsZero() && now.Sub(q.readAt) < rttRefresh {
		return q.last > 0
	}
	dt := now.Sub(q.readAt).Seconds()
	standing := !q.highSince.IsZero() && q.highN >= standingReadings && now.Sub(q.highSince) >= standingAfter
	prev := q.last
	q.last = (*f)()
	if q.last > 0 && (q.min == 0 || q.last < q.min) {
		q.min = q.last
	}
	switch high := q.last > 0 && q.last > q.min+StandingQueueLimit; {
	case !high:
		q.highSince, q.highN = time.Time{}, 0
	case q.highSince.IsZero():
		q.highSince, q.highN = now, 1
	case q.last != prev:
		q.highN++
	}
	if q.scale == 0 {
		q.scale = 1
	}
	if !q.readAt.IsZero() {
		if standing {
			q.scale = max(drainFloor, q.scale*math.Pow(drainPerSecond, dt))
		} else {
			q.scale = min(1, q.scale*math.Pow(risePerSecond, dt))
		}
	}
	q.readAt = now
	return q.last > 0
}

// free reports whether the round trip now is within QueueMargin of twice
// the least seen; false before any round trip is known.
func (q *pathQueue) free() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.refreshLocked(time.Now()) && q.last <= 2*q.min+QueueMargin
}

// drain is the scale of the estimate: below 1 while a queue stands on
// the path, 1 without one or before any round trip is known.
func (q *pathQueue) drain() float64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.refreshLocked(time.Now()) || q.scale == 0 {
		return 1
	}
	return q.scale
}
