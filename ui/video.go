package ui

import (
	"errors"
	"image"
	"sync"
	"sync/atomic"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/widget"

	"github.com/parley-lab/parley/media/frames"
	"github.com/parley-lab/parley/ui/internal/xvideo"
)

// VideoFrameInterval is how often a VideoView asks its Frames for a new frame
// (about 30 fps). A frame arriving between two polls waits at most this long.
const VideoFrameInterval = time.Second / 30

// PartnerPollInterval is how often the partner's video is polled. Delay is
// the point of the partner's picture, so a new frame waits at most this long
// before it goes to the canvas; a poll that finds no new frame costs two
// mutexes and a compare.
const PartnerPollInterval = 4 * time.Millisecond

// carryIdle is how long a carried view (see Carry) waits for its leader to
// show a frame before it goes back to polling on its own.
const carryIdle = 2 * VideoFrameInterval

// placeInterval is how often a view on a Surface checks where it is on
// screen and whether something (a dialog) covers it: Fyne says when a
// widget is resized, not when it moves.
const placeInterval = 250 * time.Millisecond

// videoMinSize is the smallest size a VideoView asks for.
var videoMinSize = fyne.NewSize(160, 90)

// Surface shows a view's frames outside Fyne's canvas: an X11 child window
// over the view (ui/internal/xvideo). A new frame is then a copy to the X server,
// and Fyne repaints the window only when something else in it changes,
// not 30 times a second; without a GPU each repaint shades every pixel of
// the window on the CPU.
type Surface interface {
	// Place puts the surface at r (window pixels) with hole (r's
	// coordinates) cut out, or hides it; the last frame is put again if
	// the size is unchanged.
	Place(r, hole image.Rectangle, show bool) error
	// Show scales img to the surface and returns once it is on screen.
	Show(img *image.RGBA) error
}

// VideoView shows the latest frame of a frames.Stream.
//
// Threading and buffers: a ticker goroutine (running only between Start and
// Stop) asks the Frames to render the newest frame, if it has not been
// shown, into the view's back buffer (one of two *image.RGBA it owns,
// reallocated only when the frame's size changes) and schedules exactly
// one fyne.Do that makes the back buffer the displayed one. A pending
// update makes the next polls skip, so nothing ever queues. The engine
// converts straight into the back buffer, so there is no second copy; the
// view never writes to the buffer on screen: it renders only into the back
// buffer, and only after the UI goroutine has finished swapping (the
// pending flag orders the two).
//
// The view tells the Frames its size on screen, so a small view (the
// self-view) gets its frames converted at a half or a quarter of their
// size: a quarter of the conversion and of the texture upload, the same
// picture on screen. Mirror flips the picture (the self-view).
//
// Every update makes the window repaint in full (Fyne has no partial
// redraw), so two views updating at 30 fps each out of step would repaint
// 60 times a second; a view that carries another (Carry) takes the other's
// newest frame along in its own update, one repaint for both.
//
// The image is drawn with canvas.ImageScaleFastest and ImageFillContain: the
// GPU scales it, keeping the aspect ratio; there is no per-frame CPU rescale.
//
// On a Surface (UseSurface) none of the above applies: the polling
// goroutine renders into one buffer and shows it on the surface itself,
// the canvas shows only the view's background (seen through the hole, see
// SetHole), and the view keeps the surface over its picture, hidden while
// the view is stopped or a dialog is open.
type VideoView struct {
	widget.BaseWidget

	frames   frames.Stream
	interval time.Duration // 0: no ticker; Poll is called by hand (tests)
	mirror   bool
	do       func(func()) // fyne.Do; replaceable in tests

	img *canvas.Image

	// buffers: written by the polling goroutine (back) while pending is
	// false; front is changed only on the UI goroutine while pending is true.
	bufs    [2]*image.RGBA
	front   int
	lastSeq uint64 // the frame shown last; 0: none
	pending atomic.Bool
	pollMu  sync.Mutex // serialises Poll (ticker vs. a manual call)

	// fit is the view's size in screen pixels (x<<32 | y), set by layout,
	// read by the polling goroutine.
	fit atomic.Uint64

	runMu sync.Mutex
	stop  chan struct{}
	done  chan struct{}

	// shown, if set, sees each frame as it is handed to the canvas, on the
	// UI goroutine (the demo measures capture-to-screen latency with it).
	shown atomic.Pointer[func(*image.RGBA, time.Time)]

	// carried is the view this one updates along with itself; leader is the
	// view that carries this one, and lastUpdate (unix ns) is when this view
	// last scheduled an update.
	carried    atomic.Pointer[VideoView]
	leader     atomic.Pointer[VideoView]
	lastUpdate atomic.Int64

	// surface, when set, shows the frames instead of the canvas. frameSize
	// (x<<32 | y) is the size of the frame on it (0: none), hole the part
	// of the view cut out of it; both are read on the UI goroutine.
	surface   atomic.Pointer[surfaceRef]
	frameSize atomic.Uint64
	hole      fyne.Position
	holeSize  fyne.Size
}

