// Package kit assembles one workstation's media for the participant engine:
// the local sources (the camera through pion/mediadevices, the microphone
// through our own capture over miniaudio, or the test sources), the VP8
// and Opus encoders feeding one shared pair of tracks, the audio player,
// and a Dialer that starts rtc calls with them.
// It also keeps what the self-test measures of the partner's media.
package kit

import (
	"errors"
	"fmt"
	"image"
	"log/slog"
	"math"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gen2brain/malgo"
	"github.com/hraban/opus"
	"github.com/pion/mediadevices"
	"github.com/pion/mediadevices/pkg/io/video"
	"github.com/pion/mediadevices/pkg/prop"
	"github.com/pion/transport/v4"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"

	"github.com/parley-lab/parley/media/capture"
	"github.com/parley-lab/parley/media/engine"
	"github.com/parley-lab/parley/media/frames"
	"github.com/parley-lab/parley/media/participant"
	"github.com/parley-lab/parley/media/rtc"
	"github.com/parley-lab/parley/media/sched"
	"github.com/parley-lab/parley/media/testsrc"
	"github.com/parley-lab/parley/media/vp8"
	"github.com/parley-lab/parley/signaling/protocol"
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
	DefaultAudioBitrate = 32_000
	DefaultToneHz       = 440.0
	// KeyframeInterval is the longest run of frames between keyframes.
	KeyframeInterval = 120
	// ExpectedLoss tunes Opus in-band FEC for a little loss.
	ExpectedLoss = 5
	// probeWindows is how much received audio the probe keeps (20 ms each).
	probeWindows = 100
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
	// Measure keeps what Probe and AudioLatencies report: the stamp of
	// every partner frame, recent received audio, burst onsets at the
	// player. Off in the kiosk, where nobody reads it and it would cost
	// work on every frame and grow for the whole run.
	Measure bool
	// ToneBursts makes the test tone a burst of BurstOn every BurstEvery,
	// so the partner's player can time each onset (audio latency).
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
}

// CameraRetryInterval is how often a missing or failed camera is tried again.
const CameraRetryInterval = 2 * time.Second

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
	// rec gets what is sent, when recording.
	rec recorderTap

	noCamera          atomic.Bool // wanted but missing or failing (it may come back)
	noMic, noOut      bool        // wanted but missing or failing
	cameraOff, micOff bool        // the lab chose none
	jb                *jitter
	player            *player

	closeOnce sync.Once
	closeErr  error
	stop      chan struct{}
	wg        sync.WaitGroup
	// interrupt stops the devices the capture loops read, so that a read
	// waiting on them returns at once; release frees what the loops used,
	// once they have stopped.
	interrupt []func() error
	release   []func()

	probe probeState
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
	k := &Kit{o: o, log: log, self: frames.New(), stop: make(chan struct{}), jb: newJitter(time.Now)}
	k.probe.init()
	var err error
	if err = k.openVideo(); err == nil {
		err = k.openAudio()
	}
	if err != nil {
		k.Close()
		return nil, err
	}
	if o.PlayAudio {
		var onPlayed func([]int16, time.Time)
		if o.Measure {
			onPlayed = k.probe.played
		}
		p, err := openPlayer(k.jb, o.AudioBackends, o.Speaker, onPlayed)
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

// pickCamera finds a camera whose label contains want (any case), the
// first one when want is empty. Only the camera goes through
// mediadevices; audio devices are chosen by capture.Select.
func pickCamera(want string) (mediadevices.MediaDeviceInfo, error) {
	var all []string
	for _, d := range mediadevices.EnumerateDevices() {
		if d.Kind != mediadevices.VideoInput {
			continue
		}
		all = append(all, d.Label)
		if want == "" || strings.Contains(strings.ToLower(d.Label), strings.ToLower(want)) {
			return d, nil
		}
	}
	if len(all) == 0 {
		return mediadevices.MediaDeviceInfo{}, fmt.Errorf("%w: this machine has no camera", ErrNoDevice)
	}
	return mediadevices.MediaDeviceInfo{}, fmt.Errorf("%w: no camera label contains %q (found: %s)", ErrNoDevice, want, strings.Join(all, ", "))
}

// Device kinds in Devices.
const (
	KindCamera     = "camera"
	KindMicrophone = "microphone"
	KindSpeaker    = "speaker"
)

// Device is one device for `parley devices`.
type Device struct {
	Kind, Label string
	// Key is the sound system's own name of an audio device (PulseAudio's
	// source or sink name), which --microphone and --speaker also match.
	Key string
	// Default: the system's default microphone or speaker, the one the
	// kiosk takes when none is named (for microphones: never a monitor).
	Default bool
	// Monitor: it records what an output plays; taken only when named.
	Monitor bool
	// OnlyNamed: never taken by default (a monitor, ALSA's null device or
	// one of its plugins), only when named.
	OnlyNamed bool
}

// Devices lists this machine's cameras (those whose driver the binary
// registers), microphones and speakers, with the default microphone and
// speaker marked as the kiosk would choose them. err reports a sound
// system that could not be asked; the cameras are listed regardless.
func Devices() ([]Device, error) {
	var out []Device
	for _, d := range mediadevices.EnumerateDevices() {
		if d.Kind == mediadevices.VideoInput {
			out = append(out, Device{Kind: KindCamera, Label: d.Label})
		}
	}
	audio, err := capture.List(nil)
	if err == nil {
		mic, micErr := capture.Select(audio, capture.Microphone, "")
		spk, spkErr := capture.Select(audio, capture.Speaker, "")
		for _, d := range audio {
			kind := KindMicrophone
			def := micErr == nil && d == mic
			if d.Kind == capture.Speaker {
				kind, def = KindSpeaker, spkErr == nil && d == spk
			}
			out = append(out, Device{Kind: kind, Label: d.Label(), Key: d.Key, Default: def, Monitor: d.Monitor(), OnlyNamed: capture.OnlyNamed(audio, d)})
		}
	}
	order := map[string]int{KindCamera: 0, KindMicrophone: 1, KindSpeaker: 2}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Kind != out[j].Kind {
			return order[out[i].Kind] < order[out[j].Kind]
		}
		return out[i].Label < out[j].Label
	})
	return out, err
}

