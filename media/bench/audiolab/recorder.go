package audiolab

// recorder.go: a speaker's monitor (or a microphone) recorded frame by
// frame, with when each frame was read, so that what is heard can be
// timed against when the mouth said it.

import (
	"context"
	"sync"
	"time"
)

// Reader is a capture device: capture.Mic, for one.
type Reader interface {
	Read(frame []int16) error
}

// Recorder is what a device recorded.
type Recorder struct {
	mu    sync.Mutex
	frame int
	pcm   []int16
	times []time.Time // when each frame's last sample was read
}

// Record reads frames of frameSamples from r until ctx ends or a read
// fails; call it on a goroutine of its own.
func (r *Recorder) Record(ctx context.Context, dev Reader, frameSamples int) {
	f := make([]int16, frameSamples)
	r.mu.Lock()
	r.frame = frameSamples
	r.mu.Unlock()
	for ctx.Err() == nil {
		if err := dev.Read(f); err != nil {
			return
		}
		now := time.Now()
		r.mu.Lock()
		r.pcm = append(r.pcm, f...)
		r.times = append(r.times, now)
		r.mu.Unlock()
	}
}

// Len is how many samples are recorded so far: a mark to measure from.
func (r *Recorder) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.pcm)
}

// Peak is the loudest sample recorded in [from, to).
func (r *Recorder) Peak(from, to int) int16 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var p int16
	for _, v := range r.pcm[min(from, len(r.pcm)):min(to, len(r.pcm))] {
		p = max(p, v, -v)
	}
	return p
}

// copyFrom is a copy of the recording from the start of the frame that
// holds sample from, and the index in r of the copy's first sample.
func (r *Recorder) copyFrom(from int) (*Recorder, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.frame == 0 {
		return &Recorder{frame: 1}, 0
	}
	f0 := min(from, len(r.pcm)) / r.frame
	return &Recorder{frame: r.frame, pcm: append([]int16(nil), r.pcm[f0*r.frame:]...), times: append([]time.Time(nil), r.times[f0:]...)}, f0 * r.frame
}

// timeOf is when recorded sample i was captured (about: its frame's read
// time less the samples after it).
func (r *Recorder) timeOf(i int) time.Time {
	fr := i / r.frame
	return r.times[fr].Add(-time.Duration(r.frame-1-i%r.frame) * time.Second / Rate)
}
