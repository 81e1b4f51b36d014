// Package kit assembles one workstation's media for the participant engine:
// the local sources (the camera through pion/mediadevices, the microphone
// through our own capture over miniaudio, or the test sources), the VP8
// and Opus encoders feeding one shared pair of tracks, the audio player,
// and a Dialer that starts rtc calls with them; and the Tap through which
// recording and measurement see the media sent and received (tap.go).
package kit

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gen2brain/malgo"
	"github.com/pion/transport/v4"
	"github.com/pion/webrtc/v4"

	"github.com/parley-lab/parley/media/capture"
	"github.com/parley-lab/parley/media/frames"
	"github.com/parley-lab/parley/media/internal/rtc"
	"github.com/parley-lab/parley/signaling/participant/engine"
)

// Source names.
const (
	SourceCamera     = "camera"
	SourceMicrophone = "microphone"
	SourceTest       = "test"
	SourceNone       = "none"
)

// Defaults chosen for a conversation on a lab LAN.
const (
	DefaultWidth        = 640
	DefaultHeight       = 480
	DefaultFPS          = 30
	DefaultVideoBitrate = 1_000_000 // bit/s; VP8's own default (100 kb/s) is far too low for 640x480
	// DefaultAudioBitrate: with in-band FEC for ExpectedLoss, 32 kb/s left
	// Opus's speech 1.2 dB further from the original in log-spectral
	// distance than Chromium's (`parley bench --only audio`); 48 kb/s
	// matches it.
	DefaultAudioBitrate = 48_000
	DefaultToneHz       = 440.0
	// KeyframeInterval is the longest run of frames between keyframes.
	KeyframeInterval = 120
	// ExpectedLoss tunes Opus in-band FEC for a little loss.
	ExpectedLoss = 5
)

// ErrNoDevice is returned when a configured device is not found (the
// same error as capture's, so errors.Is holds for a camera, a microphone
// or a speaker).
var ErrNoDevice = capture.ErrNoDevice

// MicMaxBacklog bounds the microphone's own latency: an audio loop that
// fell further behind (a stalled process) skips to the newest samples, a
// short gap rather than a delay that would stay for the rest of the call.
const MicMaxBacklog = 80 * time.Millisecond

// Bounds on closing.
const (
	// CloseLimit bounds Close: the capture loops must have stopped within
	// it after the devices were told to stop.
	CloseLimit = 3 * time.Second
	// DeviceCloseLimit bounds the release of one audio device.
	DeviceCloseLimit = 2 * time.Second
)

// ErrCloseTimeout means a capture loop or a device did not stop within its
// bound; what it holds is abandoned rather than freed under it.
var ErrCloseTimeout = errors.New("media did not stop in time")

// Options choose the sources and settings.
type Options struct {
	VideoSource, AudioSource string // camera|test|none, microphone|test|none
	// Camera, Microphone and Speaker pick a device by a part of its label
	// (any case). Empty: the system's default microphone and speaker
	// (never a monitor of an output), the first camera.
	Camera, Microphone, Speaker string
	// FallbackToTest uses a test source when the device is missing.
	FallbackToTest bool
	Width, Height  int
	FPS            int
	VideoBitrate   int
	ToneHz         float64
	// PlayAudio plays the partner's audio on the default output device.
	PlayAudio bool
	// ToneBursts makes the test tone a burst of BurstOn every BurstEvery,
	// so that a tap can time each onset as sent and as played (audio
	// latency, media/bench/probe).
	ToneBursts bool
	// AudioBackends overrides miniaudio's backends for the microphone and
	// the speaker (NullBackend in tests).
	AudioBackends []malgo.Backend
	// LoopbackCandidates: both kiosks on one machine (demo, self-test, CI).
	LoopbackCandidates bool
	Net                transport.Net
	Log                *slog.Logger
	// Label names this kit in its log lines (two kits in one process).
	Label string
	// MicrophoneOptional: a microphone that is missing or delivers nothing
	// is reported (NoMicrophone: the kiosk tells the participant to ask
	// the experimenter) instead of failing Open; nothing is sent.
	MicrophoneOptional bool
	// CameraOptional: a camera that is missing, busy or failing is
	// reported (NoCamera: the device check says so) instead of failing
	// Open; no video is sent until it comes: the kit opens it again every
	// CameraRetryInterval, so a camera plugged in later, or one that
	// stopped mid-call, is picked up by itself.
	CameraOptional bool
	// Rediscover, when set, looks for cameras anew before a retry (the
	// camera driver finds devices only when asked; cmd/parley sets it).
	Rediscover func()
	// RetryInterval overrides CameraRetryInterval and MicRetryInterval
	// (0: those defaults). RetryDevices tries at once whatever it is.
	RetryInterval time.Duration
}

// CameraRetryInterval is how often a missing or failed camera is tried again.
const CameraRetryInterval = 2 * time.Second

// MicRetryInterval is how often a missing or failed microphone is tried
// again (with MicrophoneOptional); MicSilentReopen is how long a
// microphone may deliver nothing before it counts as failed and is
// opened afresh (an unplugged one often just stops delivering).
const (
	MicRetryInterval = 2 * time.Second
	MicSilentReopen  = 5 * time.Second
)

