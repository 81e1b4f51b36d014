package frames

import (
	"image"
	"sync"
	"testing"
)

func TestLatestNeverWritesAHeldFrame(t *testing.T) {
	l := New()
	if img, seq := l.Latest(); img != nil || seq != 0 {
		t.Fatal("frame before any was published")
	}
	src := image.NewYCbCr(image.Rect(0, 0, 64, 48), image.YCbCrSubsampleRatio420)
	for i := range src.Cb {
		src.Cb[i], src.Cr[i] = 128, 128
	}
	l.Publish(src)
	held, seq := l.Latest()
	if seq != 1 || held == nil {
		t.Fatalf("seq %d", seq)
	}
	before := held.RGBAAt(10, 10)
	// Many frames later the held image is unchanged until Latest is called again.
	for i := range src.Y {
		src.Y[i] = 250
	}
	for range 10 {
		l.Publish(src)
	}
	if held.RGBAAt(10, 10) != before {
		t.Fatal("the held frame was overwritten")
	}
	img, seq := l.Latest()
	if seq != 11 || img.RGBAAt(10, 10) == before {
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
			if _, seq := l.Latest(); seq < last {
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
	img, _ := l.Latest()
	if c := img.RGBAAt(0, 0); c.R < 190 {
		t.Fatalf("published frame changed with the producer's buffer: %v", c)
	}
	// No new frame: the same image again, no conversion.
	again, seq := l.Latest()
	if again != img || seq != 1 {
		t.Fatalf("Latest without a new frame: %p %d", again, seq)
	}
}