func (k *Kit) openVideo() error {
	var next func() (image.Image, error)
	switch k.o.VideoSource {
	case SourceNone, "":
		k.cameraOff = true
		return nil
	case SourceCamera:
		r, rel, err := openCamera(k)
		if err != nil && k.o.CameraOptional && !k.o.FallbackToTest {
			k.log.Error("no camera: the call goes on without video from this side until one is found", "err", err)
			k.noCamera.Store(true)
			r, rel = nil, nil
		} else if err != nil {
			if !k.o.FallbackToTest {
				return err
			}
			k.log.Info("no camera: using the test video", "err", err)
			k.noCamera.Store(true)
			return k.openTestVideo()
		}
		next = k.cameraReader(r, rel)
	case SourceTest:
		return k.openTestVideo()
	default:
		return fmt.Errorf("video source %q is not camera, test or none", k.o.VideoSource)
	}
	return k.startVideo(next)
}

func (k *Kit) openCamera() (video.Reader, func(), error) {
	d, err := pickCamera(k.o.Camera)
	if err != nil {
		return nil, nil, err
	}
	stream, err := mediadevices.GetUserMedia(mediadevices.MediaStreamConstraints{
		Video: func(c *mediadevices.MediaTrackConstraints) {
			c.DeviceID = prop.StringExact(d.DeviceID)
			c.Width = prop.Int(k.o.Width)
			c.Height = prop.Int(k.o.Height)
			c.FrameRate = prop.Float(float64(k.o.FPS))
		},
	})
	if err != nil {
		return nil, nil, fmt.Errorf("camera %q: %w", d.Label, err)
	}
	tracks := stream.GetVideoTracks()
	if len(tracks) == 0 {
		return nil, nil, fmt.Errorf("camera %q gave no video", d.Label)
	}
	vt := tracks[0].(*mediadevices.VideoTrack)
	return video.ToI420(vt.NewReader(true)), func() { vt.Close() }, nil
}

// openCamera opens the kit's camera (a variable so tests can stand a
// camera in that fails and comes back).
var openCamera = (*Kit).openCamera

