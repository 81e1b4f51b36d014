package vp8

import (
	"errors"
	"image"
	"testing"
	"time"

	"github.com/pion/mediadevices/pkg/codec/vpx"
	"github.com/pion/mediadevices/pkg/prop"

	"github.com/parley-lab/parley/media/testsrc"
)

type one struct{ b []byte }

func (o *one) Read(p []byte) (int, error) {
	if o.b == nil {
		return 0, errors.New("no frame")
	}
	n := copy(p, o.b)
	o.b = nil
	return n, nil
}

// Frames encoded here decode with libvpx's decoder and keep their stamps;
// a forced keyframe is one.
func TestEncodeDecodeKeepsStamps(t *testing.T) {
	const w, h = 640, 480
	enc, err := New(Settings{Width: w, Height: h, FPS: 30, Bitrate: 1_000_000})
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	in := &one{}
	dec, err := vpx.NewDecoder(in, prop.Media{})
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	src, _ := testsrc.NewVideo(w, h, 30)
	img := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
	t0 := time.Now()
	var total int
	for n := range 60 {
		at := t0.Add(time.Duration(n) * time.Second / 30)
		src.Render(img, uint32(n), at)
		frame, key, err := enc.Encode(img, at, n == 40)
		if err != nil {
			t.Fatal(err)
		}
		if (n == 0 || n == 40) != key {
			t.Fatalf("frame %d: keyframe %v", n, key)
		}
		total += len(frame)
		in.b = frame
		out, release, err := dec.Read()
		if err != nil {
			t.Fatalf("frame %d does not decode: %v", n, err)
		}
		s, ok := testsrc.ReadStamp(out, at)
		release()
		if !ok || s.Frame != uint32(n) {
			t.Fatalf("frame %d: stamp %+v %v", n, s, ok)
		}
	}
	// 2 s at 1 Mb/s is about 250 kB; CBR may overshoot a little at the start.
	if total < 50_000 || total > 600_000 {
		t.Fatalf("2 s of video took %d bytes at 1 Mb/s", total)
	}
	if _, _, err := enc.Encode(image.NewYCbCr(image.Rect(0, 0, 320, 240), image.YCbCrSubsampleRatio420), t0, false); !errors.Is(err, ErrSize) {
		t.Fatalf("wrong size: %v", err)
	}
	if _, err := New(Settings{Width: 641, Height: 480, FPS: 30, Bitrate: 1}); !errors.Is(err, ErrSettings) {
		t.Fatalf("odd width: %v", err)
	}
}

// BenchmarkEncode640x480 is the per-frame cost of the test picture at the
// default speed (compare: mediadevices' encoder at speed 0, about 10 ms).
func BenchmarkEncode640x480(b *testing.B) {
	enc, err := New(Settings{Width: 640, Height: 480, FPS: 30, Bitrate: 1_000_000})
	if err != nil {
		b.Fatal(err)
	}
	defer enc.Close()
	src, _ := testsrc.NewVideo(640, 480, 30)
	imgs := make([]*image.YCbCr, 30)
	t0 := time.Now()
	for i := range imgs {
		imgs[i] = image.NewYCbCr(image.Rect(0, 0, 640, 480), image.YCbCrSubsampleRatio420)
		src.Render(imgs[i], uint32(i), t0)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, _, err := enc.Encode(imgs[i%30], t0.Add(time.Duration(i)*33*time.Millisecond), false); err != nil {
			b.Fatal(err)
		}
	}
}
