package kit

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/gen2brain/malgo"

	"github.com/parley-lab/parley/media/capture"
	"github.com/parley-lab/parley/media/internal/rtc"
)

// playerScratch is the player callback's buffer, in samples; a larger
// request (not seen with miniaudio's fixed-size callback) grows it once.
const playerScratch = 4096

// NullBackend is miniaudio's null backend: a device with no hardware that
// still runs in real time. malgo v0.11.24's BackendNull constant is the
// wrong value, hence the number.
const NullBackend = malgo.Backend(14)

// ErrNoAudioOutput means no playback device could be opened (no sound card).
var ErrNoAudioOutput = errors.New("no audio output device")

// player plays a jitter buffer through miniaudio.
type player struct {
	ctx    *malgo.AllocatedContext
	dev    *malgo.Device
	jb     *jitter
	device string // label of the device chosen ("" for miniaudio's default)
	// played counts the samples handed to the device (for tests); atomic,
	// so the device callback takes no lock for it.
	played atomic.Int64
}

// openPlayer opens the output device, 48 kHz mono 16-bit, with a short
// period for low latency: the one whose label contains speaker (any case),
// else the system's default (capture.Select), else miniaudio's default
// when the backend lists none. Its thread is not real-time (see
// capture.DeviceThreadPriority).
// onPlayed sees every buffer handed to the device (the kit hands it to
// its taps with the time of the callback, against which tone onsets are
// timed).
func openPlayer(jb *jitter, backends []malgo.Backend, speaker string, onPlayed func([]int16)) (*player, error) {
	ctx, err := malgo.InitContext(backends, malgo.ContextConfig{ThreadPriority: capture.DeviceThreadPriority}, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoAudioOutput, err)
	}
	p := &player{ctx: ctx, jb: jb}
	cfg := malgo.DefaultDeviceConfig(malgo.Playback)
	cfg.Playback.Format = malgo.FormatS16
	cfg.Playback.Channels = 1
	cfg.SampleRate = rtc.SampleRate
	// 10 ms periods, 40 ms of device buffer: with 20 ms a stalled device
	// or sound-server thread (a VM's host busy) went silent 0-69 times in
	// 10 s of tone; 40 ms gave 0-8, and mouth to ear stayed 61-67 ms.
	cfg.PeriodSizeInMilliseconds = 10
	cfg.Periods = 4
	devs, err := capture.List(backends)
	if err == nil {
		var d capture.Device
		d, err = capture.Select(devs, capture.Speaker, speaker)
		if err == nil {
			p.device = d.Label()
			var free func()
			cfg.Playback.DeviceID, free = d.ConfigID()
			defer free()
		}
	}
	if err != nil && speaker != "" {
		ctx.Uninit()
		ctx.Free()
		return nil, fmt.Errorf("%w: %v", ErrNoAudioOutput, err)
	}
	// Allocated here, not in the callback (miniaudio's fixed-size
	// callback hands over one period: 480 samples).
	scratch := make([]int16, playerScratch)
	dev, err := malgo.InitDevice(ctx.Context, cfg, malgo.DeviceCallbacks{
		Data: func(out, _ []byte, frames uint32) {
			if cap(scratch) < int(frames) {
				scratch = make([]int16, frames)
			}
			s := scratch[:frames]
			jb.pull(s)
			if onPlayed != nil {
				onPlayed(s)
			}
			copy(out, unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), len(s)*2))
			p.played.Add(int64(frames))
		},
	})
	if err != nil {
		ctx.Uninit()
		ctx.Free()
		return nil, fmt.Errorf("%w: %v", ErrNoAudioOutput, err)
	}
	if err := dev.Start(); err != nil {
		dev.Uninit()
		ctx.Uninit()
		ctx.Free()
		return nil, fmt.Errorf("%w: %v", ErrNoAudioOutput, err)
	}
	p.dev = dev
	return p, nil
}

func (p *player) playedSamples() int64 {
	return p.played.Load()
}

// close releases the device within DeviceCloseLimit (ErrCloseTimeout
// beyond: the sound system is stuck, and the device is abandoned).
func (p *player) close() error {
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.dev.Stop() // first: Uninit of a running PulseAudio stream took 1.8 s here, Stop then Uninit under 1 ms
		p.dev.Uninit()
		p.ctx.Uninit()
		p.ctx.Free()
	}()
	t := time.NewTimer(DeviceCloseLimit)
	defer t.Stop()
	select {
	case <-done:
		return nil
	case <-t.C:
		return fmt.Errorf("%w: the speaker %q was not released within %v", ErrCloseTimeout, p.device, DeviceCloseLimit)
	}
}