// cameraReader reads the camera r (nil: none yet) and, when it fails or
// is missing, opens it again every CameraRetryInterval until the kit
// stops (only with CameraOptional: otherwise a failure ends the loop).
func (k *Kit) cameraReader(r video.Reader, rel func()) func() (image.Image, error) {
	var mu sync.Mutex
	cur, curRel := r, rel
	// Closing the track ends a Read waiting for the camera.
	k.interrupt = append(k.interrupt, func() error {
		mu.Lock()
		defer mu.Unlock()
		if curRel != nil {
			curRel()
			curRel = nil
		}
		return nil
	})
	return func() (image.Image, error) {
		for {
			mu.Lock()
			rd := cur
			mu.Unlock()
			if rd != nil {
				img, release, err := rd.Read()
				if err == nil {
					release()
					return img, nil
				}
				select {
				case <-k.stop:
					return nil, errStopped
				default:
				}
				if !k.o.CameraOptional {
					return nil, err
				}
				k.log.Error("the camera stopped; trying it again", "err", err)
				mu.Lock()
				if curRel != nil {
					curRel()
				}
				cur, curRel = nil, nil
				mu.Unlock()
				k.noCamera.Store(true)
			}
			select {
			case <-k.stop:
				return nil, errStopped
			case <-time.After(CameraRetryInterval):
			}
			if k.o.Rediscover != nil {
				k.o.Rediscover()
			}
			nr, nrel, err := openCamera(k)
			if err != nil {
				continue
			}
			mu.Lock()
			cur, curRel = nr, nrel
			mu.Unlock()
			k.noCamera.Store(false)
			k.keyframe.Store(true) // the partner's decoder starts afresh
			k.log.Info("camera found")
		}
	}
}

func (k *Kit) openTestVideo() error {
	src, err := testsrc.NewVideo(k.o.Width, k.o.Height, k.o.FPS)
	if err != nil {
		return err
	}
	interval := time.Second / time.Duration(k.o.FPS)
	var n uint32
	next0 := time.Now()
	pool := [2]*image.YCbCr{}
	for i := range pool {
		pool[i] = image.NewYCbCr(image.Rect(0, 0, k.o.Width, k.o.Height), image.YCbCrSubsampleRatio420)
	}
	next := func() (image.Image, error) {
		// Real time: a frame every interval, like a camera.
		next0 = next0.Add(interval)
		if d := time.Until(next0); d > 0 {
			select {
			case <-time.After(d):
			case <-k.stop:
				return nil, errStopped
			}
		} else if d < -interval {
			next0 = time.Now() // fell behind (a busy machine): do not burst
		}
		img := pool[n%2]
		src.SetMuted(k.muteVideo.Load())
		src.Render(img, n, time.Now())
		n++
		return img, nil
	}
	return k.startVideo(next)
}

var errStopped = errors.New("stopped")

// startVideo runs the capture -> self-view -> encode -> track loop.
func (k *Kit) startVideo(next func() (image.Image, error)) error {
	track, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "video", "parley")
	if err != nil {
		return err
	}
	k.videoTrack = track
	var enc *vp8.Encoder
	var encW, encH int
	k.release = append(k.release, func() {
		if enc != nil {
			enc.Close()
		}
	})
	frameDur := time.Second / time.Duration(k.o.FPS)
	k.wg.Add(1)
	go func() {
		defer k.wg.Done()
		sched.Video() // below normal: audio and the UI win when the CPU is short
		for {
			select {
			case <-k.stop:
				return
			default:
			}
			img, err := next()
			if err != nil {
				if !errors.Is(err, errStopped) {
					k.log.Error("video capture", "err", err)
				}
				return
			}
			captured := time.Now()
			if k.muteVideo.Load() && k.o.VideoSource == SourceCamera {
				img = blackLike(img)
			}
			y, ok := img.(*image.YCbCr)
			if !ok || y.SubsampleRatio != image.YCbCrSubsampleRatio420 {
				k.log.Error("video capture gave a frame that is not I420", "type", fmt.Sprintf("%T", img))
				continue
			}
			k.self.Publish(y)
			if k.calls.Load() == 0 {
				k.keyframe.Store(true) // the first frame a new call gets must be a keyframe
				continue               // nobody to send to: save the encoding
			}
			if enc == nil || y.Rect.Dx() != encW || y.Rect.Dy() != encH {
				// First frame, or the camera changed size: (re)make the encoder.
				if enc != nil {
					enc.Close()
				}
				encW, encH = y.Rect.Dx(), y.Rect.Dy()
				enc, err = vp8.New(vp8.Settings{Width: encW, Height: encH, FPS: k.o.FPS, Bitrate: k.o.VideoBitrate, KeyframeInterval: KeyframeInterval})
				if err != nil {
					k.log.Error("VP8 encoder", "err", err)
					return
				}
			}
			if target, cur := k.videoTarget(), enc.Bitrate(); target != cur && (target == k.o.VideoBitrate || differs(target, cur)) {
				if err := enc.SetBitrate(target); err != nil {
					k.log.Warn("VP8 bitrate", "target", target, "err", err)
				}
			}
			data, _, err := enc.Encode(y, captured, k.keyframe.Swap(false))
			if err != nil {
				k.log.Error("VP8 encode", "err", err)
				k.keyframe.Store(true)
				continue
			}
			if len(data) > 0 {
				track.WriteSample(media.Sample{Data: append([]byte(nil), data...), Duration: frameDur})
				k.framesSent.Add(1)
				if r := k.rec.get(); r != nil {
					r.Video(data, captured)
				}
			}
		}
	}()
	return nil
}

