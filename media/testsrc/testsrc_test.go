package testsrc

import (
	"image"
	"image/color"
	"math"
	"testing"
	"time"
)

func TestStampRoundTrip(t *testing.T) {
	v, err := NewVideo(640, 480, 30)
	if err != nil {
		t.Fatal(err)
	}
	img := image.NewYCbCr(image.Rect(0, 0, 640, 480), image.YCbCrSubsampleRatio420)
	now := time.Date(2026, 11, 22, 12, 0, 0, 123456000, time.UTC)
	for _, n := range []uint32{0, 1, 1234567, math.MaxUint32} {
		v.Render(img, n, now)
		s, ok := ReadStamp(img, now.Add(50*time.Millisecond))
		if !ok || s.Frame != n || !s.Captured.Equal(now) {
			t.Fatalf("frame %d: read %+v %v", n, s, ok)
		}
		// The same through RGBA, as the UI gets it.
		rgba := image.NewRGBA(img.Bounds())
		for y := 0; y < StampHeight; y++ {
			for x := 0; x < StampWidth; x++ {
				rgba.Set(x, y, img.At(x, y))
			}
		}
		if s2, ok := ReadStamp(rgba, now); !ok || s2 != s {
			t.Fatalf("RGBA: %+v %v", s2, ok)
		}
	}
	// A frame with no stamp is rejected.
	blank := image.NewRGBA(image.Rect(0, 0, 640, 480))
	for i := range blank.Pix {
		blank.Pix[i] = 200
	}
	if _, ok := ReadStamp(blank, now); ok {
		t.Fatal("stamp read from a blank frame")
	}
	// One flipped block breaks the checksum or the sync.
	v.Render(img, 77, now)
	for y := 0; y < 8; y++ {
		for x := 20 * 8; x < 21*8; x++ { // block 20 of the first row
			img.Y[y*img.YStride+x] ^= 0xff
		}
	}
	if s, ok := ReadStamp(img, now); ok && s.Frame == 77 {
		t.Fatalf("damaged stamp accepted: %+v", s)
	}
	if _, err := NewVideo(100, 100, 30); err == nil {
		t.Fatal("too small a frame accepted")
	}
}

func TestRenderMovesAndMuteIsBlack(t *testing.T) {
	v, _ := NewVideo(320*2, 240, 30)
	a := image.NewYCbCr(image.Rect(0, 0, 640, 240), image.YCbCrSubsampleRatio420)
	b := image.NewYCbCr(image.Rect(0, 0, 640, 240), image.YCbCrSubsampleRatio420)
	v.Render(a, 1, time.Now())
	v.Render(b, 10, time.Now())
	diff := 0
	for i := 8 * a.YStride; i < len(a.Y); i++ {
		if a.Y[i] != b.Y[i] {
			diff++
		}
	}
	if diff < len(a.Y)/10 {
		t.Fatalf("only %d of %d pixels changed in 9 frames", diff, len(a.Y))
	}
	v.SetMuted(true)
	v.Render(a, 11, time.Now())
	if a.At(320, 120) != (color.YCbCr{Y: 16, Cb: 128, Cr: 128}) {
		t.Fatalf("muted frame not black: %v", a.At(320, 120))
	}
}

func TestToneDetection(t *testing.T) {
	a := NewTone(440, 48000)
	pcm := make([]int16, 960)
	a.Fill(pcm)
	if !Dominant(pcm, 440, 48000) {
		t.Fatal("440 Hz not found in a 440 Hz tone")
	}
	if Dominant(pcm, 660, 48000) {
		t.Fatal("660 Hz found in a 440 Hz tone")
	}
	if Dominant(make([]int16, 960), 440, 48000) {
		t.Fatal("tone found in silence")
	}
	if l := Level(pcm); l < 0.2 || l > 0.23 {
		t.Fatalf("level of a 0.3 sine = %v", l)
	}
}

// FuzzReadStamp: any picture is safe to read, and what reads as a stamp has
// a consistent checksum (re-rendering it reads the same).
func FuzzReadStamp(f *testing.F) {
	v, _ := NewVideo(StampWidth, StampHeight*4, 30)
	img := image.NewYCbCr(image.Rect(0, 0, StampWidth, StampHeight*4), image.YCbCrSubsampleRatio420)
	v.Render(img, 42, time.Unix(1795000000, 0))
	f.Add(img.Y[:StampWidth*StampHeight], uint16(StampWidth))
	f.Add([]byte{1, 2, 3}, uint16(1))
	f.Fuzz(func(t *testing.T, pix []byte, w uint16) {
		if w == 0 || int(w) > len(pix) || len(pix) > 1<<20 {
			return
		}
		h := len(pix) / int(w)
		g := &image.Gray{Pix: pix[:int(w)*h], Stride: int(w), Rect: image.Rect(0, 0, int(w), h)}
		s, ok := ReadStamp(g, time.Unix(1795000000, 0))
		if !ok {
			return
		}
		out := image.NewYCbCr(image.Rect(0, 0, StampWidth, StampHeight*4), image.YCbCrSubsampleRatio420)
		writeStamp(out, s)
		s2, ok := ReadStamp(out, time.Unix(1795000000, 0))
		if !ok || s2 != s {
			t.Fatalf("stamp %+v does not survive a rewrite: %+v %v", s, s2, ok)
		}
	})
}

// The picture, pixel by pixel, as Render documents it.
func TestRenderIsThePicture(t *testing.T) {
	for _, size := range []image.Point{{640, 480}, {352, 64}} {
		v, err := NewVideo(size.X, size.Y, 30)
		if err != nil {
			t.Fatal(err)
		}
		img := image.NewYCbCr(image.Rectangle{Max: size}, image.YCbCrSubsampleRatio420)
		for _, n := range []uint32{0, 1, 17, 250, 1001} {
			v.Render(img, n, time.Now())
			phase := float64(n) / 30
			w, h := float64(size.X), float64(size.Y)
			cx, cy := w/2+w/4*math.Cos(phase*1.3), h/2+h/4*math.Sin(phase*1.3)
			r2 := h * h / 36
			shift := int(n * 2)
			for y := StampHeight; y < size.Y; y++ { // below the stamp
				for x := 0; x < size.X; x++ {
					l := 40 + (x+y+shift)%400/3
					dx, dy := float64(x)-cx, float64(y)-cy
					if d := dx*dx + dy*dy; d < r2 {
						l += int(90 * (1 - d/r2))
					}
					if got := img.Y[img.YOffset(x, y)]; got != uint8(min(l, 235)) {
						t.Fatalf("%v frame %d: Y at (%d,%d) = %d, want %d", size, n, x, y, got, min(l, 235))
					}
				}
			}
			for y := StampHeight / 2; y < size.Y/2; y++ {
				for x := 0; x < size.X/2; x++ {
					i := img.COffset(2*x, 2*y)
					if cb, cr := img.Cb[i], img.Cr[i]; cb != uint8(100+(x+shift/2)%56) || cr != uint8(130+(y+shift/3)%40) {
						t.Fatalf("%v frame %d: chroma at (%d,%d) = %d,%d", size, n, x, y, cb, cr)
					}
				}
			}
		}
	}
}

// go test -bench Render ./media/testsrc: the test camera's cost per frame.
func BenchmarkRender(b *testing.B) {
	v, _ := NewVideo(640, 480, 30)
	img := image.NewYCbCr(image.Rect(0, 0, 640, 480), image.YCbCrSubsampleRatio420)
	n := uint32(0)
	for b.Loop() {
		v.Render(img, n, time.Now())
		n++
	}
}
