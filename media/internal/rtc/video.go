package rtc

import (
	"image"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"

	"github.com/parley-lab/parley/media/frames"
	"github.com/parley-lab/parley/media/internal/vp8"
)

// VideoHook sees each decoded partner frame before it is converted for
// display: the self-test reads the frame stamps here. The image is the
// decoder's buffer: read it during the call, never keep it.
type VideoHook func(img *image.YCbCr, decoded time.Time)

// maxFrameBytes bounds one assembled VP8 frame (a 1080p keyframe at high
// quality is well below).
const maxFrameBytes = 4 << 20

// videoReceiver depacketizes VP8, emits each frame as soon as its last
// packet (marker bit) arrives, waits for a keyframe after any loss (asking
// for one), decodes, and keeps the latest frame as RGBA.
type videoReceiver struct {
	track *webrtc.TrackRemote
	pli   func()
	hook  VideoHook
	wait  func() time.Duration
	dec   *vp8.Decoder
	decMu sync.Mutex // decode and publish vs. close: the image is the decoder's

	frames  *frames.Latest
	decoded atomic.Int64
	bytes   atomic.Int64
	lastPLI time.Time
	firstAt atomic.Int64
	lastAt  atomic.Int64 // when the latest frame was decoded, Unix ns
	// delay: the time from a frame's first packet to its decoded picture,
	// summed over the frames decoded (for the mean in Stats).
	delaySum atomic.Int64 // nanoseconds
	delayN   atomic.Int64
}

// wait is how long a gap may wait for its retransmission (the NACK
// generator's repairWait).
func newVideoReceiver(t *webrtc.TrackRemote, pli func(), hook VideoHook, wait func() time.Duration) (*videoReceiver, error) {
	dec, err := vp8.NewDecoder()
	if err != nil {
		return nil, err
	}
	return &videoReceiver{track: t, pli: pli, hook: hook, wait: wait, dec: dec, frames: frames.New()}, nil
}

// RetransmitWait is the least time a gap in the video packets waits for a
// NACK retransmission before the frame is given up (and a keyframe asked
// for). On a LAN a retransmission takes NACKInterval plus a round trip; on
// a longer path the wait grows with the round trip (repairWait), up to
// MaxRetransmitWait, beyond which a keyframe is the better repair.
const (
	RetransmitWait    = 60 * time.Millisecond
	MaxRetransmitWait = 200 * time.Millisecond
)

// maxReorder is the largest forward jump in sequence numbers treated as
// loss; a larger one is a new stream: start over.
const maxReorder = 1000

type waiting struct {
	pkt *rtp.Packet
	at  time.Time
}

func (v *videoReceiver) run() {
	var (
		seq sequencer
		a   assembler
	)
	a.broken = true // nothing decodable until the first keyframe
	for {
		pkt, _, err := v.track.ReadRTP()
		if err != nil {
			return
		}
		now := time.Now()
		v.bytes.Add(int64(len(pkt.Payload)))
		for _, w := range seq.push(pkt, now, v.wait()) {
			if w.pkt == nil {
				a.lose()
				continue
			}
			frame, askKey := a.add(w.pkt, w.at)
			if frame == nil {
				if askKey {
					v.askKeyframe()
				}
				continue
			}
			if err := v.decode(frame); err != nil {
				a.broken = true
				v.askKeyframe()
				continue
			}
			a.broken = false
			v.delaySum.Add(int64(time.Since(a.startAt)))
			v.delayN.Add(1)
		}
	}
}

// sequencer puts packets back in sequence order: one that comes early is
// held until the gap before it is filled (a retransmission) or has waited
// long enough, and the gap is then given up.
type sequencer struct {
	started bool
	expect  uint16
	held    map[uint16]waiting
	out     []waiting
}