// Kit is one workstation's media.
type Kit struct {
	o   Options
	log *slog.Logger

	videoTrack, audioTrack *webrtc.TrackLocalStaticSample
	self                   *frames.Latest
	micLevel               atomic.Uint64 // float64 bits
	muteAudio, muteVideo   atomic.Bool
	calls                  atomic.Int32
	keyframe               atomic.Bool
	framesSent             atomic.Int64
	framesDecoded          atomic.Int64
	lastCall               atomic.Pointer[rtc.Call]
	// live are the running calls; the video bitrate follows the lowest
	// of their congestion estimates.
	liveMu sync.Mutex
	live   map[*countedCall]struct{}
	// counters are the benchmark's view of the partner's media.
	counters counters
	// taps see the media sent and received (recording, measurement).
	taps tapSet

	noCamera, noMic   atomic.Bool // wanted but missing or failing (they may come back)
	noOut             bool        // wanted but missing or failing
	cameraOff, micOff bool        // the lab chose none
	// retryCam and retryMic cut a device's wait before its next try short
	// (RetryDevices: the device check's "Try again").
	retryCam, retryMic chan struct{}
	jb                 *jitter
	player             *player

	closeOnce sync.Once
	closeErr  error
	stop      chan struct{}
	wg        sync.WaitGroup
	// interrupt stops the devices the capture loops read, so that a read
	// waiting on them returns at once; release frees what the loops used,
	// once they have stopped.
	interrupt []func() error
	release   []func()
}

// Open starts the local media.
func Open(o Options) (*Kit, error) {
	if o.Width == 0 {
		o.Width, o.Height = DefaultWidth, DefaultHeight
	}
	if o.FPS == 0 {
		o.FPS = DefaultFPS
	}
	if o.VideoBitrate == 0 {
		o.VideoBitrate = DefaultVideoBitrate
	}
	if o.ToneHz == 0 {
		o.ToneHz = DefaultToneHz
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	log := o.Log
	if o.Label != "" {
		log = log.With("kit", o.Label)
	}
	k := &Kit{o: o, log: log, self: frames.New(), stop: make(chan struct{}), jb: newJitter(time.Now),
		retryCam: make(chan struct{}, 1), retryMic: make(chan struct{}, 1)}
	var err error
	if err = k.openVideo(); err == nil {
		err = k.openAudio()
	}
	if err != nil {
		k.Close()
		return nil, err
	}
	if o.PlayAudio {
		p, err := openPlayer(k.jb, o.AudioBackends, o.Speaker, k.tapPlayed)
		if err != nil {
			k.log.Warn("no audio output: the call goes on without sound", "err", err)
			k.noOut = true
		} else {
			k.player = p
		}
	} else {
		k.noOut = true
	}
	return k, nil
}

// Media returns the local media as the engine sees it.
func (k *Kit) Media() engine.LocalMedia { return (*localMedia)(k) }

type localMedia Kit

func (m *localMedia) Local() frames.Stream { return m.self }
func (m *localMedia) MicLevel() float64    { return math.Float64frombits(m.micLevel.Load()) }
func (m *localMedia) SetMute(audio, video bool) {
	m.muteAudio.Store(audio)
	m.muteVideo.Store(video)
}
func (m *localMedia) NoCamera() bool      { return m.noCamera.Load() }
func (m *localMedia) NoMicrophone() bool  { return m.noMic.Load() }
func (m *localMedia) NoAudioOutput() bool { return m.noOut }
func (m *localMedia) CameraOff() bool     { return m.cameraOff }
func (m *localMedia) MicrophoneOff() bool { return m.micOff }
func (m *localMedia) Close() error        { return (*Kit)(m).close() }
func (m *localMedia) RetryDevices()       { (*Kit)(m).RetryDevices() }

// RetryDevices tries a missing or failed camera and microphone again now,
// instead of at their next retry.
func (k *Kit) RetryDevices() {
	for _, c := range []chan struct{}{k.retryCam, k.retryMic} {
		select {
		case c <- struct{}{}:
		default:
		}
	}
}

// retryWait waits for a device's next try: interval (or the kit's
// RetryInterval), cut short by kick; false when the kit stops.
func (k *Kit) retryWait(interval time.Duration, kick <-chan struct{}) bool {
	if k.o.RetryInterval > 0 {
		interval = k.o.RetryInterval
	}
	t := time.NewTimer(interval)
	defer t.Stop()
	select {
	case <-k.stop:
		return false
	case <-kick:
	case <-t.C:
	}
	return true
}

// Close stops capture and playback and releases the devices, within
// CloseLimit for the capture loops and DeviceCloseLimit for each device.
// Idempotent; the engine calls it when the discussion ends and at exit.
func (k *Kit) Close() { k.close() }

func (k *Kit) close() error {
	k.closeOnce.Do(func() {
		close(k.stop)
		// The devices stop first: a read waiting on one returns at once.
		var errs []error
		for _, f := range k.interrupt {
			if err := f(); err != nil {
				errs = append(errs, err)
			}
		}
		done := make(chan struct{})
		go func() { k.wg.Wait(); close(done) }()
		t := time.NewTimer(CloseLimit)
		defer t.Stop()
		select {
		case <-done:
			for _, r := range k.release {
				r()
			}
		case <-t.C:
			// A loop still runs: freeing its encoder under it would crash.
			errs = append(errs, fmt.Errorf("%w: a capture loop still runs after %v", ErrCloseTimeout, CloseLimit))
		}
		if k.player != nil {
			if err := k.player.close(); err != nil {
				errs = append(errs, err)
			}
		}
		k.closeErr = errors.Join(errs...)
		if k.closeErr != nil {
			k.log.Error("closing the media", "err", k.closeErr)
		}
	})
	return k.closeErr
}
