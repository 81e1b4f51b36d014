// Package testkit holds what Parley's tests share: waiting for a condition
// (never for a fixed time, so a busy machine only makes a test slower, not
// red), a log that concurrent writers fill and tests read, and a cable to
// the server that can be pulled. Only tests, their helpers and the
// benchmarks import it.
package testkit

import (
	"testing"
	"time"
)

// Bounds of Eventually: the limit is far above any real wait, even on a
// loaded two-core machine; the poll is short enough not to slow tests.
const (
	EventuallyLimit = 30 * time.Second
	EventuallyPoll  = 5 * time.Millisecond
)

// Eventually waits until cond holds, failing the test with what after
// EventuallyLimit.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(EventuallyLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(EventuallyPoll)
	}
}

// Reaches waits until count reaches target, failing the test with what
// only when the count has not moved for EventuallyLimit: a starved
// machine makes a stream slow (a video encoder runs below normal priority
// by design), which is not what a test of the stream looks for.
func Reaches(t testing.TB, what string, count func() int64, target int64) {
	t.Helper()
	last, moved := count(), time.Now()
	for last < target {
		if time.Since(moved) > EventuallyLimit {
			t.Fatalf("timed out waiting for %s: stuck at %d of %d", what, last, target)
		}
		time.Sleep(EventuallyPoll)
		if n := count(); n != last {
			last, moved = n, time.Now()
		}
	}
}
