package kit

// tap.go: the one way into the media this kit handles, for whatever
// records or measures it (media/recording's segments, media/bench/probe):
// what is sent, as encoded and as captured, and the partner's media as
// decoded and as played. No second encoder, no hook per user.

import (
	"image"
	"sync"
	"sync/atomic"
	"time"
)

// Tap sees the media the kit handles. Its methods are called on the
// media goroutines (the encoding loops, the calls' receivers, the
// speaker's callback) for every frame, so they must not block: copy what
// is kept into a queue or under a short lock. Every slice and picture
// belongs to the kit and is valid only during the call.
// Embed NoTap to implement only what is needed.
type Tap interface {
	// SentVideo gets each encoded VP8 frame sent to the partners and
	// when its picture was captured.
	SentVideo(frame []byte, captured time.Time)
	// SentAudio gets each 20 ms Opus packet sent and when its first
	// sample was captured.
	SentAudio(packet []byte, captured time.Time)
	// CapturedAudio gets each 20 ms of audio as captured (the microphone
	// or the test tone, before muting), whether or not a call runs, and
	// when its first sample was captured.
	CapturedAudio(pcm []int16, captured time.Time)
	// PartnerVideo gets each partner picture decoded, and when.
	PartnerVideo(img *image.YCbCr, decoded time.Time)
	// PartnerAudio gets each 20 ms of the partner's audio taken into the
	// jitter buffer (a concealed frame included), and when.
	PartnerAudio(pcm []int16, received time.Time)
	// PlayedAudio gets the partner's audio as handed to the speaker, and
	// when (only with Options.PlayAudio and an output device).
	PlayedAudio(pcm []int16, played time.Time)
}

// NoTap is a Tap that takes nothing; embedded, it lets an implementation
// take only what it needs.
type NoTap struct{}

func (NoTap) SentVideo([]byte, time.Time)          {}
func (NoTap) SentAudio([]byte, time.Time)          {}
func (NoTap) CapturedAudio([]int16, time.Time)     {}
func (NoTap) PartnerVideo(*image.YCbCr, time.Time) {}
func (NoTap) PartnerAudio([]int16, time.Time)      {}
func (NoTap) PlayedAudio([]int16, time.Time)       {}

// tapSet holds the installed taps as an immutable list swapped
// atomically: the media goroutines read it for every frame without a
// lock or an allocation; installing and removing copy it under mu.
type tapSet struct {
	mu   sync.Mutex
	list atomic.Pointer[[]*tapEntry]
}

// tapEntry makes each installation its own (a tap need not be
// comparable, and may be installed twice).
type tapEntry struct{ Tap }

func (s *tapSet) load() []*tapEntry {
	if p := s.list.Load(); p != nil {
		return *p
	}
	return nil
}

func (s *tapSet) add(t Tap) *tapEntry {
	e := &tapEntry{t}
	s.mu.Lock()
	defer s.mu.Unlock()
	l := append(append([]*tapEntry(nil), s.load()...), e)
	s.list.Store(&l)
	return e
}

func (s *tapSet) remove(e *tapEntry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var l []*tapEntry
	for _, o := range s.load() {
		if o != e {
			l = append(l, o)
		}
	}
	s.list.Store(&l)
}

// Tap installs t: from now on it sees the media the kit handles, until
// remove is called (idempotent; a media goroutine that read the taps just
// before may still make one call). A tap that needs the sent video from a
// keyframe asks for one (RequestKeyframe) after installing itself.
func (k *Kit) Tap(t Tap) (remove func()) {
	e := k.taps.add(t)
	var once sync.Once
	return func() { once.Do(func() { k.taps.remove(e) }) }
}

// RequestKeyframe makes the next video frame sent a keyframe (a recording
// starts with one, so it can be decoded from its first frame).
func (k *Kit) RequestKeyframe() { k.keyframe.Store(true) }

// Sends says what the kit sends at all, for a recording's tracks: video
// unless the lab chose no camera, audio unless it chose no microphone (a
// camera or microphone plugged in later is sent, so a missing one still
// gets its track); and the pictures' size.
func (k *Kit) Sends() (video, audio bool, width, height int) {
	return !k.cameraOff, !k.micOff, k.o.Width, k.o.Height
}
