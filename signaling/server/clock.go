package server

import "time"

// Clock is the server's time source. Tests inject a fake one so the
// discussion clock and rate limits can be tested without sleeping.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f in its own goroutine after d.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending AfterFunc.
type Timer interface {
	Stop() bool
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }
func (realClock) AfterFunc(d time.Duration, f func()) Timer {
	return time.AfterFunc(d, f)
}

// RealClock is the wall clock.
var RealClock Clock = realClock{}

func ms(t time.Time) int64 { return t.UnixMilli() }
