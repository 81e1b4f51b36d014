package recordtest

// source.go: the test call's encoded media, for whatever records it: the
// test picture (each stamped with its number) encoded as VP8, and a tone
// encoded as 20 ms Opus packets.

import (
	"image"
	"testing"
	"time"

	"github.com/hraban/opus"

	"github.com/parley-lab/parley/media/internal/vp8"
	"github.com/parley-lab/parley/media/testsrc"
)

// PacketDur is one Opus packet's length.
const PacketDur = 20 * time.Millisecond

// Source makes the test call's encoded media.
type Source struct {
	fps   int
	pic   *testsrc.Video
	img   *image.YCbCr
	enc   *vp8.Encoder
	opus  *opus.Encoder
	tone  *testsrc.Tone
	pcm   []int16
	pkt   []byte
	frame uint32
	// Sent holds the stamps of the pictures the encoder did not drop.
	Sent []uint32
}

// NewSource makes a source of w×h pictures at fps.
func NewSource(w, h, fps int) (*Source, error) {
	pic, err := testsrc.NewVideo(w, h, fps)
	if err != nil {
		return nil, err
	}
	enc, err := vp8.New(vp8.Settings{Width: w, Height: h, FPS: fps, Bitrate: 500_000, KeyframeInterval: 60})
	if err != nil {
		return nil, err
	}
	oe, err := opus.NewEncoder(48000, 1, opus.AppVoIP)
	if err != nil {
		enc.Close()
		return nil, err
	}
	return &Source{
		fps: fps, pic: pic, img: image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420),
		enc: enc, opus: oe, tone: testsrc.NewTone(440, 48000),
		pcm: make([]int16, 960), pkt: make([]byte, 1500),
	}, nil
}

// MustSource is NewSource for a test, closed when it ends.
func MustSource(t testing.TB, w, h, fps int) *Source {
	t.Helper()
	s, err := NewSource(w, h, fps)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// Close releases the encoder.
func (s *Source) Close() { s.enc.Close() }

// Video encodes the next test picture, stamped with its number; empty when
// the encoder dropped it. The buffer is the encoder's, valid until the next call.
func (s *Source) Video(at time.Time) []byte {
	s.pic.Render(s.img, s.frame, at)
	s.frame++
	data, _, err := s.enc.Encode(s.img, at, false)
	if err != nil {
		panic(err) // the encoder was made for this picture
	}
	if len(data) > 0 {
		s.Sent = append(s.Sent, s.frame-1)
	}
	return data
}

// Audio encodes the next 20 ms of the tone, into a buffer reused by the next call.
func (s *Source) Audio() []byte {
	s.tone.Fill(s.pcm)
	n, err := s.opus.Encode(s.pcm, s.pkt)
	if err != nil {
		panic(err) // a 20 ms mono frame at 48 kHz is always encodable
	}
	return s.pkt[:n]
}

// Sink takes encoded media (record.Writer, or a recording fed by a kit.Tap).
type Sink interface {
	Video(frame []byte, at time.Time)
	Audio(packet []byte, at time.Time)
}

// Feed writes d of the test call into w, starting at start, as fast as it
// can (the times are the call's, not the clock's); each frame goes through
// the source's reused buffers, as in the kit (a frame the encoder dropped
// comes empty, and a writer leaves it out).
func Feed(w Sink, s *Source, start time.Time, d time.Duration) {
	frameDur := time.Second / time.Duration(s.fps)
	var v, a time.Duration
	for v < d || a < d {
		if v <= a {
			w.Video(s.Video(start.Add(v)), start.Add(v))
			v += frameDur
		} else {
			w.Audio(s.Audio(), start.Add(a))
			a += PacketDur
		}
	}
}
