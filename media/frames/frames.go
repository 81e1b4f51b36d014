// Package frames holds "the latest video frame" for a renderer and converts
// it to RGBA. The producer publishes each frame as a cheap copy of its
// YCbCr planes; the conversion (the costly part) happens only when a
// renderer asks, only for the newest frame, straight into the renderer's
// buffer and at no more pixels than the renderer shows. A frame nobody
// shows costs a copy, and a slow renderer skips frames instead of building
// a queue.
package frames

import (
	"image"
	"sync"
)

// Stream gives a renderer the latest frame of a stream. A renderer that is
// slower than the stream skips frames; nothing queues.
type Stream interface {
	// Render converts the newest frame into dst for the view v if the
	// frame's number is not seen, and returns the image written and the
	// number. dst is used when its size is right, else a new image is
	// returned (keep it for the next call). The image is nil when there is
	// no frame, or none newer than seen; the number is then the newest (0:
	// none yet).
	Render(dst *image.RGBA, seen uint64, v View) (*image.RGBA, uint64)
}

// View is how a renderer shows a stream: mirrored (a self-view) or not,
// and the box it fits the picture into, in screen pixels (zero: not known,
// full size). A frame much bigger than the box is converted at a half or a
// quarter of its size, never below one pixel per screen pixel.
type View struct {
	Mirror bool
	Fit    image.Point
}

// Latest implements Stream.
type Latest struct {
	mu     sync.Mutex
	src    [3]*image.YCbCr // staging copies; the producer never writes newest or busy
	newest int             // -1: none yet
	busy   int             // being converted by Render; -1: none
	seq    uint64
	rmu    sync.Mutex // one Render at a time: busy names one buffer
}

// New returns an empty Latest.
func New() *Latest { return &Latest{newest: -1, busy: -1} }

// Publish makes a copy of img the newest frame.
func (l *Latest) Publish(img *image.YCbCr) {
	l.mu.Lock()
	i := 0
	for i == l.newest || i == l.busy {
		i++
	}
	dst := l.src[i]
	l.mu.Unlock()
	if dst == nil || dst.Rect != img.Rect || dst.SubsampleRatio != img.SubsampleRatio || dst.YStride != img.YStride || dst.CStride != img.CStride {
		dst = &image.YCbCr{
			Y: make([]byte, len(img.Y)), Cb: make([]byte, len(img.Cb)), Cr: make([]byte, len(img.Cr)),
			YStride: img.YStride, CStride: img.CStride, SubsampleRatio: img.SubsampleRatio, Rect: img.Rect,
		}
	}
	copy(dst.Y, img.Y)
	copy(dst.Cb, img.Cb)
	copy(dst.Cr, img.Cr)
	l.mu.Lock()
	l.src[i] = dst
	l.newest = i
	l.seq++
	l.mu.Unlock()
}

// Render implements Stream: it converts the newest frame into
// dst, if its number is not seen, for the view v. Renderers take turns (a
// second Render waits for the first).
func (l *Latest) Render(dst *image.RGBA, seen uint64, v View) (*image.RGBA, uint64) {
	l.rmu.Lock()
	defer l.rmu.Unlock()
	l.mu.Lock()
	if l.newest < 0 || l.seq == seen {
		seq := l.seq
		l.mu.Unlock()
		return nil, seq
	}
	i, seq := l.newest, l.seq
	l.busy = i
	src := l.src[i]
	l.mu.Unlock()
	dst, k := Target(dst, src.Rect.Size(), v.Fit)
	Convert(dst, src, k, v.Mirror)
	l.mu.Lock()
	l.busy = -1
	l.mu.Unlock()
	return dst, seq
}

// Target returns what a frame of size frame shown in a box of fit pixels
// is converted into, and with which factor: dst when its size is right,
// else a new image of the shrunk size.
func Target(dst *image.RGBA, frame, fit image.Point) (*image.RGBA, int) {
	k := Shrink(frame, fit)
	if size := ShrunkSize(frame, k); dst == nil || dst.Rect.Size() != size {
		dst = image.NewRGBA(image.Rectangle{Max: size})
	}
	return dst, k
}
