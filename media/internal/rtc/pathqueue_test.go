package rtc

import (
	"math"
	"testing"
	"time"
)

// The drain's scale follows the round trip: it falls while the round trip
// stands StandingQueueLimit above the least seen, not below drainFloor, and
// returns to 1 once the queue is gone; a long path with no queue (two labs
// far apart) is never taken for a queue, nor is one late answer held (a
// busy machine), nor a round trip over the limit for less than a second.
func TestStandingQueueScalesTheEstimate(t *testing.T) {
	type step struct {
		rtt       time.Duration
		lasts     time.Duration
		wantBelow float64 // the scale after the step is below this (0: not checked)
		wantAbove float64 // and above this
		// still: the reading does not change during the step (one
		// answer, held); else it moves by a microsecond each read.
		still bool
	}
	ms := time.Millisecond
	cases := []struct {
		name  string
		steps []step
	}{
		{"no queue", []step{{rtt: 10 * ms, lasts: 5 * time.Second, wantAbove: 0.999}}},
		{"a long path", []step{{rtt: 300 * ms, lasts: time.Second}, {rtt: 320 * ms, lasts: 5 * time.Second, wantAbove: 0.999}}},
		{"one late answer", []step{{rtt: 10 * ms, lasts: time.Second}, {rtt: 700 * ms, lasts: 3 * time.Second, wantAbove: 0.999, still: true}, {rtt: 10 * ms, lasts: time.Second, wantAbove: 0.999}}},
		{"a queue that stands, then drains", []step{
			{rtt: 10 * ms, lasts: time.Second, wantAbove: 0.999},
			{rtt: 700 * ms, lasts: time.Second, wantAbove: 0.999}, // not yet standing
			{rtt: 700 * ms, lasts: time.Second, wantBelow: 0.85, wantAbove: 0.75},
			{rtt: 700 * ms, lasts: 10 * time.Second, wantBelow: drainFloor + 0.001, wantAbove: drainFloor - 0.001},
			{rtt: 20 * ms, lasts: 3 * time.Second, wantAbove: 0.999},
		}},
		{"under the limit", []step{{rtt: 10 * ms, lasts: time.Second}, {rtt: 10*ms + StandingQueueLimit - ms, lasts: 5 * time.Second, wantAbove: 0.999}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var q pathQueue
			var rtt time.Duration
			f := func() time.Duration { return rtt }
			q.rtt.Store(&f)
			now := time.Unix(1000, 0)
			for i, s := range c.steps {
				rtt = s.rtt
				for end := now.Add(s.lasts); now.Before(end); now = now.Add(rttRefresh) {
					if !s.still {
						rtt += time.Microsecond
					}
					q.mu.Lock()
					q.refreshLocked(now)
					q.mu.Unlock()
				}
				got := q.scale
				if (s.wantBelow > 0 && got >= s.wantBelow) || got <= s.wantAbove || math.IsNaN(got) {
					t.Errorf("step %d (round trip %v for %v): scale %.3f, want in (%.3f, %.3f)", i, s.rtt, s.lasts, got, s.wantAbove, s.wantBelow)
				}
			}
		})
	}
}

// The estimate asks on every encoded frame: the round trip is read from
// ICE at most every rttRefresh, also while it is not known yet (or the
// agent has closed and answers nothing). Reading it per frame made the
// loaded race runs send a third fewer frames.
func TestRoundTripReadAtMostEveryRefresh(t *testing.T) {
	for _, rtt := range []time.Duration{0, 5 * time.Millisecond} {
		var q pathQueue
		reads := 0
		f := func() time.Duration { reads++; return rtt }
		q.rtt.Store(&f)
		now := time.Unix(0, 0)
		const asks, every = 3000, time.Millisecond // 3 s of 1000 frames a second
		q.mu.Lock()
		for range asks {
			q.refreshLocked(now)
			now = now.Add(every)
		}
		q.mu.Unlock()
		if most := int(asks*every/rttRefresh) + 1; reads > most {
			t.Errorf("round trip %v: read %d times in %v, want at most %d", rtt, reads, asks*every, most)
		}
	}
}
