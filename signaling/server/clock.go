package server

// clock.go: the server's time source (see signaling/internal/clock).

import (
	"time"

	"github.com/parley-lab/parley/signaling/internal/clock"
)

// Clock is the server's time source. Tests inject a fake one
// (clock.NewFake) so the discussion clock and rate limits can be tested
// without sleeping.
type Clock = clock.Clock

// Timer is a pending AfterFunc.
type Timer = clock.Timer

// RealClock is the wall clock.
var RealClock Clock = clock.Real

func ms(t time.Time) int64 { return t.UnixMilli() }
