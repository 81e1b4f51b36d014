package frames

import (
	"image"
	"sync"
	"testing"
)

var full = View{}

func TestRenderNeverWritesAHeldFrame(t *testing.T) {
	l := New()
	if img, seq := l.Render(nil, 0, full); img != nil || seq != 0 {
		t.Fatal("frame before any was published")
	}
	src := image.NewYCbCr(image.Rect(0, 0, 64, 48), image.YCbCrSubsampleRatio420)
	for i := range src.Cb {
		src.Cb[i], src.Cr[i] = 128, 128
	}
	l.Publish(src)
	held, seq := l.Render(nil, 0, full)
	if seq != 1 || held == nil {
		t.Fatalf("seq %d", seq)
	}
	before := held.RGBAAt(10, 10)
	// Many frames later the held image is unchanged: only Render writes it.
	for i := range src.Y {
		src.Y[i] = 250
	}
	for range 10 {
		l.Publish(src)
	}
	if held.RGBAAt(10, 10) != before {
		t.Fatal("the held frame was overwritten")
	}
	img, seq := l.Render(nil, 1, full)
	if seq != 11 || img == nil || img.RGBAAt(10, 10) == before {
		t.Fatalf("newest frame: seq %d %v", seq, img.RGBAAt(10, 10))
	}
	if c := img.RGBAAt(10, 10); c.R < 240 {
		t.Fatalf("converted colour %v", c)
	}
}

func TestLatestConcurrent(t *testing.T) {
	l := New()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		img := image.NewYCbCr(image.Rect(0, 0, 32, 32), image.YCbCrSubsampleRatio420)
		for i := range 200 {
			img.Y[0] = uint8(i)
			l.Publish(img)
		}
	}()
	go func() {
		defer wg.Done()
		last := uint64(0)
		for range 200 {
			if _, seq := l.Render(nil, last, full); seq < last {
				t.Errorf("sequence went back: %d after %d", seq, last)
			} else {
				last = seq
			}
		}
	}()
	wg.Wait()
}

// Publishing is a copy: the producer may reuse its image at once.
func TestPublishCopies(t *testing.T) {
	l := New()
	src := image.NewYCbCr(image.Rect(0, 0, 16, 16), image.YCbCrSubsampleRatio420)
	for i := range src.Cb {
		src.Cb[i], src.Cr[i] = 128, 128
	}
	src.Y[0] = 200
	l.Publish(src)
	src.Y[0] = 10 // the producer reuses its buffer
	img, _ := l.Render(nil, 0, full)
	if c := img.RGBAAt(0, 0); c.R < 190 {
		t.Fatalf("published frame changed with the producer's buffer: %v", c)
	}
	// No new frame: nothing to convert.
	if again, seq := l.Render(img, 1, full); again != nil || seq != 1 {
		t.Fatalf("Render without a new frame: %p %d", again, seq)
	}
	// A new frame goes into the renderer's own image when its size fits.
	l.Publish(src)
	if again, seq := l.Render(img, 1, full); again != img || seq != 2 || img.RGBAAt(0, 0).R > 20 {
		t.Fatalf("Render into the given image: %p (want %p) %d", again, img, seq)
	}
}
