package ui

import (
	"image"
	"sync"
	"sync/atomic"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/widget"

	"github.com/parley-lab/parley/media/participant"
)

// VideoFrameInterval is how often a VideoView asks its Frames for a new frame
// (about 30 fps). A frame arriving between two polls waits at most this long.
const VideoFrameInterval = time.Second / 30

// videoMinSize is the smallest size a VideoView asks for.
var videoMinSize = fyne.NewSize(160, 90)

// VideoView shows the latest frame of a participant.Frames.
//
// Threading and buffers: a ticker goroutine (running only between Start and
// Stop) calls Latest; when the sequence number changed and no update is
// pending, it copies the frame into the view's back buffer (one of two
// *image.RGBA it owns, reallocated only when the frame size changes) and
// schedules exactly one fyne.Do that makes the back buffer the displayed
// one. A pending update makes the next polls skip, so nothing ever queues.
// Copying (about 0.3 ms for 640x480) means the engine may reuse its image as
// soon as Latest is called again, and the view never writes to the buffer
// on screen: it writes only to the back buffer, and only after the UI
// goroutine has finished swapping (the pending flag orders the two).
//
// The image is drawn with canvas.ImageScaleFastest and ImageFillContain: the
// GPU scales it, keeping the aspect ratio; there is no per-frame CPU rescale.
// Mirror flips the picture horizontally (for the self-view) while copying.
type VideoView struct {
	widget.BaseWidget

	frames   participant.Frames
	interval time.Duration // 0: no ticker; Poll is called by hand (tests)
	mirror   bool
	do       func(func()) // fyne.Do; replaceable in tests

	img *canvas.Image

	// buffers: written by the polling goroutine (back) while pending is
	// false; front is changed only on the UI goroutine while pending is true.
	bufs    [2]*image.RGBA
	front   int
	lastSeq uint64
	hasSeq  bool
	pending atomic.Bool
	pollMu  sync.Mutex // serialises Poll (ticker vs. a manual call)

	runMu sync.Mutex
	stop  chan struct{}
	done  chan struct{}

	// shown, if set, sees each frame as it is handed to the canvas, on the
	// UI goroutine (the demo measures capture-to-screen latency with it).
	shown atomic.Pointer[func(*image.RGBA, time.Time)]
}

// OnShown sets a function called on the UI goroutine with each frame as it
// is handed to the canvas (it is painted at the next refresh).
func (v *VideoView) OnShown(f func(img *image.RGBA, at time.Time)) { v.shown.Store(&f) }

// NewVideoView returns a view of frames that polls every interval once
// started (0 disables the ticker; call Poll yourself).
func NewVideoView(frames participant.Frames, interval time.Duration, mirror bool) *VideoView {
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
	defer v.runMu.Unlock()
	if v.interval <= 0 || v.stop != nil || v.frames == nil {
		return
	}
	v.stop, v.done = make(chan struct{}), make(chan struct{})
	go v.loop(v.interval, v.stop, v.done)
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
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			v.Poll()
		}
	}
}

// Poll takes a new frame if there is one and no update is pending, and
// schedules its display. It reports whether it scheduled one.
func (v *VideoView) Poll() bool {
	v.pollMu.Lock()
	defer v.pollMu.Unlock()
	if v.frames == nil || v.pending.Load() {
		return false
	}
	src, seq := v.frames.Latest()
	if src == nil || (v.hasSeq && seq == v.lastSeq) {
		return false
	}
	v.lastSeq, v.hasSeq = seq, true
	backIdx := 1 - v.front
	back := v.bufs[backIdx]
	if back == nil || back.Rect.Dx() != src.Rect.Dx() || back.Rect.Dy() != src.Rect.Dy() {
		back = image.NewRGBA(image.Rect(0, 0, src.Rect.Dx(), src.Rect.Dy()))
		v.bufs[backIdx] = back
	}
	copyFrame(back, src, v.mirror)
	v.pending.Store(true)
	v.do(func() {
		v.front = backIdx
		v.img.Image = back
		v.img.Refresh()
		if f := v.shown.Load(); f != nil {
			(*f)(back, time.Now())
		}
		v.pending.Store(false)
	})
	return true
}

// Clear drops the displayed picture (e.g. when the stream stops) so no
// frozen frame stays on screen. Call from the UI goroutine.
func (v *VideoView) Clear() {
	v.img.Image = nil
	v.img.Refresh()
}

// copyFrame copies src into dst (same size), optionally mirrored.
func copyFrame(dst, src *image.RGBA, mirror bool) {
	w, h := src.Rect.Dx(), src.Rect.Dy()
	rowBytes := 4 * w
	for y := 0; y < h; y++ {
		s := src.Pix[src.PixOffset(src.Rect.Min.X, src.Rect.Min.Y+y):][:rowBytes]
		d := dst.Pix[y*dst.Stride:][:rowBytes]
		if !mirror {
			copy(d, s)
			continue
		}
		for x := 0; x < w; x++ {
			copy(d[4*(w-1-x):4*(w-x)], s[4*x:4*x+4])
		}
	}
}

// Hide stops the ticker as well as hiding the view.
func (v *VideoView) Hide() {
	v.Stop()
	v.BaseWidget.Hide()
}

// CreateRenderer implements fyne.Widget.
func (v *VideoView) CreateRenderer() fyne.WidgetRenderer {
	bg := canvas.NewRectangle(colVideoBG)
	return &videoRenderer{v: v, bg: bg, objects: []fyne.CanvasObject{bg, v.img}}
}

type videoRenderer struct {
	v       *VideoView
	bg      *canvas.Rectangle
	objects []fyne.CanvasObject
}

func (r *videoRenderer) Layout(s fyne.Size) {
	r.bg.Resize(s)
	r.v.img.Resize(s)
}

func (r *videoRenderer) MinSize() fyne.Size           { return videoMinSize }
func (r *videoRenderer) Objects() []fyne.CanvasObject { return r.objects }
func (r *videoRenderer) Refresh()                     { r.bg.Refresh(); r.v.img.Refresh() }
func (r *videoRenderer) Destroy()                     { r.v.Stop() }
