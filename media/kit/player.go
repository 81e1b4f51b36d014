package kit

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/gen2brain/malgo"

	"github.com/parley-lab/parley/media/capture"
	"github.com/parley-lab/parley/media/rtc"
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
	// slack above the target before the oldest audio is dropped at once.
	slack = 40 * time.Millisecond
	// Above catchUpSlack over the target, catchUpStep is skipped per buffer played.
	catchUpSlack = 5 * time.Millisecond
	catchUpStep  = 2500 * time.Microsecond
)

// playerScratch is the player callback's buffer, in samples; a larger
// request (not seen with miniaudio's fixed-size callback) grows it once.
const playerScratch = 4096

// NullBackend is miniaudio's null backend: a device with no hardware that
// still runs in real time. malgo v0.11.24's BackendNull constant is the
// wrong value, hence the number.
const NullBackend = malgo.Backend(14)

// ErrNoAudioOutput means no playback device could be opened (no sound card).
var ErrNoAudioOutput = errors.New("no audio output device")

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
	lastChange time.Time
	now        func() time.Time

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
	return &jitter{target: samples(startTarget), now: now, lastChange: now()}
}

func (j *jitter) push(pcm []int16) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.appendLocked(pcm)
}

func (j *jitter) appendLocked(pcm []int16) {
	j.buf = append(j.buf, pcm...)
	j.pushed += int64(len(pcm))
	if over := len(j.buf) - (j.target + samples(slack)); over > 0 {
		j.dropLocked(over) // too far behind: catch up
	}
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
	ref := frameRef{seq: seq, pos: j.pushed, n: len(pcm), lost: lost}
	if j.nframes < indexedFrames {
		j.frames[j.nframes] = ref
		j.nframes++
	} else {
		copy(j.frames[:], j.frames[1:])
		j.frames[indexedFrames-1] = ref
	}
	j.appendLocked(pcm)
	return true, false
}

// growLocked raises the target one step (after an underrun or a late packet).
func (j *jitter) growLocked(now time.Time) {
	j.target = min(j.target+samples(growStep), samples(maxTarget))
	j.lastChange = now
}

// pull fills out for playback; silence while buffering.
func (j *jitter) pull(out []int16) {
	j.mu.Lock()
	defer j.mu.Unlock()
	now := j.now()
	if !j.playing {
		if len(j.buf) < j.target {
			clear(out)
			return
		}
		j.playing = true
	}
	n := copy(out, j.buf)
	j.dropLocked(n)
	if n < len(out) {
		clear(out[n:])
		j.underruns++
		j.playing = false
		j.growLocked(now)
		return
	}
	if now.Sub(j.lastChange) > shrinkAfter && j.target > samples(minTarget) {
		j.target = max(j.target-samples(shrinkStep), samples(minTarget))
		j.lastChange = now
	}
	// Bring the delay down to the target a little at a time (a short skip
	// per buffer is less audible than one long one).
	if excess := len(j.buf) - j.target - samples(catchUpSlack); excess > 0 {
		j.dropLocked(min(excess, samples(catchUpStep)))
	}
}

// delay is the audio now waiting to be played.
func (j *jitter) delay() time.Duration {
	j.mu.Lock()
	defer j.mu.Unlock()
	return time.Duration(len(j.buf)) * time.Second / rtc.SampleRate
}

// player plays a jitter buffer through miniaudio.
type player struct {
	ctx    *malgo.AllocatedContext
	dev    *malgo.Device
	jb     *jitter
	device string // label of the device chosen ("" for miniaudio's default)
	// played counts the samples handed to the device (for tests); atomic,
	// so the device callback takes no lock for it.
	played atomic.Int64
}

// openPlayer opens the output device, 48 kHz mono 16-bit, with a short
// period for low latency: the one whose label contains speaker (any case),
// else the system's default (capture.Select), else miniaudio's default
// when the backend lists none. Its thread is not real-time (see
// capture.DeviceThreadPriority).
// onPlayed sees every buffer handed to the device, with the time of the
// callback (the self-test and benchmark time tone onsets with it).
func openPlayer(jb *jitter, backends []malgo.Backend, speaker string, onPlayed func([]int16, time.Time)) (*player, error) {
	ctx, err := malgo.InitContext(backends, malgo.ContextConfig{ThreadPriority: capture.DeviceThreadPriority}, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoAudioOutput, err)
	}
	p := &player{ctx: ctx, jb: jb}
	cfg := malgo.DefaultDeviceConfig(malgo.Playback)
	cfg.Playback.Format = malgo.FormatS16
	cfg.Playback.Channels = 1
	cfg.SampleRate = rtc.SampleRate
	// 10 ms periods, 40 ms of device buffer: with 20 ms a stalled device
	// or sound-server thread (a VM's host busy) went silent 0-69 times in
	// 10 s of tone; 40 ms gave 0-8, and mouth to ear stayed 61-67 ms.
	cfg.PeriodSizeInMilliseconds = 10
	cfg.Periods = 4
	devs, err := capture.List(backends)
	if err == nil {
		var d capture.Device
		d, err = capture.Select(devs, capture.Speaker, speaker)
		if err == nil {
			p.device = d.Label()
			var free func()
			cfg.Playback.DeviceID, free = d.ConfigID()
			defer free()
		}
	}
	if err != nil && speaker != "" {
		ctx.Uninit()
		ctx.Free()
		return nil, fmt.Errorf("%w: %v", ErrNoAudioOutput, err)
	}
	// Allocated here, not in the callback (miniaudio's fixed-size
	// callback hands over one period: 480 samples).
	scratch := make([]int16, playerScratch)
	dev, err := malgo.InitDevice(ctx.Context, cfg, malgo.DeviceCallbacks{
		Data: func(out, _ []byte, frames uint32) {
			if cap(scratch) < int(frames) {
				scratch = make([]int16, frames)
			}
			s := scratch[:frames]
			jb.pull(s)
			if onPlayed != nil {
				onPlayed(s, time.Now())
			}
			copy(out, unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), len(s)*2))
			p.played.Add(int64(frames))
		},
	})
	if err != nil {
		ctx.Uninit()
		ctx.Free()
		return nil, fmt.Errorf("%w: %v", ErrNoAudioOutput, err)
	}
	if err := dev.Start(); err != nil {
		dev.Uninit()
		ctx.Uninit()
		ctx.Free()
		return nil, fmt.Errorf("%w: %v", ErrNoAudioOutput, err)
	}
	p.dev = dev
	return p, nil
}

func (p *player) playedSamples() int64 {
	return p.played.Load()
}

// close releases the device within DeviceCloseLimit (ErrCloseTimeout
// beyond: the sound system is stuck, and the device is abandoned).
func (p *player) close() error {
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.dev.Stop() // first: Uninit of a running PulseAudio stream took 1.8 s here, Stop then Uninit under 1 ms
		p.dev.Uninit()
		p.ctx.Uninit()
		p.ctx.Free()
	}()
	t := time.NewTimer(DeviceCloseLimit)
	defer t.Stop()
	select {
	case <-done:
		return nil
	case <-t.C:
		return fmt.Errorf("%w: the speaker %q was not released within %v", ErrCloseTimeout, p.device, DeviceCloseLimit)
	}
}
