package ui

import (
	"bytes"
	"image"
	"image/color"
	"runtime"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"

	"github.com/parley-lab/parley/ui/scripted"
)

func TestVideoPollsOnlyNewFramesAndNeverQueues(t *testing.T) {
	test.NewTempApp(t)
	fr := scripted.NewFrames(8, 6, scripted.Bars)
	v := NewVideoView(fr, 0, false)
	var queued []func()
	v.do = func(f func()) { queued = append(queued, f) }

	if !v.Poll() || len(queued) != 1 {
		t.Fatal("first frame not scheduled")
	}
	// A pending update: further polls neither read nor queue.
	fr.Advance()
	calls := fr.LatestCalls()
	if v.Poll() || len(queued) != 1 || fr.LatestCalls() != calls {
		t.Fatal("polled or queued while an update was pending")
	}
	queued[0]()
	shown := v.img.Image.(*image.RGBA)
	snapshot := append([]byte(nil), shown.Pix...)
	// Same sequence: nothing scheduled.
	if !v.Poll() {
		t.Fatal("advanced frame not scheduled after the pending one ran")
	}
	if v.Poll() {
		t.Fatal("scheduled again without a new pending update finishing")
	}
	// The displayed buffer was not written while the next frame was copied.
	if !bytes.Equal(shown.Pix, snapshot) {
		t.Fatal("the image on screen was modified")
	}
	queued[1]()
	if v.img.Image == shown {
		t.Fatal("the new frame went into the buffer on screen")
	}
	if v.Poll() {
		t.Error("no new frame, but scheduled")
	}
	// The copy is independent of the source image.
	src, _ := fr.Latest()
	if &src.Pix[0] == &v.img.Image.(*image.RGBA).Pix[0] {
		t.Error("the view shows the engine's image instead of its own copy")
	}
}

func TestVideoMirrorCopy(t *testing.T) {
	src := image.NewRGBA(image.Rect(0, 0, 3, 2))
	src.SetRGBA(0, 0, color.RGBA{1, 2, 3, 255})
	src.SetRGBA(2, 1, color.RGBA{4, 5, 6, 255})
	dst := image.NewRGBA(image.Rect(0, 0, 3, 2))
	copyFrame(dst, src, true)
	if dst.RGBAAt(2, 0) != (color.RGBA{1, 2, 3, 255}) || dst.RGBAAt(0, 1) != (color.RGBA{4, 5, 6, 255}) {
		t.Error("mirror copy wrong")
	}
	copyFrame(dst, src, false)
	if !bytes.Equal(dst.Pix, src.Pix) {
		t.Error("plain copy wrong")
	}
	// A sub-image source (stride larger than the width) copies right too.
	big := image.NewRGBA(image.Rect(0, 0, 6, 4))
	big.SetRGBA(2, 1, color.RGBA{9, 9, 9, 255})
	sub := big.SubImage(image.Rect(2, 1, 5, 3)).(*image.RGBA)
	copyFrame(dst, sub, false)
	if dst.RGBAAt(0, 0) != (color.RGBA{9, 9, 9, 255}) {
		t.Error("sub-image copy wrong")
	}
}

func TestVideoTickerStopsAndHideStops(t *testing.T) {
	test.NewTempApp(t)
	before := runtime.NumGoroutine()
	fr := scripted.NewFrames(8, 6, scripted.Gradient)
	v := NewVideoView(fr, time.Millisecond, true)
	ran := make(chan struct{}, 100)
	v.do = func(f func()) { f(); ran <- struct{}{} }
	v.Start()
	v.Start() // idempotent
	go func() {
		for i := 0; i < 5; i++ {
			fr.Advance()
			time.Sleep(3 * time.Millisecond)
		}
	}()
	select {
	case <-ran:
	case <-time.After(5 * time.Second):
		t.Fatal("no frame displayed")
	}
	v.Hide()
	if v.Running() {
		t.Fatal("Hide did not stop the ticker")
	}
	v.Show()
	v.Start()
	test.TempWidgetRenderer(t, v).Destroy()
	if v.Running() {
		t.Fatal("Destroy did not stop the ticker")
	}
	v.Stop()
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("goroutines %d > %d", n, before)
	}
}

// BenchmarkVideoPoll measures the copy of a 640x480 frame.
func BenchmarkVideoPoll(b *testing.B) {
	fr := scripted.NewFrames(640, 480, scripted.Bars)
	v := NewVideoView(fr, 0, false)
	v.do = func(f func()) { f() }
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		fr.Advance() // drawing the synthetic frame is not the view's cost
		b.StartTimer()
		v.Poll()
	}
}

func TestVideoCarryUpdatesBothInOneRepaint(t *testing.T) {
	test.NewTempApp(t)
	partner := scripted.NewFrames(8, 6, scripted.Bars)
	self := scripted.NewFrames(4, 3, scripted.Gradient)
	lead := NewVideoView(partner, 0, false)
	follow := NewVideoView(self, time.Hour, true) // running, but its own ticker never fires here
	lead.Carry(follow)
	var queued []func()
	lead.do = func(f func()) { queued = append(queued, f) }
	follow.do = func(f func()) { t.Error("the carried view scheduled its own update") }
	follow.Start()
	defer follow.Stop()

	if !lead.Poll() || len(queued) != 1 {
		t.Fatal("first frame not scheduled")
	}
	queued[0]()
	if lead.img.Image == nil || follow.img.Image == nil {
		t.Fatal("one update did not show both frames")
	}
	if follow.img.Image.Bounds().Dx() != 4 {
		t.Fatal("the carried view shows the wrong stream")
	}
	// A new partner frame with no new self frame: only the leader changes.
	shownSelf := follow.img.Image
	partner.Advance()
	if !lead.Poll() {
		t.Fatal("new partner frame not scheduled")
	}
	queued[1]()
	if follow.img.Image != shownSelf {
		t.Error("the carried view changed without a new frame")
	}
	// A stopped carried view is left alone.
	follow.Stop()
	self.Advance()
	partner.Advance()
	lead.Poll()
	queued[2]()
	if follow.img.Image != shownSelf {
		t.Error("a stopped carried view was updated")
	}
}

func TestLetterboxBarsCoverOnlyWhatThePictureLeaves(t *testing.T) {
	// 4:3 in 16:9: bars left and right, overlapping the picture by a pixel.
	a, b := letterbox(fyne.NewSize(160, 90), image.Pt(640, 480))
	if a[0] != (fyne.Position{}) || a[1] != (fyne.Position{X: 21, Y: 90}) || b[0] != (fyne.Position{X: 139}) || b[1] != (fyne.Position{X: 160, Y: 90}) {
		t.Errorf("side bars %v %v", a, b)
	}
	// 16:9 in 4:3: bars above and below.
	a, b = letterbox(fyne.NewSize(120, 90), image.Pt(160, 90))
	if a[1] != (fyne.Position{X: 120, Y: 12.25}) || b[0] != (fyne.Position{Y: 77.75}) {
		t.Errorf("top and bottom bars %v %v", a, b)
	}
	// No picture: the first bar is the whole area.
	a, b = letterbox(fyne.NewSize(120, 90), image.Point{})
	if a[1] != (fyne.Position{X: 120, Y: 90}) || b[1] != (fyne.Position{}) {
		t.Errorf("no picture %v %v", a, b)
	}
}