func blackLike(img image.Image) image.Image {
	b := img.Bounds()
	y := image.NewYCbCr(image.Rect(0, 0, b.Dx(), b.Dy()), image.YCbCrSubsampleRatio420)
	for i := range y.Y {
		y.Y[i] = 16
	}
	for i := range y.Cb {
		y.Cb[i], y.Cr[i] = 128, 128
	}
	return y
}

func (k *Kit) openAudio() error {
	var fill func(pcm []int16) error
	switch k.o.AudioSource {
	case SourceNone, "":
		k.micOff = true
		return nil
	case SourceMicrophone:
		f, err := k.openMicrophone()
		switch {
		case err != nil && k.o.FallbackToTest:
			k.log.Info("no microphone: using the test tone", "err", err)
			k.noMic = true
			fill = k.toneFill()
		case err != nil && k.o.MicrophoneOptional:
			k.log.Error("no microphone: the call goes on without sound from this side", "err", err)
			k.noMic = true
			return nil
		case err != nil:
			return err
		default:
			fill = f
		}
	case SourceTest:
		fill = k.toneFill()
	default:
		return fmt.Errorf("audio source %q is not microphone, test or none", k.o.AudioSource)
	}
	track, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", "parley")
	if err != nil {
		return err
	}
	k.audioTrack = track
	enc, err := opus.NewEncoder(rtc.SampleRate, 1, opus.AppVoIP)
	if err != nil {
		return fmt.Errorf("Opus encoder: %w", err)
	}
	enc.SetBitrate(DefaultAudioBitrate)
	enc.SetInBandFEC(true)
	enc.SetPacketLossPerc(ExpectedLoss)
	k.wg.Add(1)
	go func() {
		defer k.wg.Done()
		if err := sched.Audio(); err != nil {
			k.log.Debug("audio loop at normal priority", "err", err)
		}
		pcm := make([]int16, rtc.FrameSamples)
		out := make([]byte, 1500)
		for {
			if err := fill(pcm); err != nil {
				if !errors.Is(err, errStopped) {
					k.log.Error("audio capture", "err", err)
				}
				return
			}
			captured := time.Now().Add(-20 * time.Millisecond) // the frame's first sample
			k.micLevel.Store(math.Float64bits(testsrc.Level(pcm)))
			if k.muteAudio.Load() {
				clear(pcm)
			}
			if k.calls.Load() == 0 {
				continue
			}
			n, err := enc.Encode(pcm, out)
			if err != nil {
				k.log.Error("Opus encode", "err", err)
				continue
			}
			track.WriteSample(media.Sample{Data: append([]byte(nil), out[:n]...), Duration: 20 * time.Millisecond})
			if r := k.rec.get(); r != nil {
				r.Audio(out[:n], captured)
			}
		}
	}()
	return nil
}

