// Package frames holds "the latest video frame" for a renderer: the producer
// converts each frame into a free buffer and publishes it; a renderer gets
// the newest with Latest and may read it until its next call. Nothing
// queues: a slow renderer skips frames.
package frames

import (
	"image"
	"image/draw"
	"sync"
)

// Latest implements participant.Frames with triple buffering: the producer
// never writes into the newest published buffer nor into the one a reader
// holds.
type Latest struct {
	mu     sync.Mutex
	bufs   [3]*image.RGBA
	newest int
	held   int
	seq    uint64
}

// New returns an empty Latest.
func New() *Latest { return &Latest{newest: -1, held: -1} }

// Publish converts src (any image; YCbCr takes a fast path) into a free
// buffer and makes it the newest frame.
func (l *Latest) Publish(src image.Image) {
	l.mu.Lock()
	i := 0
	for i == l.newest || i == l.held {
		i++
	}
	dst := l.bufs[i]
	l.mu.Unlock()
	r := src.Bounds()
	if dst == nil || dst.Rect.Dx() != r.Dx() || dst.Rect.Dy() != r.Dy() {
		dst = image.NewRGBA(image.Rect(0, 0, r.Dx(), r.Dy()))
	}
	draw.Draw(dst, dst.Rect, src, r.Min, draw.Src)
	l.mu.Lock()
	l.bufs[i] = dst
	l.newest = i
	l.seq++
	l.mu.Unlock()
}

// Latest returns the newest frame and its number (0: none yet). The image
// is not written until the next call of Latest.
func (l *Latest) Latest() (*image.RGBA, uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.newest < 0 {
		return nil, 0
	}
	l.held = l.newest
	return l.bufs[l.newest], l.seq
}
