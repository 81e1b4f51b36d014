package rtc

import (
	"errors"
	"image"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/mediadevices/pkg/codec"
	"github.com/pion/mediadevices/pkg/codec/vpx"
	"github.com/pion/mediadevices/pkg/prop"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"

	"github.com/parley-lab/parley/media/frames"
)

// VideoHook sees each decoded partner frame before it is converted for
// display: the self-test reads the frame stamps here.
type VideoHook func(img *image.YCbCr, decoded time.Time)

// maxFrameBytes bounds one assembled VP8 frame (a 1080p keyframe at high
// quality is well below).
const maxFrameBytes = 4 << 20

var errNoFrame = errors.New("no frame pending")

// oneFrame feeds the libvpx decoder exactly one whole frame per Read.
type oneFrame struct{ buf []byte }

func (o *oneFrame) Read(p []byte) (int, error) {
	if o.buf == nil {
		return 0, errNoFrame
	}
	n := copy(p, o.buf)
	o.buf = nil
	return n, nil
}

// videoReceiver depacketizes VP8, emits each frame as soon as its last
// packet (marker bit) arrives, waits for a keyframe after any loss (asking
// for one), decodes, and keeps the latest frame as RGBA.
type videoReceiver struct {
	track    *webrtc.TrackRemote
	pli      func()
	hook     VideoHook
	in       *oneFrame
	dec      codec.VideoDecoder
	decMu    sync.Mutex
	decClose bool

	frames    *frames.Latest
	decoded   atomic.Int64
	bytes     atomic.Int64
	lost      atomic.Int64
	lastPLI   time.Time
	lastDecAt atomic.Int64
}

func newVideoReceiver(t *webrtc.TrackRemote, pli func(), hook VideoHook) (*videoReceiver, error) {
	in := &oneFrame{}
	dec, err := vpx.NewDecoder(in, prop.Media{})
	if err != nil {
		return nil, err
	}
	return &videoReceiver{track: t, pli: pli, hook: hook, in: in, dec: dec, frames: frames.New()}, nil
}

func (v *videoReceiver) run() {
	var (
		frame   []byte
		haveSeq bool
		lastSeq uint16
		frameTS uint32
		inFrame bool
		broken  = true // nothing decodable until the first keyframe
		depack  codecs.VP8Packet
	)
	for {
		pkt, _, err := v.track.ReadRTP()
		if err != nil {
			return
		}
		v.bytes.Add(int64(len(pkt.Payload)))
		if haveSeq && pkt.SequenceNumber != lastSeq+1 {
			gap := int64(pkt.SequenceNumber - lastSeq - 1)
			if gap > 0 && gap < 1000 {
				v.lost.Add(gap)
			}
			// Something is missing: the frame being built is damaged, and
			// every frame until the next keyframe may reference it.
			broken, inFrame, frame = true, false, frame[:0]
		}
		haveSeq, lastSeq = true, pkt.SequenceNumber
		payload, err := depack.Unmarshal(pkt.Payload)
		if err != nil || len(payload) == 0 {
			continue
		}
		if depack.S == 1 && depack.PID == 0 {
			if inFrame && pkt.Timestamp == frameTS {
				// a second start in one frame: malformed; start over
				frame = frame[:0]
			}
			inFrame, frameTS, frame = true, pkt.Timestamp, frame[:0]
		} else if !inFrame || pkt.Timestamp != frameTS {
			inFrame = false
			continue
		}
		if len(frame)+len(payload) > maxFrameBytes {
			inFrame, broken = false, true
			continue
		}
		frame = append(frame, payload...)
		if !pkt.Marker {
			continue
		}
		inFrame = false
		keyframe := len(frame) > 0 && frame[0]&0x01 == 0
		if broken && !keyframe {
			v.askKeyframe()
			continue
		}
		if err := v.decode(frame); err != nil {
			broken = true
			v.askKeyframe()
			continue
		}
		broken = false
	}
}

func (v *videoReceiver) askKeyframe() {
	if now := time.Now(); now.Sub(v.lastPLI) >= PLIInterval {
		v.lastPLI = now
		v.pli()
	}
}

func (v *videoReceiver) decode(frame []byte) error {
	v.decMu.Lock()
	if v.decClose {
		v.decMu.Unlock()
		return errNoFrame
	}
	v.in.buf = frame
	img, release, err := v.dec.Read()
	v.in.buf = nil
	v.decMu.Unlock()
	if err != nil {
		return err
	}
	defer release()
	y, ok := img.(*image.YCbCr)
	if !ok {
		return errors.New("decoder returned a non-YCbCr image")
	}
	now := time.Now()
	if v.hook != nil {
		v.hook(y, now)
	}
	v.frames.Publish(y)
	v.decoded.Add(1)
	v.lastDecAt.Store(now.UnixNano())
	return nil
}

func (v *videoReceiver) close() {
	v.decMu.Lock()
	defer v.decMu.Unlock()
	if !v.decClose {
		v.decClose = true
		v.dec.Close() // not idempotent: guarded
	}
}
