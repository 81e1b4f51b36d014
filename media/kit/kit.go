// Package kit assembles one workstation's media for the participant engine:
// the local sources (camera and microphone through pion/mediadevices, or
// the test sources), the VP8 and Opus encoders feeding one shared pair of
// tracks, the audio player, and a Dialer that starts rtc calls with them.
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
	"github.com/pion/mediadevices/pkg/wave"
	"github.com/pion/transport/v4"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"

	"github.com/parley-lab/parley/media/engine"
	"github.com/parley-lab/parley/media/frames"
	"github.com/parley-lab/parley/media/participant"
	"github.com/parley-lab/parley/media/rtc"
	"github.com/parley-lab/parley/media/testsrc"
	"github.com/parley-lab/parley/media/vp8"
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

// ErrNoDevice is returned when a configured device is not found.
var ErrNoDevice = errors.New("device not found")

// Options choose the sources and settings.
type Options struct {
	VideoSource, AudioSource string // camera|test|none, microphone|test|none
	Camera, Microphone       string // substring of the device label; empty: the first
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
	// AudioBackends overrides miniaudio's backends (NullBackend in tests).
	AudioBackends []malgo.Backend
	// LoopbackCandidates: both kiosks on one machine (demo, self-test, CI).
	LoopbackCandidates bool
	Net                transport.Net
	Log                *slog.Logger
	// Label names this kit in its log lines (two kits in one process).
	Label string
}

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

	noCamera, noMic, noOut bool
	jb                     *jitter
	player                 *player

	closeOnce sync.Once
	stop      chan struct{}
	wg        sync.WaitGroup
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
		p, err := openPlayer(k.jb, o.AudioBackends, onPlayed)
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

// pickDevice finds a device of kind whose label contains want.
func pickDevice(kind mediadevices.MediaDeviceType, want string) (mediadevices.MediaDeviceInfo, error) {
	var all []string
	for _, d := range mediadevices.EnumerateDevices() {
		if d.Kind != kind {
			continue
		}
		// miniaudio's "null" device has no hardware behind it; reading it
		// crashes the driver (see toolchain notes).
		if strings.Contains(strings.ToLower(d.Label), "null") {
			continue
		}
		all = append(all, d.Label)
		if want == "" || strings.Contains(strings.ToLower(d.Label), strings.ToLower(want)) {
			return d, nil
		}
	}
	what := "camera"
	if kind == mediadevices.AudioInput {
		what = "microphone"
	}
	if len(all) == 0 {
		return mediadevices.MediaDeviceInfo{}, fmt.Errorf("%w: this machine has no %s", ErrNoDevice, what)
	}
	return mediadevices.MediaDeviceInfo{}, fmt.Errorf("%w: no %s label contains %q (found: %s)", ErrNoDevice, what, want, strings.Join(all, ", "))
}

// Device is one capture device for `parley devices`.
type Device struct {
	Kind, Label, ID string
}

// Devices lists this machine's cameras and microphones (those whose drivers
// the binary registers).
func Devices() []Device {
	var out []Device
	for _, d := range mediadevices.EnumerateDevices() {
		kind := "camera"
		if d.Kind == mediadevices.AudioInput {
			kind = "microphone"
		} else if d.Kind != mediadevices.VideoInput {
			continue
		}
		out = append(out, Device{Kind: kind, Label: d.Label, ID: d.DeviceID})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Kind+out[i].Label < out[j].Kind+out[j].Label })
	return out
}

func (k *Kit) openVideo() error {
	var next func() (image.Image, error)
	switch k.o.VideoSource {
	case SourceNone, "":
		k.noCamera = true
		return nil
	case SourceCamera:
		r, rel, err := k.openCamera()
		if err != nil {
			if !k.o.FallbackToTest {
				return err
			}
			k.log.Info("no camera: using the test video", "err", err)
			k.noCamera = true
			return k.openTestVideo()
		}
		k.release = append(k.release, rel)
		next = func() (image.Image, error) {
			img, release, err := r.Read()
			if err != nil {
				return nil, err
			}
			release()
			return img, nil
		}
	case SourceTest:
		return k.openTestVideo()
	default:
		return fmt.Errorf("video source %q is not camera, test or none", k.o.VideoSource)
	}
	return k.startVideo(next)
}

