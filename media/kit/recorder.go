package kit

// The recording tap: the encoded frames and packets this kit sends, handed
// to a Recorder as they go to the partner (no second encoder).

import (
	"sync/atomic"
	"time"
)

// Recorder takes what the kit sends. Its methods are called on the
// encoding goroutines and must not block (record.Writer only copies into
// a queue); frame and packet are the kit's buffers, valid for the call
// only.
type Recorder interface {
	// Video gets one VP8 frame and when its picture was captured.
	Video(frame []byte, at time.Time)
	// Audio gets one 20 ms Opus packet and when its first sample was
	// captured.
	Audio(packet []byte, at time.Time)
}

// recorderTap holds the Recorder, swapped atomically: the encoding loops
// read it for every frame.
type recorderTap struct{ r atomic.Pointer[Recorder] }

func (t *recorderTap) get() Recorder {
	if p := t.r.Load(); p != nil {
		return *p
	}
	return nil
}

// Record hands everything sent from now on to r (nil stops). The next
// video frame is a keyframe, so that the recording can be decoded from its
// first frame. It returns the Recorder it replaces.
func (k *Kit) Record(r Recorder) Recorder {
	var old *Recorder
	if r == nil {
		old = k.rec.r.Swap(nil)
	} else {
		old = k.rec.r.Swap(&r)
		k.keyframe.Store(true)
	}
	if old == nil {
		return nil
	}
	return *old
}

// Sends says what the kit sends at all, for a recording's tracks: video
// unless the lab chose no camera, audio unless it chose no microphone (a
// camera or microphone plugged in later is sent, so a missing one still
// gets its track); and the pictures' size.
func (k *Kit) Sends() (video, audio bool, width, height int) {
	return !k.cameraOff, !k.micOff, k.o.Width, k.o.Height
}
