package vp8

import (
	"errors"
	"image"
	"testing"
	"time"

	"github.com/parley-lab/parley/media/testsrc"
)

// Frames encoded here decode and keep their stamps; a forced keyframe is
// one.
func TestEncodeDecodeKeepsStamps(t *testing.T) {
	const w, h = 640, 480
	enc, err := New(Settings{Width: w, Height: h, FPS: 30, Bitrate: 1_000_000})
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	dec, err := NewDecoder()
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
		out, err := dec.Decode(frame)
		if err != nil || out == nil {
			t.Fatalf("frame %d does not decode: %v", n, err)
		}
		if out.Rect != img.Rect || out.SubsampleRatio != image.YCbCrSubsampleRatio420 {
			t.Fatalf("frame %d decoded as %v %v", n, out.Rect, out.SubsampleRatio)
		}
		s, ok := testsrc.ReadStamp(out, at)
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
	dec.Close()
	dec.Close()
	if _, err := dec.Decode([]byte{1}); !errors.Is(err, ErrClosed) {
		t.Fatalf("decode after close: %v", err)
	}
}

// encoded returns n frames of the test picture, the first a keyframe.
func encoded(t testing.TB, n, w, h, bitrate int) [][]byte {
	enc, err := New(Settings{Width: w, Height: h, FPS: 30, Bitrate: bitrate})
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	src, _ := testsrc.NewVideo(w, h, 30)
	img := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
	var out [][]byte
	for i := range n {
		src.Render(img, uint32(i), time.Now())
		f, _, err := enc.Encode(img, time.Now(), false)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, append([]byte(nil), f...))
	}
	return out
}

// A damaged or foreign frame is an error, never a crash, and the decoder
// recovers at the next keyframe.
func TestDecodeBadInput(t *testing.T) {
	frames := encoded(t, 3, 352, 288, 300_000)
	dec, err := NewDecoder()
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	if _, err := dec.Decode(nil); !errors.Is(err, ErrDecode) {
		t.Errorf("empty frame: %v", err)
	}
	if _, err := dec.Decode([]byte("not a VP8 frame at all")); !errors.Is(err, ErrDecode) {
		t.Errorf("garbage: %v", err)
	}
	if img, err := dec.Decode(frames[0]); err != nil || img == nil {
		t.Fatalf("keyframe after garbage: %v", err)
	}
}

// FuzzDecode feeds libvpx whatever the network could carry: a keyframe
// first (so delta frames reach the inter-frame paths), then the input.
func FuzzDecode(f *testing.F) {
	frames := encoded(f, 3, 352, 288, 300_000)
	for _, fr := range frames {
		f.Add(fr)
	}
	f.Add(frames[1][:len(frames[1])/2])
	f.Fuzz(func(t *testing.T, b []byte) {
		dec, err := NewDecoder()
		if err != nil {
			t.Fatal(err)
		}
		defer dec.Close()
		if _, err := dec.Decode(frames[0]); err != nil {
			t.Fatal(err)
		}
		img, err := dec.Decode(b)
		if err != nil {
			if !errors.Is(err, ErrDecode) {
				t.Fatalf("error %v is not ErrDecode", err)
			}
			return
		}
		if img != nil {
			// Every sample of the image is readable.
			r := img.Rect
			_ = img.Y[img.YOffset(r.Max.X-1, r.Max.Y-1)]
			_ = img.Cr[img.COffset(r.Max.X-1, r.Max.Y-1)]
		}
	})
}

// BenchmarkDecode640x480 is the per-frame cost of decoding the test
// picture at 1 Mb/s (the frames repeat: after the first pass they decode
// against the wrong references, at the same cost).
func BenchmarkDecode640x480(b *testing.B) {
	frames := encoded(b, 31, 640, 480, 1_000_000)
	dec, err := NewDecoder()
	if err != nil {
		b.Fatal(err)
	}
	defer dec.Close()
	dec.Decode(frames[0])
	i := 1
	for b.Loop() {
		if _, err := dec.Decode(frames[i]); err != nil {
			b.Fatal(err)
		}
		if i++; i == len(frames) {
			i = 1
		}
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

// A lower target set mid-stream makes the following frames smaller
// without a keyframe; a target below MinBitrate is refused.
func TestSetBitrateLowersTheRate(t *testing.T) {
	const w, h, fps = 640, 480, 30
	enc, err := New(Settings{Width: w, Height: h, FPS: fps, Bitrate: 1_000_000})
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	src, _ := testsrc.NewVideo(w, h, fps)
	img := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
	t0 := time.Now()
	n := 0
	// bytes encodes two seconds and returns the size of the second one
	// (the first lets the rate control settle).
	bytes := func() (total int) {
		for i := range 2 * fps {
			at := t0.Add(time.Duration(n) * time.Second / fps)
			src.Render(img, uint32(n), at)
			f, key, err := enc.Encode(img, at, false)
			if err != nil {
				t.Fatal(err)
			}
			if key && n > 0 { // (an empty f is a skipped frame: fine at a low rate)
				t.Fatalf("frame %d is a keyframe after a bitrate change", n)
			}
			if i >= fps {
				total += len(f)
			}
			n++
		}
		return total
	}
	high := bytes()
	if err := enc.SetBitrate(200_000); err != nil {
		t.Fatal(err)
	}
	if enc.Bitrate() != 200_000 {
		t.Fatalf("Bitrate() %d after SetBitrate(200000)", enc.Bitrate())
	}
	bytes() // libvpx's rate buffer (1 s) drains toward the new target
	low := bytes()
	t.Logf("1 s at 1 Mb/s: %d bytes; at 200 kb/s: %d bytes", high, low)
	if low*8 > 250_000 || low*2 > high {
		t.Fatalf("1 s at 200 kb/s took %d bytes (%d at 1 Mb/s)", low, high)
	}
	if err := enc.SetBitrate(MinBitrate - 1); !errors.Is(err, ErrSettings) {
		t.Fatalf("bitrate below the minimum: %v", err)
	}
}