type surfaceRef struct{ Surface }

// UseSurface shows the view's frames on s from now on; nil goes back to
// the canvas. The view does not close s. Call from the UI goroutine.
func (v *VideoView) UseSurface(s Surface) {
	if old := v.surface.Load(); old != nil {
		old.Place(image.Rectangle{}, image.Rectangle{}, false)
	}
	if s == nil {
		v.surface.Store(nil)
		return
	}
	v.surface.Store(&surfaceRef{s})
	v.frameSize.Store(0)
	v.img.Image = nil // the canvas shows the background only
	v.Refresh()
	v.place()
}

// SetHole cuts the rectangle at pos of size size (in the view's
// coordinates) out of the view's surface, so that what the canvas draws
// there (a name plate) shows. Call from the UI goroutine.
func (v *VideoView) SetHole(pos fyne.Position, size fyne.Size) {
	if v.hole == pos && v.holeSize == size {
		return
	}
	v.hole, v.holeSize = pos, size
	v.place()
}

// place puts the surface over the picture, or hides it while the view is
// stopped or hidden, shows no frame, or a dialog covers the window. Call
// from the UI goroutine.
func (v *VideoView) place() {
	ref := v.surface.Load()
	if ref == nil {
		return
	}
	fs := v.frameSize.Load()
	frame := image.Pt(int(fs>>32), int(uint32(fs)))
	c := fyne.CurrentApp().Driver().CanvasForObject(v)
	show := v.Running() && v.Visible() && c != nil && frame.X > 0 && len(c.Overlays().List()) == 0
	var r, hole image.Rectangle
	if show {
		scale := c.Scale()
		at := fyne.CurrentApp().Driver().AbsolutePositionForObject(v)
		pic, picSize := contained(v.Size(), frame)
		px := func(x float32) int { return int(x*scale + 0.5) }
		r = image.Rect(px(at.X+pic.X), px(at.Y+pic.Y), px(at.X+pic.X+picSize.Width), px(at.Y+pic.Y+picSize.Height))
		if v.holeSize.Width > 0 && v.holeSize.Height > 0 {
			h := v.hole.Subtract(pic)
			hole = image.Rect(px(h.X), px(h.Y), px(h.X+v.holeSize.Width), px(h.Y+v.holeSize.Height))
		}
	}
	if err := ref.Place(r, hole, show); err != nil {
		fyne.LogError("video window", err)
	}
}

// Carry makes each update of v also take f's newest frame, so that both
// views change in one repaint; f polls on its own only while v shows
// nothing (the partner's camera is off, say). Call before Start.
func (v *VideoView) Carry(f *VideoView) {
	v.carried.Store(f)
	f.leader.Store(v)
}

// OnShown sets a function called with each frame as it is handed to the
// canvas (on the UI goroutine; it is painted at the next refresh) or once
// it is on the surface (on the polling goroutine).
func (v *VideoView) OnShown(f func(img *image.RGBA, at time.Time)) { v.shown.Store(&f) }

// NewVideoView returns a view of frames that polls every interval once
// started (0 disables the ticker; call Poll yourself).
func NewVideoView(frames frames.Stream, interval time.Duration, mirror bool) *VideoView {
	v := &VideoView{frames: frames, interval: interval, mirror: mirror, do: fyne.Do}
	v.img = &canvas.Image{ScaleMode: canvas.ImageScaleFastest, FillMode: canvas.ImageFillContain}
	v.ExtendBaseWidget(v)
	return v
}

