package kit

// The partner's audio between the decoder and the speaker: an adaptive
// playout buffer that hides the network's jitter, conceals an underrun
// with a fading continuation of the voice instead of a hole, and sheds
// delay by skipping whole periods of the signal, never with a step.

import (
	"sync"
	"time"

	"github.com/parley-lab/parley/media/internal/rtc"
)

// Jitter buffer limits. It starts at startTarget, grows by growStep after
// each underrun (up to maxTarget), and shrinks by shrinkStep after every
// shrinkAfter without one (down to minTarget, one packet): on a quiet LAN it
// settles near one packet; a jittery network gets what it needs.
const (
	minTarget   = 20 * time.Millisecond
	startTarget = 40 * time.Millisecond
	maxTarget   = 120 * time.Millisecond
	growStep    = 20 * time.Millisecond
	shrinkStep  = 10 * time.Millisecond
	shrinkAfter = 3 * time.Second
	// slack above the target before the oldest audio is cut at once.
	slack = 40 * time.Millisecond
	// Above catchUpSlack over the target, each frame queued is shortened
	// by a period or so of its signal (compress).
	catchUpSlack = 5 * time.Millisecond
	// concealFor is how long an underrun is bridged by a fading
	// continuation of the voice before silence.
	concealFor = 60 * time.Millisecond
	// histFor is how much of the newest audio the buffer keeps to build
	// a concealment from (the longest period searched and its window).
	histFor = 20 * time.Millisecond
)

func samples(d time.Duration) int { return int(d * rtc.SampleRate / time.Second) }

// indexedFrames is how many of the newest frames the buffer remembers by
// sequence number (more than maxTarget+slack holds).
const indexedFrames = 16

// jitter is an adaptive playout buffer of 48 kHz mono samples. It knows
// where each recent frame lies (by RTP sequence number), so a packet that
// arrives after its place was concealed replaces the concealment if that
// place has not been played yet; one that comes after its place was
// played counts as late and grows the buffer like an underrun.
type jitter struct {
	mu         sync.Mutex
	buf        []int16
	target     int
	playing    bool
	underruns  int
	late       int // packets that came after their place was played
	replaced   int // concealed frames replaced by the real packet
	shed       int // samples skipped to bring the delay down
	lastChange time.Time
	now        func() time.Time

	// hist is the newest histFor of audio queued (buf's end, or what was
	// played of it); ext is the concealment that continues it, made when
	// a frame is queued so that pull only copies. While concealing, extAt
	// is how much of ext has been played, and ext is kept as it is.
	hist       []int16
	ext        []int16
	extAt      int
	concealing bool
	scratch    []int16 // a frame being shortened (the caller's stays as it is)

	// consumed counts the samples ever removed from buf's front, so a
	// frame's absolute position maps to an index in buf.
	consumed int64
	pushed   int64 // samples ever appended
	frames   [indexedFrames]frameRef
	nframes  int
	newest   uint16
	started  bool
}

type frameRef struct {
	seq  uint16
	pos  int64 // absolute position of its first sample
	n    int
	lost bool
}

func newJitter(now func() time.Time) *jitter {
	return &jitter{
		target: samples(startTarget), now: now, lastChange: now(),
		hist:    make([]int16, 0, samples(histFor)),
		ext:     make([]int16, samples(concealFor)),
		scratch: make([]int16, 0, samples(20*time.Millisecond)),
	}
}

func (j *jitter) push(pcm []int16) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.appendLocked(pcm)
}

// appendLocked queues pcm, shortened by about a period when the buffer
// is already over its target; the oldest audio is cut when far over, and
// the concealment remade. It reports how many samples it queued.
func (j *jitter) appendLocked(pcm []int16) int {
	if excess := len(j.buf) - j.target - samples(catchUpSlack); excess > 0 && j.playing {
		j.scratch = append(j.scratch[:0], pcm...)
		pcm = compress(j.scratch, excess)
		j.shed += len(j.scratch) - len(pcm)
	}
	j.buf = append(j.buf, pcm...)
	j.pushed += int64(len(pcm))
	if over := len(j.buf) - (j.target + samples(slack)); over > 0 {
		j.cutLocked(over) // too far behind: catch up
	}
	j.remember(pcm)
	if !j.concealing {
		extend(j.ext, j.hist)
	}
	return len(pcm)
}

// remember keeps the newest histFor of the stream in hist.
func (j *jitter) remember(pcm []int16) {
	keep := cap(j.hist)
	if len(pcm) >= keep {
		j.hist = append(j.hist[:0], pcm[len(pcm)-keep:]...)
		return
	}
	if drop := len(j.hist) + len(pcm) - keep; drop > 0 {
		j.hist = append(j.hist[:0], j.hist[drop:]...)
	}
	j.hist = append(j.hist, pcm...)
}

