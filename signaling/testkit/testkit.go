// Package testkit holds what Parley's tests share: waiting for a condition
// (never for a fixed time, so a busy machine only makes a test slower, not
// red), and a log that concurrent writers fill and tests read. Only tests
// and their helpers import it.
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