// push takes a packet as it arrives at now; it returns what is now in
// order, a nil packet standing for each one given up on (valid until the
// next push). wait is how long a gap may wait for its retransmission.
func (s *sequencer) push(pkt *rtp.Packet, now time.Time, wait time.Duration) []waiting {
	s.out = s.out[:0]
	if s.held == nil {
		s.held = map[uint16]waiting{}
	}
	if !s.started {
		s.started, s.expect = true, pkt.SequenceNumber
	}
	d := int16(pkt.SequenceNumber - s.expect)
	if d < 0 {
		return s.out // processed already, or given up on
	}
	if d > maxReorder {
		clear(s.held)
		s.expect = pkt.SequenceNumber
		s.out = append(s.out, waiting{})
	}
	s.held[pkt.SequenceNumber] = waiting{pkt, now}
	for len(s.held) > 0 {
		if w, ok := s.held[s.expect]; ok {
			delete(s.held, s.expect)
			s.expect++
			s.out = append(s.out, w)
			continue
		}
		oldest := now
		for _, w := range s.held {
			if w.at.Before(oldest) {
				oldest = w.at
			}
		}
		if now.Sub(oldest) < wait {
			break // wait for the retransmission
		}
		s.expect++
		s.out = append(s.out, waiting{})
	}
	return s.out
}

// assembler builds VP8 frames from packets in sequence order.
type assembler struct {
	frame   []byte
	ts      uint32
	inFrame bool
	broken  bool
	depack  codecs.VP8Packet
	startAt time.Time // when the frame's first packet arrived
}

// lose marks a missing packet: the frame being built is damaged, and every
// frame until the next keyframe may reference it.
func (a *assembler) lose() {
	a.broken, a.inFrame, a.frame = true, false, a.frame[:0]
}

// add takes the next packet in order. At a frame's last packet (the marker
// bit) it returns the frame to decode, valid until the next add; askKey
// says that a frame was complete but cannot be decoded (it follows a loss
// and is not a keyframe). The caller decodes, and sets broken when
// decoding fails, clears it when it works.
func (a *assembler) add(pkt *rtp.Packet, at time.Time) (frame []byte, askKey bool) {
	payload, err := a.depack.Unmarshal(pkt.Payload)
	if err != nil || len(payload) == 0 {
		return nil, false
	}
	if a.depack.S == 1 && a.depack.PID == 0 {
		a.inFrame, a.ts, a.frame, a.startAt = true, pkt.Timestamp, a.frame[:0], at
	} else if !a.inFrame || pkt.Timestamp != a.ts {
		a.inFrame = false
		return nil, false
	}
	if len(a.frame)+len(payload) > maxFrameBytes {
		a.inFrame, a.broken = false, true
		return nil, false
	}
	a.frame = append(a.frame, payload...)
	if !pkt.Marker {
		return nil, false
	}
	// The last packet of the frame: decode now, not when the next begins.
	a.inFrame = false
	keyframe := a.frame[0]&0x01 == 0
	if a.broken && !keyframe {
		return nil, true
	}
	return a.frame, false
}

func (v *videoReceiver) askKeyframe() {
	if now := time.Now(); now.Sub(v.lastPLI) >= PLIInterval {
		v.lastPLI = now
		v.pli()
	}
}

func (v *videoReceiver) decode(frame []byte) error {
	v.decMu.Lock()
	defer v.decMu.Unlock()
	y, err := v.dec.Decode(frame) // vp8.ErrClosed once closed
	if err != nil || y == nil {
		return err
	}
	// y is the decoder's buffer: the hook reads it and Publish copies it
	// before the lock lets the next frame or close at it.
	now := time.Now()
	if v.hook != nil {
		v.hook(y, now)
	}
	v.frames.Publish(y)
	v.decoded.Add(1)
	v.firstAt.CompareAndSwap(0, now.UnixNano())
	v.lastAt.Store(now.UnixNano())
	return nil
}

func (v *videoReceiver) close() {
	v.decMu.Lock()
	defer v.decMu.Unlock()
	v.dec.Close() // idempotent
}
