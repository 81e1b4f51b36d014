package frames

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/parley-lab/parley/media/testsrc"
)

var ratios = []image.YCbCrSubsampleRatio{
	image.YCbCrSubsampleRatio420, image.YCbCrSubsampleRatio422, image.YCbCrSubsampleRatio444,
	image.YCbCrSubsampleRatio440, image.YCbCrSubsampleRatio411, image.YCbCrSubsampleRatio410,
}

// noise is a frame of random samples: every clamp and rounding case shows.
func noise(r image.Rectangle, ratio image.YCbCrSubsampleRatio, seed uint64) *image.YCbCr {
	img := image.NewYCbCr(r, ratio)
	rng := rand.New(rand.NewPCG(seed, 1))
	for _, p := range [][]byte{img.Y, img.Cb, img.Cr} {
		for i := range p {
			p[i] = uint8(rng.UintN(256))
		}
	}
	return img
}

// mirrored flips an RGBA image left to right.
func mirrored(src *image.RGBA) *image.RGBA {
	b := src.Rect
	dst := image.NewRGBA(b)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			dst.SetRGBA(b.Max.X-1-(x-b.Min.X), y, src.RGBAAt(x, y))
		}
	}
	return dst
}

// maxDiff is the largest difference between two images' bytes.
func maxDiff(a, b *image.RGBA) int {
	if len(a.Pix) != len(b.Pix) {
		return 256
	}
	d := 0
	for i := range a.Pix {
		d = max(d, abs(int(a.Pix[i])-int(b.Pix[i])))
	}
	return d
}

func abs(v int) int { return max(v, -v) }

// At full size the colours are image/draw's, for every layout, odd sizes
// and sub-images included, mirrored or not: bit for bit where the Go code
// converts, within yuvTolerance where libyuv does (4:2:0 at even offsets).
func TestConvertFullSizeIsDrawDraw(t *testing.T) {
	sizes := []image.Rectangle{image.Rect(0, 0, 64, 48), image.Rect(0, 0, 33, 17), image.Rect(0, 0, 1, 1), image.Rect(0, 0, 2, 7)}
	for _, ratio := range ratios {
		for i, r := range sizes {
			for _, sub := range []bool{false, true} {
				src := noise(r, ratio, uint64(i))
				if sub && r.Dx() > 4 && r.Dy() > 4 {
					src = src.SubImage(image.Rect(2, 2, r.Dx()-1, r.Dy()-1)).(*image.YCbCr)
				}
				tolerance := 0
				if ratio == image.YCbCrSubsampleRatio420 {
					tolerance = yuvTolerance
				}
				want := image.NewRGBA(image.Rectangle{Max: src.Rect.Size()})
				draw.Draw(want, want.Rect, src, src.Rect.Min, draw.Src)
				for _, mirror := range []bool{false, true} {
					got := image.NewRGBA(want.Rect)
					Convert(got, src, 1, mirror)
					w := want
					if mirror {
						w = mirrored(want)
					}
					if d := maxDiff(got, w); d > tolerance {
						t.Errorf("%v %v (rect %v) mirror %v: a channel %d from draw.Draw's", ratio, r.Size(), src.Rect, mirror, d)
					}
				}
			}
		}
	}
}

// libyuv's conversions, shrunk and mirrored too, are the block-by-block
// reference's within yuvTolerance, and an odd-sized source is cropped as
// the reference crops it.
func TestConvertLibyuvMatchesReference(t *testing.T) {
	for i, r := range []image.Rectangle{image.Rect(0, 0, 64, 48), image.Rect(0, 0, 37, 21), image.Rect(0, 0, 4, 2), image.Rect(0, 0, 9, 5)} {
		src := noise(r, image.YCbCrSubsampleRatio420, uint64(10+i))
		for _, k := range []int{1, 2, 4} {
			for _, mirror := range []bool{false, true} {
				size := ShrunkSize(r.Size(), k)
				if size.X == 0 || size.Y == 0 {
					continue
				}
				got, want := image.NewRGBA(image.Rectangle{Max: size}), image.NewRGBA(image.Rectangle{Max: size})
				if !convert420(got, src, k, mirror) {
					t.Fatalf("%v k %d: libyuv refused", r.Size(), k)
				}
				convertBlocks(want, src, k, mirror, 0, size.Y, size.X)
				if d := maxDiff(got, want); d > yuvTolerance {
					t.Errorf("%v k %d mirror %v: a channel %d from the reference's", r.Size(), k, mirror, d)
				}
			}
		}
	}
}

