// Package capture records a microphone through miniaudio (malgo) for the
// call: 48 kHz mono 16-bit samples, delivered in whole frames (20 ms for
// Opus), every sample copied out of the device callback into a
// preallocated single-producer ring, nothing allocated, locked or waited
// for on the device's thread. miniaudio converts the device's own rate,
// format and channel count to ours once, in the device thread. A
// microphone that delivers nothing is reported as ErrNoSignal; every read
// and the device's release are bounded.
//
// It replaces pion/mediadevices' microphone driver, which hands the
// device's reused C buffer to a channel without copying it (corrupted
// audio under load) and cannot be stopped while a read waits.
package capture

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gen2brain/malgo"
)

// The format delivered: what Opus is fed.
const (
	SampleRate = 48000
	Channels   = 1
	// FrameSamples is one 20 ms frame.
	FrameSamples = SampleRate / 50
)

// Limits and defaults.
const (
	// PeriodMS is the device period asked of miniaudio: how often the
	// device thread hands over samples.
	PeriodMS = 10
	// Periods is the device buffer in periods. With PulseAudio it is the
	// server's buffer for our stream (miniaudio sets maxlength to
	// PeriodMS*Periods): a device thread delayed longer than that loses
	// samples in the server. Latency is not affected: each period is
	// delivered as soon as it is recorded.
	Periods = 50
	// RingDuration is how much audio the ring holds between the device
	// thread and the reader: a reader stalled this long loses samples
	// (counted in Stats.Dropped).
	RingDuration = 2 * time.Second
	// DefaultStartLimit is how long Open waits for a started microphone's
	// first samples before it reports ErrNoSignal: a sound server resuming
	// a suspended device, or a virtual source waking its master, takes some
	// hundreds of milliseconds (a PulseAudio virtual source: 0.45 s here).
	DefaultStartLimit = 5 * time.Second
	// DefaultSilenceLimit is how long a running microphone may deliver
	// nothing before Read reports ErrNoSignal.
	DefaultSilenceLimit = time.Second
	// DefaultCloseLimit bounds the release of the device in Close.
	DefaultCloseLimit = 2 * time.Second
)

// Errors.
var (
	// ErrNoSignal means the microphone delivered no samples for the
	// silence limit (a stalled driver or sound server, a device that was
	// unplugged).
	ErrNoSignal = errors.New("the microphone delivers nothing")
	// ErrClosed is returned by Read after Close.
	ErrClosed = errors.New("microphone closed")
	// ErrCloseTimeout means the sound system did not release the device
	// within the close limit; it is abandoned (its thread may linger).
	ErrCloseTimeout = errors.New("the microphone did not close in time")
	// ErrOpen wraps the sound system's refusal to open a device.
	ErrOpen = errors.New("cannot open the microphone")
)

// Config chooses the microphone.
type Config struct {
	// Backends are miniaudio's backends to try (nil: the system's, PulseAudio
	// first; NullBackend in tests without sound hardware).
	Backends []malgo.Backend
	// Name picks a device by part of its label or key (see Select); empty:
	// the system's default microphone.
	Name string
	// StartLimit overrides DefaultStartLimit, SilenceLimit
	// DefaultSilenceLimit.
	StartLimit, SilenceLimit time.Duration
	// CloseLimit overrides DefaultCloseLimit.
	CloseLimit time.Duration
	// MaxBacklog bounds the microphone's latency: when a Read finds more
	// than this waiting beyond the samples it takes (the reader stalled),
	// it skips the oldest and returns the newest, counted in
	// Stats.Skipped. 0: never skip (a test that needs every sample).
	MaxBacklog time.Duration
	// ThreadPriority is miniaudio's device thread priority (default
	// DeviceThreadPriority).
	ThreadPriority malgo.ThreadPriority
}

// DeviceThreadPriority is the priority of miniaudio's device threads, for
// the microphone and the speaker: not real-time. A SCHED_FIFO thread that
// calls into Go passes its policy on to the threads the Go runtime starts
// from it, and soon the video encoder and every busy goroutine run at
// real-time priority 99 and can starve the machine (seen in CI, as root).
// Audio wins over video by niceness instead (media/sched).
const DeviceThreadPriority = malgo.ThreadPriorityHighest

// NullBackend is miniaudio's null backend: a device with no hardware that
// still runs in real time (silence). malgo v0.11.24's BackendNull constant
// is the wrong value, hence the number.
const NullBackend = malgo.Backend(14)

// Mic is an open microphone.
type Mic struct {
	dev    Device
	cfg    Config
	ctx    *malgo.AllocatedContext
	md     *malgo.Device
	q      *ring
	closed chan struct{}

	readMu    sync.Mutex // one reader at a time
	closeOnce sync.Once
	closeErr  error
	skipped   atomic.Uint64
}

// Stats are counters of an open microphone.
type Stats struct {
	Delivered uint64 // samples the device handed over
	Read      uint64 // samples read
	Dropped   uint64 // samples lost because the reader fell RingDuration behind
	Skipped   uint64 // samples skipped to keep the backlog within MaxBacklog
}

