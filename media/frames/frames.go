// Package frames holds "the latest video frame" for a renderer. The
// producer publishes each frame as a cheap copy of its YCbCr planes; the
// conversion to RGBA (the costly part) happens only when a renderer asks,
// and only for the newest frame, so a frame nobody shows costs a copy and a
// slow renderer skips frames instead of building a queue.
package frames

import (
	"image"
	"image/draw"
	"sync"
)

// Latest implements participant.Frames.
type Latest struct {
	mu     sync.Mutex
	src    [3]*image.YCbCr // staging copies; the producer never writes newest or busy
	newest int             // -1: none yet
	busy   int             // being converted by Latest; -1: none
	seq    uint64

	rmu    sync.Mutex // one reader at a time
	out    [2]*image.RGBA
	cur    int // out[cur] was returned last
	outSeq uint64
}

// New returns an empty Latest.
func New() *Latest { return &Latest{newest: -1, busy: -1, cur: 1} }

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

// Latest returns the newest frame as RGBA and its number (0: none yet).
// The image is not written until the next call of Latest.
func (l *Latest) Latest() (*image.RGBA, uint64) {
	l.rmu.Lock()
	defer l.rmu.Unlock()
	l.mu.Lock()
	if l.newest < 0 {
		l.mu.Unlock()
		return nil, 0
	}
	if l.seq == l.outSeq {
		l.mu.Unlock()
		return l.out[l.cur], l.outSeq
	}
	i, seq := l.newest, l.seq
	l.busy = i
	src := l.src[i]
	l.mu.Unlock()
	o := 1 - l.cur // never the image handed out last time
	r := src.Rect
	if l.out[o] == nil || l.out[o].Rect.Dx() != r.Dx() || l.out[o].Rect.Dy() != r.Dy() {
		l.out[o] = image.NewRGBA(image.Rect(0, 0, r.Dx(), r.Dy()))
	}
	draw.Draw(l.out[o], l.out[o].Rect, src, r.Min, draw.Src)
	l.mu.Lock()
	l.busy = -1
	l.mu.Unlock()
	l.cur, l.outSeq = o, seq
	return l.out[o], seq
}