func (k *Kit) openCamera() (video.Reader, func(), error) {
	d, err := pickDevice(mediadevices.VideoInput, k.o.Camera)
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
		k.noMic = true
		return nil
	case SourceMicrophone:
		f, rel, err := k.openMicrophone()
		if err != nil {
			if !k.o.FallbackToTest {
				return err
			}
			k.log.Info("no microphone: using the test tone", "err", err)
			k.noMic = true
			fill = k.toneFill()
		} else {
			k.release = append(k.release, rel)
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
		pcm := make([]int16, rtc.FrameSamples)
		out := make([]byte, 1500)
		for {
			if err := fill(pcm); err != nil {
				if !errors.Is(err, errStopped) {
					k.log.Error("audio capture", "err", err)
				}
				return
			}
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

// openMicrophone reads the microphone through mediadevices, 20 ms at a time.
func (k *Kit) openMicrophone() (func([]int16) error, func(), error) {
	d, err := pickDevice(mediadevices.AudioInput, k.o.Microphone)
	if err != nil {
		return nil, nil, err
	}
	stream, err := mediadevices.GetUserMedia(mediadevices.MediaStreamConstraints{
		Audio: func(c *mediadevices.MediaTrackConstraints) {
			c.DeviceID = prop.StringExact(d.DeviceID)
			c.SampleRate = prop.Int(rtc.SampleRate)
			c.ChannelCount = prop.Int(1)
		},
	})
	if err != nil {
		return nil, nil, fmt.Errorf("microphone %q: %w", d.Label, err)
	}
	tracks := stream.GetAudioTracks()
	if len(tracks) == 0 {
		return nil, nil, fmt.Errorf("microphone %q gave no audio", d.Label)
	}
	at := tracks[0].(*mediadevices.AudioTrack)
	r := at.NewReader(true)
	var carry []int16
	fill := func(pcm []int16) error {
		for len(carry) < len(pcm) {
			chunk, release, err := r.Read()
			if err != nil {
				return err
			}
			carry = appendMono(carry, chunk)
			release()
		}
		copy(pcm, carry)
		carry = append(carry[:0], carry[len(pcm):]...)
		return nil
	}
	return fill, func() { at.Close() }, nil
}

// appendMono appends chunk's first channel as 16-bit samples.
func appendMono(dst []int16, chunk wave.Audio) []int16 {
	info := chunk.ChunkInfo()
	switch c := chunk.(type) {
	case *wave.Int16Interleaved:
		for i := 0; i < info.Len; i++ {
			dst = append(dst, c.Data[i*info.Channels])
		}
	case *wave.Float32Interleaved:
		for i := 0; i < info.Len; i++ {
			dst = append(dst, int16(max(-1, min(1, c.Data[i*info.Channels]))*32767))
		}
	default:
		for i := 0; i < info.Len; i++ {
			dst = append(dst, int16(wave.Int16SampleFormat.Convert(chunk.At(i, 0)).(wave.Int16Sample).Int()))
		}
	}
	return dst
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
func (m *localMedia) NoCamera() bool      { return m.noCamera }
func (m *localMedia) NoMicrophone() bool  { return m.noMic }
func (m *localMedia) NoAudioOutput() bool { return m.noOut }
func (m *localMedia) Close() error        { (*Kit)(m).Close(); return nil }

// Close stops capture and playback and releases the devices. Idempotent.
// Capture loops stop within a frame (their readers return at the device's
// rate), then the devices and encoders are released.
func (k *Kit) Close() {
	k.closeOnce.Do(func() {
		close(k.stop)
		k.wg.Wait()
		for _, r := range k.release {
			r()
		}
		if k.player != nil {
			k.player.close()
		}
	})
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
		cc := &countedCall{Call: c, k: k}
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