// Open opens and starts the chosen microphone and waits for its first
// samples (ErrNoSignal when none come within the start limit).
func Open(cfg Config) (*Mic, error) {
	if cfg.StartLimit <= 0 {
		cfg.StartLimit = DefaultStartLimit
	}
	if cfg.SilenceLimit <= 0 {
		cfg.SilenceLimit = DefaultSilenceLimit
	}
	if cfg.CloseLimit <= 0 {
		cfg.CloseLimit = DefaultCloseLimit
	}
	if cfg.ThreadPriority == 0 {
		cfg.ThreadPriority = DeviceThreadPriority
	}
	ctx, err := malgo.InitContext(cfg.Backends, malgo.ContextConfig{ThreadPriority: cfg.ThreadPriority}, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoSoundSystem, err)
	}
	m := &Mic{cfg: cfg, ctx: ctx, q: newRing(int(RingDuration * SampleRate / time.Second)), closed: make(chan struct{})}
	devs, err := list(ctx.Context)
	if err == nil {
		m.dev, err = Select(devs, Microphone, cfg.Name)
	}
	if err != nil {
		m.freeContext()
		return nil, err
	}
	dc := malgo.DefaultDeviceConfig(malgo.Capture)
	dc.Capture.Format = malgo.FormatS16
	dc.Capture.Channels = Channels
	dc.SampleRate = SampleRate
	dc.PeriodSizeInMilliseconds = PeriodMS
	dc.Periods = Periods
	var free func()
	dc.Capture.DeviceID, free = m.dev.ConfigID()
	defer free()
	q := m.q
	md, err := malgo.InitDevice(ctx.Context, dc, malgo.DeviceCallbacks{
		// The device thread: copy out and return. Nothing here allocates
		// or blocks.
		Data: func(_, in []byte, _ uint32) { q.writeS16LE(in) },
	})
	if err != nil {
		m.freeContext()
		return nil, fmt.Errorf("%w %q: %v", ErrOpen, m.dev.Label(), err)
	}
	m.md = md
	if err := md.Start(); err != nil {
		m.Close()
		return nil, fmt.Errorf("%w %q: %v", ErrOpen, m.dev.Label(), err)
	}
	if err := m.waitFor(1, cfg.StartLimit); err != nil {
		m.Close()
		return nil, fmt.Errorf("%q: %w", m.dev.Label(), err)
	}
	return m, nil
}

// Device is the microphone that was opened.
func (m *Mic) Device() Device { return m.dev }

// Read fills pcm with the next len(pcm) samples, in order, none lost or
// repeated (unless Stats.Dropped grows). It waits for them, at most the
// silence limit without any sample arriving (ErrNoSignal; the samples
// already there stay for the next Read), and returns ErrClosed at once
// after Close.
func (m *Mic) Read(pcm []int16) error {
	m.readMu.Lock()
	defer m.readMu.Unlock()
	if err := m.waitFor(len(pcm), m.cfg.SilenceLimit); err != nil {
		return err
	}
	if m.cfg.MaxBacklog > 0 {
		if extra := m.q.available() - len(pcm); extra > int(m.cfg.MaxBacklog*SampleRate/time.Second) {
			m.q.skip(extra)
			m.skipped.Add(uint64(extra))
		}
	}
	m.q.read(pcm)
	return nil
}

// waitFor waits until n samples are available.
func (m *Mic) waitFor(n int, silence time.Duration) error {
	if n > len(m.q.buf) {
		return fmt.Errorf("capture: a read of %d samples is more than the ring holds (%d)", n, len(m.q.buf))
	}
	var t *time.Timer
	last := m.q.w.Load()
	for m.q.available() < n {
		select {
		case <-m.closed:
			return ErrClosed
		default:
		}
		if t == nil {
			t = time.NewTimer(silence)
			defer t.Stop()
		}
		select {
		case <-m.q.wake:
			if w := m.q.w.Load(); w != last {
				last = w
				t.Reset(silence) // (Go 1.23+: Reset drops a pending expiry)
			}
		case <-t.C:
			if m.q.w.Load() == last {
				return ErrNoSignal
			}
			last = m.q.w.Load()
			t.Reset(silence)
		case <-m.closed:
			return ErrClosed
		}
	}
	return nil
}

// Stats returns the counters.
func (m *Mic) Stats() Stats {
	return Stats{Delivered: m.q.w.Load() + m.q.dropped.Load(), Read: m.q.r.Load() - m.skipped.Load(), Dropped: m.q.dropped.Load(), Skipped: m.skipped.Load()}
}

// Close stops the device and releases it, within the close limit
// (ErrCloseTimeout beyond). A Read waiting meanwhile returns ErrClosed at
// once. Safe to call more than once and concurrently with Read.
func (m *Mic) Close() error {
	m.closeOnce.Do(func() {
		close(m.closed)
		done := make(chan struct{})
		go func() {
			defer close(done)
			if m.md != nil {
				m.md.Stop() // stops the device thread (see kit's player: Stop, then Uninit)
				m.md.Uninit()
			}
			m.freeContext()
		}()
		t := time.NewTimer(m.cfg.CloseLimit)
		defer t.Stop()
		select {
		case <-done:
		case <-t.C:
			m.closeErr = fmt.Errorf("%w (%v, %q)", ErrCloseTimeout, m.cfg.CloseLimit, m.dev.Label())
		}
	})
	return m.closeErr
}

func (m *Mic) freeContext() {
	m.ctx.Uninit()
	m.ctx.Free()
}