// toneFill paces the test tone in real time, 20 ms at a time.
func (k *Kit) toneFill() func([]int16) error {
	tone := testsrc.NewTone(k.o.ToneHz, rtc.SampleRate)
	next := time.Now()
	var chunk int
	period, on := int(BurstEvery/(20*time.Millisecond)), int(BurstOn/(20*time.Millisecond))
	return func(pcm []int16) error {
		next = next.Add(20 * time.Millisecond)
		if d := time.Until(next); d > 0 {
			select {
			case <-time.After(d):
			case <-k.stop:
				return errStopped
			}
		} else if d < -100*time.Millisecond {
			next = time.Now()
		}
		tone.Fill(pcm)
		if k.o.ToneBursts {
			if chunk%period == 0 {
				k.probe.burstSent(time.Now())
			}
			if chunk%period >= on {
				clear(pcm)
			}
			chunk++
		}
		return nil
	}
}

// Tone bursts for measuring audio latency.
const (
	BurstEvery = 500 * time.Millisecond
	BurstOn    = 100 * time.Millisecond
)

// openMicrophone opens the microphone (capture.Select chooses it) and
// returns the capture loop's fill. A microphone that stops delivering is
// logged once and sent as silence meanwhile, so the call carries on; when
// it delivers again the log says so.
func (k *Kit) openMicrophone() (func([]int16) error, error) {
	m, err := capture.Open(capture.Config{Backends: k.o.AudioBackends, Name: k.o.Microphone, CloseLimit: DeviceCloseLimit, MaxBacklog: MicMaxBacklog})
	if err != nil {
		return nil, fmt.Errorf("microphone: %w", err)
	}
	k.log.Info("microphone", "device", m.Device().Label(), "key", m.Device().Key)
	k.interrupt = append(k.interrupt, m.Close)
	silent := false
	var lost uint64
	fill := func(pcm []int16) error {
		err := m.Read(pcm)
		switch {
		case err == nil:
			if silent {
				k.log.Info("the microphone delivers again", "device", m.Device().Label())
				silent = false
			}
			if st := m.Stats(); st.Skipped+st.Dropped > lost {
				k.log.Warn("the audio loop fell behind the microphone: skipped to its newest samples",
					"lost_ms", (st.Skipped+st.Dropped-lost)*1000/capture.SampleRate, "total_ms", (st.Skipped+st.Dropped)*1000/capture.SampleRate)
				lost = st.Skipped + st.Dropped
			}
			return nil
		case errors.Is(err, capture.ErrClosed):
			return errStopped
		case errors.Is(err, capture.ErrNoSignal):
			if !silent {
				k.log.Error("microphone: sending silence until it delivers again", "device", m.Device().Label(), "err", err)
				silent = true
			}
			clear(pcm)
			return nil
		}
		return err
	}
	return fill, nil
}

// Media returns the local media as the engine sees it.
func (k *Kit) Media() engine.LocalMedia { return (*localMedia)(k) }

type localMedia Kit

func (m *localMedia) Local() participant.Frames { return m.self }
func (m *localMedia) MicLevel() float64         { return math.Float64frombits(m.micLevel.Load()) }
func (m *localMedia) SetMute(audio, video bool) {
	m.muteAudio.Store(audio)
	m.muteVideo.Store(video)
}
func (m *localMedia) NoCamera() bool      { return m.noCamera.Load() }
func (m *localMedia) NoMicrophone() bool  { return m.noMic }
func (m *localMedia) NoAudioOutput() bool { return m.noOut }
func (m *localMedia) CameraOff() bool     { return m.cameraOff }
func (m *localMedia) MicrophoneOff() bool { return m.micOff }
func (m *localMedia) Close() error        { return (*Kit)(m).close() }

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

// LastCall is the newest call this kit dialed (for measurements), or nil.
func (k *Kit) LastCall() *rtc.Call { return k.lastCall.Load() }

// FramesSent is how many video frames were encoded and sent.
func (k *Kit) FramesSent() int64 { return k.framesSent.Load() }

