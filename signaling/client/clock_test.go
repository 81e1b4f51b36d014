package client

import (
	"testing"
	"time"
)

// The estimate keeps the sample with the shortest round trip: one held up
// does not move the clock, and an old one gives way.
func TestOffsetEstimateKeepsTheQuickestRoundTrip(t *testing.T) {
	var o offsetEstimate
	t0 := time.Unix(1_800_000_000, 0)
	trueOffset := 5 * time.Second
	// server time at the midpoint of a round trip of rtt sent at sent,
	// when the answer waited late after the server stamped it.
	answer := func(sent time.Time, there, back time.Duration) {
		serverMS := sent.Add(there).Add(trueOffset).UnixMilli()
		o.add(serverMS, sent, sent.Add(there+back))
	}
	answer(t0, 2*time.Millisecond, 2*time.Millisecond)
	if got := o.offset(); (got - trueOffset).Abs() > time.Millisecond {
		t.Fatalf("offset %v, want %v", got, trueOffset)
	}
	// An answer held up 400 ms on its way back (a busy machine).
	answer(t0.Add(5*time.Second), time.Millisecond, 400*time.Millisecond)
	if got := o.offset(); (got - trueOffset).Abs() > time.Millisecond {
		t.Fatalf("a delayed answer moved the offset to %v", got)
	}
	// A clock is stepped by a second: the first answer that the estimate
	// cannot fit replaces it.
	trueOffset += time.Second
	answer(t0.Add(10*time.Second), 3*time.Millisecond, 3*time.Millisecond)
	if got := o.offset(); (got - trueOffset).Abs() > 2*time.Millisecond {
		t.Fatalf("after a step the offset is %v, want %v", got, trueOffset)
	}
	// Quicker samples of the same clock keep improving it; old ones leave.
	for at := t0.Add(15 * time.Second); at.Before(t0.Add(OffsetWindow + 20*time.Second)); at = at.Add(5 * time.Second) {
		answer(at, time.Millisecond, time.Millisecond)
	}
	if got := o.offset(); (got - trueOffset).Abs() > time.Millisecond {
		t.Fatalf("the offset is %v, want %v", got, trueOffset)
	}
	if len(o.samples) > maxOffsetSamples {
		t.Fatalf("%d samples kept", len(o.samples))
	}
}