// Start starts the polling ticker if it is not running and the view is
// visible. Call from the UI goroutine.
func (v *VideoView) Start() {
	if !v.Visible() {
		return
	}
	v.runMu.Lock()
	started := v.interval > 0 && v.stop == nil && v.frames != nil
	if started {
		v.stop, v.done = make(chan struct{}), make(chan struct{})
		go v.loop(v.interval, v.stop, v.done)
	}
	v.runMu.Unlock()
	if started {
		v.place()
	}
}

// Stop stops the ticker and waits for its goroutine to end. Safe to call
// more than once and on a view never started.
func (v *VideoView) Stop() {
	v.runMu.Lock()
	stop, done := v.stop, v.done
	v.stop, v.done = nil, nil
	v.runMu.Unlock()
	if stop != nil {
		close(stop)
		<-done
	}
	if ref := v.surface.Load(); ref != nil {
		ref.Place(image.Rectangle{}, image.Rectangle{}, false)
	}
}

// Running reports whether the ticker goroutine runs.
func (v *VideoView) Running() bool {
	v.runMu.Lock()
	defer v.runMu.Unlock()
	return v.stop != nil
}

func (v *VideoView) loop(interval time.Duration, stop, done chan struct{}) {
	defer close(done)
	t := time.NewTicker(interval)
	defer t.Stop()
	p := time.NewTicker(placeInterval)
	defer p.Stop()
	for {
		select {
		case <-stop:
			return
		case <-p.C:
			if v.surface.Load() != nil {
				v.do(v.place)
			}
		case <-t.C:
			if l := v.leader.Load(); l != nil && l.Running() && time.Since(time.Unix(0, l.lastUpdate.Load())) < carryIdle {
				continue // the leader carries this view
			}
			v.Poll()
		}
	}
}

// Poll takes a new frame if there is one and no update is pending, and
// schedules its display, with the carried view's newest frame if it has
// one. It reports whether it scheduled an update.
func (v *VideoView) Poll() bool {
	apply, ok := v.prepare()
	if !ok {
		return false
	}
	if apply == nil {
		return true // shown on the surface
	}
	var carried func()
	if f := v.carried.Load(); f != nil && f.Running() {
		carried, _ = f.prepare()
	}
	v.lastUpdate.Store(time.Now().UnixNano())
	v.do(func() {
		apply()
		if carried != nil {
			carried()
		}
	})
	return true
}

// prepare renders a new frame into the back buffer and returns the function
// that shows it (to run on the UI goroutine) and true; on a surface it
// shows the frame itself and returns nil and true. It returns false if
// there is nothing new or an update is still pending.
func (v *VideoView) prepare() (func(), bool) {
	v.pollMu.Lock()
	defer v.pollMu.Unlock()
	if v.frames == nil || v.pending.Load() {
		return nil, false
	}
	ref := v.surface.Load()
	backIdx := 1 - v.front
	if ref != nil {
		backIdx = 0 // the canvas never holds it
	}
	fit := v.fit.Load()
	back, seq := v.frames.Render(v.bufs[backIdx], v.lastSeq,
		frames.View{Mirror: v.mirror, Fit: image.Pt(int(fit>>32), int(uint32(fit)))})
	if back == nil {
		return nil, false
	}
	v.lastSeq = seq
	v.bufs[backIdx] = back
	if ref != nil {
		size := back.Rect.Size()
		if fs := uint64(size.X)<<32 | uint64(size.Y); v.frameSize.Swap(fs) != fs {
			v.do(v.place) // a first frame, or a new shape: the picture moved
		}
		if err := ref.Show(back); err != nil {
			if !errors.Is(err, xvideo.ErrGone) { // gone: the window is closing
				fyne.LogError("video window", err)
			}
		} else if f := v.shown.Load(); f != nil {
			(*f)(back, time.Now())
		}
		return nil, true
	}
	v.pending.Store(true)
	return func() {
		v.front = backIdx
		v.img.Image = back
		v.Refresh() // lays the letterbox bars out again if the frame's shape changed
		if f := v.shown.Load(); f != nil {
			(*f)(back, time.Now())
		}
		v.pending.Store(false)
	}, true
}