// Dialer starts calls that send this kit's tracks.
func (k *Kit) Dialer() engine.Dialer {
	return func(p engine.CallParams) (engine.Call, error) {
		var vt, at webrtc.TrackLocal
		if k.videoTrack != nil {
			vt = k.videoTrack
		}
		if k.audioTrack != nil {
			at = k.audioTrack
		}
		c, err := rtc.New(rtc.Config{
			Peer: p.Peer, Offerer: p.Offerer, ICEServers: p.ICEServers, Send: p.Send, OnState: p.OnState,
			Video: vt, Audio: at,
			OnKeyframeRequest: func() { k.keyframe.Store(true) },
			OnVideo:           k.onVideo(),
			OnAudio:           k.onAudio,
			VideoCeiling:      k.o.VideoBitrate,
			Loopback:          k.o.LoopbackCandidates, Net: k.o.Net, Log: k.log,
		})
		if err != nil {
			return nil, err
		}
		k.calls.Add(1)
		k.keyframe.Store(true)
		k.lastCall.Store(c)
		cc := &countedCall{Call: c, k: k, sentAt: time.Now(), sentAtPrevious: k.framesSent.Load()}
		k.liveMu.Lock()
		if k.live == nil {
			k.live = map[*countedCall]struct{}{}
		}
		k.live[cc] = struct{}{}
		k.liveMu.Unlock()
		return cc, nil
	}
}

// bitrateStep is the least relative change of the congestion target that
// is handed to the encoder (libvpx reconfigures on each change).
const bitrateStep = 0.05

func differs(target, current int) bool {
	d := float64(target - current)
	return d > bitrateStep*float64(current) || -d > bitrateStep*float64(current)
}

// videoTarget is the video bitrate for the encoder: the ceiling, lowered
// to what the most congested running call's estimate leaves for video.
func (k *Kit) videoTarget() int {
	target := k.o.VideoBitrate
	k.liveMu.Lock()
	defer k.liveMu.Unlock()
	for c := range k.live {
		target = min(target, c.TargetVideoBitrate())
	}
	return target
}

// countedCall keeps the kit's count of running calls: with none, nothing is encoded.
type countedCall struct {
	*rtc.Call
	k    *Kit
	once sync.Once
	// for Stats: frames the kit had sent at the previous report, and when
	statsMu        sync.Mutex
	sentAt         time.Time
	sentAtPrevious int64
}

// Stats is the call's report with what the kit measures: the frames it
// encoded and sent in the interval, and the partner's audio waiting in the
// jitter buffer now.
func (c *countedCall) Stats() protocol.Stats {
	s := c.Call.Stats()
	now, sent := time.Now(), c.k.framesSent.Load()
	c.statsMu.Lock()
	if !c.sentAt.IsZero() {
		if dt := now.Sub(c.sentAt).Seconds(); dt > 0 {
			s.FPSSent = float64(sent-c.sentAtPrevious) / dt
		}
	}
	c.sentAt, c.sentAtPrevious = now, sent
	c.statsMu.Unlock()
	s.AudioDelayMS = float64(c.k.jb.delay()) / float64(time.Millisecond)
	return s
}

func (c *countedCall) Close() error {
	err := c.Call.Close()
	c.once.Do(func() {
		c.k.calls.Add(-1)
		c.k.liveMu.Lock()
		delete(c.k.live, c)
		c.k.liveMu.Unlock()
	})
	return err
}

func (k *Kit) onAudio(pcm []int16, seq uint16, lost bool) {
	used, replaced := k.jb.pushFrame(pcm, seq, lost)
	if !used {
		return // too late to be played
	}
	k.counters.audio(lost, replaced)
	if k.o.Measure {
		k.probe.audio(pcm)
	}
}

// onVideo is the calls' hook for decoded frames: a count, and the stamps
// when measuring.
func (k *Kit) onVideo() rtc.VideoHook {
	return func(img *image.YCbCr, at time.Time) {
		k.framesDecoded.Add(1)
		k.counters.frame(at)
		if k.o.Measure {
			k.probe.video(img, at)
		}
	}
}

// FramesDecoded is how many partner frames this kit's calls decoded.
func (k *Kit) FramesDecoded() int64 { return k.framesDecoded.Load() }

// AudioDelay is the partner's audio now waiting in the jitter buffer.
func (k *Kit) AudioDelay() time.Duration { return k.jb.delay() }

// PlayedSamples is how many samples the player has played (0 without output).
func (k *Kit) PlayedSamples() int64 {
	if k.player == nil {
		return 0
	}
	return k.player.playedSamples()
}