// cutLocked removes n samples from the front, the audio after the cut
// faded in over what would have been played, so the cut makes no step.
func (j *jitter) cutLocked(n int) {
	if len(j.buf) >= n+fadeLen {
		crossfade(j.buf[n:n+fadeLen], j.buf[:fadeLen], j.buf[n:n+fadeLen])
	}
	j.dropLocked(n)
	j.shed += n
}

// dropLocked removes n samples from the front.
func (j *jitter) dropLocked(n int) {
	j.buf = append(j.buf[:0], j.buf[n:]...)
	j.consumed += int64(n)
}

// pushFrame adds one decoded frame with its sequence number: in order (a
// concealed one has lost set), or late, when it replaces its concealed
// place if that is still to be played. It reports whether pcm was used,
// and whether it replaced a concealed place.
func (j *jitter) pushFrame(pcm []int16, seq uint16, lost bool) (used, replaced bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.started && seq == j.newest {
		return false, false // a duplicate
	}
	// Older than the newest, within the index: late. Further behind is a
	// new stream (a fresh call numbers its packets afresh).
	if age := j.newest - seq; j.started && age <= indexedFrames {
		for i := range j.nframes {
			f := &j.frames[i]
			if f.seq != seq {
				continue
			}
			if f.lost && !lost && f.pos >= j.consumed && f.n == len(pcm) && f.pos+int64(f.n) <= j.pushed {
				copy(j.buf[f.pos-j.consumed:], pcm)
				f.lost = false
				j.replaced++
				return true, true
			}
			break
		}
		if !lost {
			j.late++
			j.growLocked(j.now())
		}
		return false, false
	}
	if j.started && seq-j.newest > 0x8000 {
		j.nframes = 0 // a new stream: forget the old one's places
	}
	j.started, j.newest = true, seq
	pos := j.pushed
	n := j.appendLocked(pcm)
	ref := frameRef{seq: seq, pos: pos, n: n, lost: lost}
	if j.nframes < indexedFrames {
		j.frames[j.nframes] = ref
		j.nframes++
	} else {
		copy(j.frames[:], j.frames[1:])
		j.frames[indexedFrames-1] = ref
	}
	return true, false
}

// growLocked raises the target one step (after an underrun or a late packet).
func (j *jitter) growLocked(now time.Time) {
	j.target = min(j.target+samples(growStep), samples(maxTarget))
	j.lastChange = now
}

// pull fills out for playback (the device callback: it copies and mixes,
// nothing more). Before the first audio it is silence; after an underrun,
// the concealment, then silence, until the buffer holds its target again,
// when the audio fades in over the concealment.
func (j *jitter) pull(out []int16) {
	j.mu.Lock()
	defer j.mu.Unlock()
	now := j.now()
	if !j.playing {
		if len(j.buf) < j.target {
			j.concealLocked(out)
			return
		}
		j.playing = true
		if j.concealing {
			j.resumeLocked()
		}
	}
	n := copy(out, j.buf)
	j.dropLocked(n)
	if n < len(out) {
		j.underruns++
		j.playing = false
		j.growLocked(now)
		j.concealing, j.extAt = true, 0
		j.concealLocked(out[n:])
		return
	}
	if now.Sub(j.lastChange) > shrinkAfter && j.target > samples(minTarget) {
		j.target = max(j.target-samples(shrinkStep), samples(minTarget))
		j.lastChange = now
	}
}

// concealLocked fills out from the concealment while one runs, silence
// after it (and before any audio).
func (j *jitter) concealLocked(out []int16) {
	if !j.concealing {
		clear(out)
		return
	}
	n := copy(out, j.ext[min(j.extAt, len(j.ext)):])
	clear(out[n:])
	j.extAt += len(out)
}

// resumeLocked fades the buffer's first samples in over the concealment
// that was playing. The next frame queued remakes the concealment (the
// buffer holds its target now, so one comes before it can run dry).
func (j *jitter) resumeLocked() {
	var from [fadeLen]int16
	if j.extAt < len(j.ext) {
		copy(from[:], j.ext[j.extAt:])
	}
	if len(j.buf) >= fadeLen {
		crossfade(j.buf[:fadeLen], from[:], j.buf[:fadeLen])
	}
	j.concealing, j.extAt = false, 0
}

// jitterStats are the buffer's counts since it was made.
type jitterStats struct {
	underruns, late, replaced int
	shed                      time.Duration
}

func (j *jitter) stats() jitterStats {
	j.mu.Lock()
	defer j.mu.Unlock()
	return jitterStats{j.underruns, j.late, j.replaced, time.Duration(j.shed) * time.Second / rtc.SampleRate}
}

// delay is the audio now waiting to be played.
func (j *jitter) delay() time.Duration {
	j.mu.Lock()
	defer j.mu.Unlock()
	return time.Duration(len(j.buf)) * time.Second / rtc.SampleRate
}