// Sizes libyuv would read or write past are refused, not converted.
func TestConvertLibyuvRefusesWrongSizes(t *testing.T) {
	src := noise(image.Rect(0, 0, 64, 48), image.YCbCrSubsampleRatio420, 1)
	if convert420(image.NewRGBA(image.Rect(0, 0, 63, 48)), src, 1, false) {
		t.Error("converted into a destination one pixel too narrow")
	}
	if convert420(image.NewRGBA(image.Rect(0, 0, 32, 23)), src, 2, true) {
		t.Error("converted into a destination one row too short")
	}
	short := *src
	short.Y = short.Y[:len(short.Y)-1]
	if convert420(image.NewRGBA(image.Rect(0, 0, 64, 48)), &short, 1, false) {
		t.Error("converted a source whose Y plane is a byte short")
	}
}

// A half-size pixel is the mean of the block it covers.
func TestConvertHalfSizeIsTheBlockMean(t *testing.T) {
	src := image.NewYCbCr(image.Rect(0, 0, 4, 2), image.YCbCrSubsampleRatio420)
	copy(src.Y, []byte{100, 102, 200, 200, 104, 106, 0, 0})
	for i := range src.Cb {
		src.Cb[i], src.Cr[i] = 128, 128
	}
	dst := image.NewRGBA(image.Rect(0, 0, 2, 1))
	Convert(dst, src, 2, false)
	if a, b := dst.RGBAAt(0, 0), dst.RGBAAt(1, 0); a != (color.RGBA{103, 103, 103, 255}) || b != (color.RGBA{100, 100, 100, 255}) {
		t.Errorf("half size: %v %v, want grey 103 and 100", a, b)
	}
	Convert(dst, src, 2, true)
	if a := dst.RGBAAt(1, 0); a.R != 103 {
		t.Errorf("mirrored half size: %v at the right, want grey 103", a)
	}
}

func TestShrink(t *testing.T) {
	vga := image.Pt(640, 480)
	for _, c := range []struct {
		frame, fit image.Point
		want       int
	}{
		{vga, image.Point{}, 1},       // box unknown
		{vga, image.Pt(600, 450), 1},  // the partner in a 960x540 window
		{vga, image.Pt(1200, 900), 1}, // upscaled
		{vga, image.Pt(320, 240), 2},  // exactly half
		{vga, image.Pt(321, 241), 1},  // a pixel more than half
		{vga, image.Pt(190, 140), 2},  // a self-view: 320x240 still covers it
		{vga, image.Pt(1000, 200), 2}, // wide box: the height decides (200 of 240)
		{vga, image.Pt(100, 1000), 4}, // tall box: the width decides
		{vga, image.Pt(10, 10), 4},    // never more than MaxShrink
		{image.Pt(0, 0), vga, 1},      // no frame
		{image.Pt(1280, 720), image.Pt(480, 270), 2},
	} {
		if got := Shrink(c.frame, c.fit); got != c.want {
			t.Errorf("Shrink(%v, %v) = %d, want %d", c.frame, c.fit, got, c.want)
		}
	}
}

