package engine

// config.go: what an engine is given: its Config, with the defaults New fills in.

import (
	"errors"
	"log/slog"
	"time"

	"github.com/parley-lab/parley/media/recording"
	"github.com/parley-lab/parley/signaling/client"
	"github.com/parley-lab/parley/signaling/internal/clock"
)

// DefaultStatsInterval is how often call statistics go to the server.
const DefaultStatsInterval = 5 * time.Second

// ServerUnreachableAfter: a kiosk that has had no answer from the server for
// this long says so on screen (it keeps trying all the same).
const ServerUnreachableAfter = 8 * time.Second

// DefaultCallSetupTimeout bounds how long a call may stay "connecting"
// before it counts as failed and is made afresh (a lost offer or answer
// would otherwise leave it waiting for ever).
const DefaultCallSetupTimeout = 10 * time.Second

// DefaultEndGrace: a discussion the server has not ended this long after
// its deadline (the server is away, or this kiosk is cut off from it) is
// ended here by the kiosk's own clock, so the call never runs past zero.
// The server's "ended" normally comes within milliseconds of the deadline;
// the grace keeps the two from racing on a busy machine.
const DefaultEndGrace = time.Second

// Config configures an engine.
type Config struct {
	Session       client.SessionConfig
	Media         LocalMedia
	Dial          Dialer
	StatsInterval time.Duration
	// CallSetupTimeout: see DefaultCallSetupTimeout.
	CallSetupTimeout time.Duration
	// UnreachableAfter: see ServerUnreachableAfter (the default).
	UnreachableAfter time.Duration
	// EndGrace: see DefaultEndGrace.
	EndGrace time.Duration
	// AutoReady: the participant is ready as soon as it joins (test
	// participants: the selftest and the benchmarks have no person to
	// finish a device check).
	AutoReady bool
	// Recorder records this participant's calls when the session records
	// and they consented; nil: this kiosk cannot record.
	Recorder *recording.Recorder
	// AutoConsent: test participants consent to recording by themselves.
	AutoConsent bool
	Log         *slog.Logger
	// Clock runs the engine's timers (the unreachable notice) and, unless
	// Now is set, gives the time; tests inject clock.Fake. Default: the
	// wall clock.
	Clock clock.Clock
	// Now is the clock's time; tests inject one.
	Now func() time.Time
}

// ErrConfig is returned by New for an incomplete Config.
var ErrConfig = errors.New("engine configuration")
