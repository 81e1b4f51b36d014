package ui

import (
	"bytes"
	"image"
	"runtime"
	"sync"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/parley-lab/parley/ui/internal/scripted"
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
	calls := fr.RenderCalls()
	if v.Poll() || len(queued) != 1 || fr.RenderCalls() != calls {
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
	src := fr.Frame()
	if &src.Pix[0] == &v.img.Image.(*image.RGBA).Pix[0] {
		t.Error("the view shows the engine's image instead of its own copy")
	}
}

// A view asks for frames no bigger than it shows them: a self-view gets
// the camera at half size, mirrored; grown, it gets full frames again.
func TestVideoAsksForItsSizeOnScreen(t *testing.T) {
	test.NewTempApp(t)
	fr := scripted.NewFrames(640, 480, scripted.Bars)
	v := NewVideoView(fr, 0, true)
	v.do = func(f func()) { f() }
	test.TempWidgetRenderer(t, v)
	v.Resize(fyne.NewSize(200, 150))
	if !v.Poll() {
		t.Fatal("no frame")
	}
	shown := v.img.Image.(*image.RGBA)
	if shown.Rect.Size() != image.Pt(320, 240) {
		t.Fatalf("a 200x150 view shows a %v frame, want 320x240", shown.Rect.Size())
	}
	src := fr.Frame()
	// Mirrored: the top-left output pixel is the mean of the top-right 2x2 block.
	var sum [3]int
	for _, p := range []image.Point{{638, 0}, {639, 0}, {638, 1}, {639, 1}} {
		c := src.RGBAAt(p.X, p.Y)
		sum[0], sum[1], sum[2] = sum[0]+int(c.R), sum[1]+int(c.G), sum[2]+int(c.B)
	}
	if c := shown.RGBAAt(0, 0); int(c.R) != (sum[0]+2)/4 || int(c.G) != (sum[1]+2)/4 || int(c.B) != (sum[2]+2)/4 {
		t.Errorf("top-left pixel %v, want the mean of the source's top-right block %v", c, sum)
	}
	v.Resize(fyne.NewSize(700, 500))
	fr.Advance()
	if !v.Poll() || v.img.Image.Bounds().Size() != image.Pt(640, 480) {
		t.Errorf("a 700x500 view shows %v, want the full 640x480", v.img.Image.Bounds().Size())
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

// BenchmarkVideoPoll measures taking a 640x480 frame (synthetic RGBA: the
// copy; the engine's YCbCr conversion is BenchmarkConvert in media/frames).
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

// fakeSurface records what a view asks of its surface.
type fakeSurface struct {
	mu      sync.Mutex
	at      image.Rectangle
	hole    image.Rectangle
	showing bool
	frames  []image.Point
}

func (s *fakeSurface) Place(r, hole image.Rectangle, show bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.at, s.hole, s.showing = r, hole, show
	return nil
}

func (s *fakeSurface) Show(img *image.RGBA) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.frames = append(s.frames, img.Rect.Size())
	return nil
}

func (s *fakeSurface) state() (image.Rectangle, image.Rectangle, bool, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.at, s.hole, s.showing, len(s.frames)
}

// On a surface, frames go to the surface, not the canvas; the surface sits
// over the picture (not the bars) with the hole cut out, and is hidden
// while the view is stopped, shows no frame, or a dialog is open.
func TestVideoOnASurface(t *testing.T) {
	test.NewTempApp(t)
	fr := scripted.NewFrames(8, 6, scripted.Bars) // 4:3
	v := NewVideoView(fr, time.Hour, false)       // started, but polled by hand
	v.do = func(f func()) { f() }
	box := container.NewWithoutLayout(v)
	w := test.NewTempWindow(t, box)
	w.SetPadded(false)
	w.Resize(fyne.NewSize(400, 300))
	v.Move(fyne.NewPos(10, 20))
	v.Resize(fyne.NewSize(200, 100))
	s := &fakeSurface{}
	v.UseSurface(s)
	if _, _, showing, _ := s.state(); showing {
		t.Fatal("shown before the view started")
	}
	v.Start()
	defer v.Stop()
	if _, _, showing, _ := s.state(); showing {
		t.Fatal("shown before the first frame")
	}
	v.SetHole(fyne.NewPos(40, 70), fyne.NewSize(30, 20))
	if !v.Poll() {
		t.Fatal("first frame not taken")
	}
	// The 4:3 picture contained in 200x100 is 133x100, centred: x from
	// 33.3 in the view.
	abs := fyne.CurrentApp().Driver().AbsolutePositionForObject(v)
	x, y := int(abs.X+33.33+0.5), int(abs.Y+0.5)
	at, hole, showing, n := s.state()
	if !showing || n != 1 || at != image.Rect(x, y, x+134, y+100) || hole != image.Rect(7, 70, 37, 90) {
		t.Fatalf("surface at %v hole %v showing %v frames %d", at, hole, showing, n)
	}
	if v.img.Image != nil {
		t.Error("the canvas holds a frame too")
	}
	if v.Poll() {
		t.Error("no new frame, but one shown")
	}
	fr.Advance()
	v.Poll()
	if _, _, _, n := s.state(); n != 2 {
		t.Errorf("%d frames shown, want 2", n)
	}

	w.Canvas().Overlays().Add(widget.NewLabel("a dialog"))
	v.place()
	if _, _, showing, _ := s.state(); showing {
		t.Error("the surface covers a dialog")
	}
	w.Canvas().Overlays().Remove(w.Canvas().Overlays().Top())
	v.place()
	if _, _, showing, _ := s.state(); !showing {
		t.Error("not shown again when the dialog closed")
	}
	v.Clear()
	if _, _, showing, _ := s.state(); showing {
		t.Error("a cleared view still shows its last frame")
	}
	fr.Advance()
	v.Poll()
	v.Stop()
	if _, _, showing, _ := s.state(); showing {
		t.Error("a stopped view still shows")
	}

	// Back on the canvas.
	v.UseSurface(nil)
	v.Start()
	fr.Advance()
	v.Poll()
	if v.img.Image == nil {
		t.Error("off the surface, the canvas shows no frame")
	}
}