// Clear drops the displayed picture (e.g. when the stream stops) so no
// frozen frame stays on screen. Call from the UI goroutine.
func (v *VideoView) Clear() {
	v.img.Image = nil
	v.Refresh()
	if v.surface.Load() != nil {
		v.frameSize.Store(0)
		v.place()
	}
}

// Hide stops the ticker as well as hiding the view.
func (v *VideoView) Hide() {
	v.Stop()
	v.BaseWidget.Hide()
}

// CreateRenderer implements fyne.Widget.
func (v *VideoView) CreateRenderer() fyne.WidgetRenderer {
	r := &videoRenderer{v: v, bars: [2]*canvas.Rectangle{canvas.NewRectangle(colVideoBG), canvas.NewRectangle(colVideoBG)}}
	r.objects = []fyne.CanvasObject{r.bars[0], r.bars[1], v.img}
	return r
}

// videoRenderer draws the background only where the picture does not
// cover it (the letterbox bars): every repaint shades each rectangle's
// pixels, and without a GPU a rectangle under the whole picture costs as
// much as the picture.
type videoRenderer struct {
	v       *VideoView
	bars    [2]*canvas.Rectangle
	objects []fyne.CanvasObject
	shown   image.Point // the frame size the bars were laid out for
}

func (r *videoRenderer) Layout(s fyne.Size) {
	r.v.img.Resize(s)
	scale := float32(1)
	if c := fyne.CurrentApp().Driver().CanvasForObject(r.v); c != nil {
		scale = c.Scale()
	}
	r.v.fit.Store(uint64(s.Width*scale)<<32 | uint64(s.Height*scale))
	r.shown = r.frame()
	a, b := letterbox(s, r.shown)
	for i, bar := range [2][2]fyne.Position{a, b} {
		r.bars[i].Move(bar[0])
		r.bars[i].Resize(fyne.NewSize(bar[1].X-bar[0].X, bar[1].Y-bar[0].Y))
	}
	r.v.place()
}

// letterbox returns the two bars (top-left and bottom-right corners) left
// uncovered when a frame of size frame is contained in s; with no frame,
// the first bar is all of s. Each bar reaches a pixel under the picture so
// no seam of the window's background shows between them.
func letterbox(s fyne.Size, frame image.Point) (a, b [2]fyne.Position) {
	if frame.X <= 0 || frame.Y <= 0 {
		return [2]fyne.Position{{}, {X: s.Width, Y: s.Height}}, [2]fyne.Position{}
	}
	pic, size := contained(s, frame)
	if size.Width < s.Width {
		bar := pic.X + 1
		return [2]fyne.Position{{}, {X: bar, Y: s.Height}}, [2]fyne.Position{{X: s.Width - bar}, {X: s.Width, Y: s.Height}}
	}
	bar := pic.Y + 1
	return [2]fyne.Position{{}, {X: s.Width, Y: bar}}, [2]fyne.Position{{Y: s.Height - bar}, {X: s.Width, Y: s.Height}}
}

// contained is where a frame of size frame shows when contained in s.
func contained(s fyne.Size, frame image.Point) (fyne.Position, fyne.Size) {
	fw, fh := float32(frame.X), float32(frame.Y)
	scale := min(s.Width/fw, s.Height/fh)
	w, h := fw*scale, fh*scale
	return fyne.NewPos((s.Width-w)/2, (s.Height-h)/2), fyne.NewSize(w, h)
}

func (r *videoRenderer) MinSize() fyne.Size           { return videoMinSize }
func (r *videoRenderer) Objects() []fyne.CanvasObject { return r.objects }
func (r *videoRenderer) Destroy()                     { r.v.Stop() }

// frame is the size of the picture on show (zero: none).
func (r *videoRenderer) frame() image.Point {
	if r.v.img.Image == nil {
		return image.Point{}
	}
	return r.v.img.Image.Bounds().Size()
}

// Refresh lays the bars out again when the frame size changed.
func (r *videoRenderer) Refresh() {
	if r.frame() != r.shown {
		r.Layout(r.v.Size())
	}
	r.bars[0].Refresh()
	r.bars[1].Refresh()
	r.v.img.Refresh()
}
