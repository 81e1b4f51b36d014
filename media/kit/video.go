package kit

// video.go: the video sent: the camera (reopened when it goes missing)
// or the test picture, each frame published for the self-view and
// encoded as VP8 while a call runs.

import (
	"errors"
	"fmt"
	"image"
	"sync"
	"time"

	"github.com/pion/mediadevices"
	"github.com/pion/mediadevices/pkg/io/video"
	"github.com/pion/mediadevices/pkg/prop"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"

	"github.com/parley-lab/parley/media/internal/vp8"
	"github.com/parley-lab/parley/media/sched"
	"github.com/parley-lab/parley/media/testsrc"
)

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
// is missing, opens it again every CameraRetryInterval (at once after
// RetryDevices) until the kit stops (only with CameraOptional: otherwise
// a failure ends the loop).
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
			if !k.retryWait(CameraRetryInterval, k.retryCam) {
				return nil, errStopped
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
				for _, t := range k.taps.load() {
					t.SentVideo(data, captured)
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