// Render picks the size from the view and mirrors for a self-view.
func TestRenderFitsTheView(t *testing.T) {
	l := New()
	src := noise(image.Rect(0, 0, 640, 480), image.YCbCrSubsampleRatio420, 7)
	l.Publish(src)
	img, seq := l.Render(nil, 0, View{Mirror: true, Fit: image.Pt(200, 150)})
	if seq != 1 || img == nil || img.Rect.Size() != image.Pt(320, 240) {
		t.Fatalf("self-view render: %v %d", img, seq)
	}
	want := image.NewRGBA(img.Rect)
	Convert(want, src, 2, true)
	if !bytes.Equal(img.Pix, want.Pix) {
		t.Error("self-view render is not the mirrored half-size conversion")
	}
	// The view grew: the same frame number is not converted again, the next one is, at full size.
	if again, _ := l.Render(img, 1, full); again != nil {
		t.Error("converted a frame already seen")
	}
	l.Publish(src)
	if big, _ := l.Render(img, 1, View{Fit: image.Pt(1280, 960)}); big == img || big.Rect.Size() != image.Pt(640, 480) {
		t.Errorf("full-size render: %v", big.Rect)
	}
}

func TestConvertRGBA(t *testing.T) {
	src := image.NewRGBA(image.Rect(0, 0, 4, 2))
	for i := range src.Pix {
		src.Pix[i] = uint8(10 * i)
	}
	dst := image.NewRGBA(image.Rect(0, 0, 4, 2))
	ConvertRGBA(dst, src, 1, false)
	if !bytes.Equal(dst.Pix, src.Pix) {
		t.Error("plain copy wrong")
	}
	ConvertRGBA(dst, src, 1, true)
	if !bytes.Equal(dst.Pix, mirrored(src).Pix) {
		t.Error("mirror wrong")
	}
	half := image.NewRGBA(image.Rect(0, 0, 2, 1))
	ConvertRGBA(half, src, 2, false)
	// Pixel 0 of the half image is the mean of source pixels (0,0) (1,0) (0,1) (1,1):
	// bytes 0, 4, 16, 20 of the red channel, times 10.
	if got := half.Pix[0]; got != 100 {
		t.Errorf("half-size red %d, want 100", got)
	}
	// A sub-image source (stride larger than the width) copies right too.
	sub := src.SubImage(image.Rect(2, 0, 4, 2)).(*image.RGBA)
	two := image.NewRGBA(image.Rect(0, 0, 2, 2))
	ConvertRGBA(two, sub, 1, false)
	if two.RGBAAt(0, 1) != src.RGBAAt(2, 1) {
		t.Error("sub-image copy wrong")
	}
}

// go test -bench Convert ./media/frames: the kiosk converts each partner
// frame at full size and each self-view frame at a half or a quarter. "camera" is the
// test camera's picture, "noise" the worst case for branches.
func BenchmarkConvert(b *testing.B) {
	cam, err := testsrc.NewVideo(640, 480, 30)
	if err != nil {
		b.Fatal(err)
	}
	camera := image.NewYCbCr(image.Rect(0, 0, 640, 480), image.YCbCrSubsampleRatio420)
	cam.Render(camera, 1, time.Now())
	for _, in := range []struct {
		name string
		src  *image.YCbCr
	}{{"camera", camera}, {"noise", noise(camera.Rect, image.YCbCrSubsampleRatio420, 3)}} {
		src := in.src
		for _, k := range []int{1, 2, 4} {
			for _, mirror := range []bool{false, true} {
				dst := image.NewRGBA(image.Rectangle{Max: ShrunkSize(src.Rect.Size(), k)})
				b.Run(fmt.Sprintf("%s/k%d/mirror=%v", in.name, k, mirror), func(b *testing.B) {
					for b.Loop() {
						Convert(dst, src, k, mirror)
					}
				})
			}
		}
		dst := image.NewRGBA(src.Rect)
		b.Run(in.name+"/draw.Draw", func(b *testing.B) {
			for b.Loop() {
				draw.Draw(dst, dst.Rect, src, image.Point{}, draw.Src)
			}
		})
	}
}
