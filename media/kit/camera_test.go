package kit

import (
	"errors"
	"image"
	"sync"
	"testing"
	"time"

	"github.com/pion/mediadevices/pkg/io/video"

	"github.com/parley-lab/parley/media/frames"
	"github.com/parley-lab/parley/signaling/testkit"
)

// flakyCamera stands in for a camera: missing at first, then delivering,
// then failing (unplugged), then back.
type flakyCamera struct {
	mu      sync.Mutex
	present bool
	opened  int
}

var errUnplugged = errors.New("camera unplugged")

func (c *flakyCamera) set(present bool) { c.mu.Lock(); c.present = present; c.mu.Unlock() }

func (c *flakyCamera) open(*Kit) (video.Reader, func(), error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.present {
		return nil, nil, errors.New("no camera")
	}
	c.opened++
	img := image.NewYCbCr(image.Rect(0, 0, 64, 48), image.YCbCrSubsampleRatio420)
	r := video.ReaderFunc(func() (image.Image, func(), error) {
		time.Sleep(20 * time.Millisecond) // about 50 frames a second
		c.mu.Lock()
		ok := c.present
		c.mu.Unlock()
		if !ok {
			return nil, func() {}, errUnplugged
		}
		return img, func() {}, nil
	})
	return r, func() {}, nil
}

// TestCameraPluggedInLaterAndBackAfterAFailure: a kiosk started without
// its camera says so, picks the camera up when it is plugged in, says
// so again when it fails, and takes it back when it returns.
func TestCameraPluggedInLaterAndBackAfterAFailure(t *testing.T) {
	cam := &flakyCamera{}
	was := openCamera
	openCamera = cam.open
	defer func() { openCamera = was }()
	k, err := Open(Options{VideoSource: SourceCamera, AudioSource: SourceNone, CameraOptional: true, Width: 64, Height: 48, FPS: 30})
	if err != nil {
		t.Fatalf("a missing optional camera failed Open: %v", err)
	}
	defer k.Close()
	m := k.Media()
	if !m.NoCamera() {
		t.Fatal("no camera not reported")
	}
	cam.set(true)
	testkit.Eventually(t, "the camera picked up", func() bool { return !m.NoCamera() })
	testkit.Eventually(t, "frames from it", func() bool { _, n := k.self.Render(nil, 0, frames.View{}); return n > 0 })
	cam.set(false)
	testkit.Eventually(t, "the failure reported", func() bool { return m.NoCamera() })
	cam.set(true)
	testkit.Eventually(t, "the camera back", func() bool { return !m.NoCamera() })
	if cam.opened < 2 {
		t.Fatalf("the camera was opened %d times, want again after the failure", cam.opened)
	}
}
