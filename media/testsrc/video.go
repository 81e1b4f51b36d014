// Package testsrc makes the test sources that stand in for a camera and a
// microphone: a video of smooth moving content (cheap to encode, like a
// face) with a machine-readable stamp in every frame, and a sine tone. The
// receiving side reads the stamp back (ReadStamp) to measure latency and
// order, and listens for the partner's tone (Tone) to tell it hears the
// partner and not itself.
package testsrc

import (
	"errors"
	"image"
	"math"
	"sync"
	"time"
)

// Stamp layout: stampRows rows of blocks of stampBlock x stampBlock pixels
// at the top left, black for 0 and white for 1, with a fixed sync pattern
// and a checksum so a damaged or absent stamp is rejected.
const (
	stampBlock = 8
	syncBits   = 8
	frameBits  = 32
	timeBits   = 40 // capture time, unix microseconds mod 2^40 (about 12.7 days)
	sumBits    = 8
	stampBits  = syncBits + frameBits + timeBits + sumBits
	stampRows  = 2
	perRow     = stampBits / stampRows
	syncWord   = 0b10110010
	// StampWidth and StampHeight are the pixels the stamp needs.
	StampWidth  = perRow * stampBlock
	StampHeight = stampRows * stampBlock
	timeMask    = 1<<timeBits - 1
)

// ErrTooSmall is returned for a frame size that cannot hold the stamp.
var ErrTooSmall = errors.New("frame too small for the test stamp")

// Stamp is what each test frame carries.
type Stamp struct {
	Frame uint32
	// Captured is the capture time, exact to the microsecond, within about
	// 12 days of the reader's clock (the stamp keeps 40 bits).
	Captured time.Time
}

// Video is a test video source. Next is safe from one goroutine.
type Video struct {
	W, H  int
	FPS   int
	frame uint32
	pool  sync.Pool
	// Muted sources send black frames (still stamped, so the flow goes on).
	muted bool
	mu    sync.Mutex

	rampOnce sync.Once
	luma, cb []byte // see initRamps
}

// NewVideo makes a source of w x h frames at fps.
func NewVideo(w, h, fps int) (*Video, error) {
	if w < StampWidth || h < StampHeight*4 || w%2 != 0 || h%2 != 0 {
		return nil, ErrTooSmall
	}
	if fps < 1 {
		fps = 30
	}
	return &Video{W: w, H: h, FPS: fps}, nil
}

// SetMuted makes the source send black frames.
func (v *Video) SetMuted(m bool) { v.mu.Lock(); v.muted = m; v.mu.Unlock() }

// Render draws frame n captured at t into img (4:2:0, v.W x v.H).
//
// The picture: luma 40 + ((x+y+2n) mod 400)/3, a diagonal ramp drifting
// with n, plus a soft disc that moves in a circle, like a head in a
// picture (easy for VP8); chroma ramps too. Each row is copied from one
// ramp and only the disc's span is computed per pixel: the source must
// cost little next to the encoder it feeds.
func (v *Video) Render(img *image.YCbCr, n uint32, t time.Time) {
	v.mu.Lock()
	muted := v.muted
	v.mu.Unlock()
	w, h := v.W, v.H
	cw, ch := w/2, h/2
	if muted {
		for y := 0; y < h; y++ {
			fill(img.Y[y*img.YStride:][:w], 16)
		}
		for y := 0; y < ch; y++ {
			fill(img.Cb[y*img.CStride:][:cw], 128)
			fill(img.Cr[y*img.CStride:][:cw], 128)
		}
		writeStamp(img, Stamp{Frame: n, Captured: t})
		return
	}
	v.initRamps()
	phase := float64(n) / float64(v.FPS)
	cx := float64(w)/2 + float64(w)/4*math.Cos(phase*1.3)
	cy := float64(h)/2 + float64(h)/4*math.Sin(phase*1.3)
	r2 := float64(h*h) / 36
	shift := int(n * 2)
	for y := 0; y < h; y++ {
		row := img.Y[y*img.YStride:][:w]
		s0 := (y + shift) % lumaPeriod
		copy(row, v.luma[s0:s0+w])
		dy := float64(y) - cy
		if dy*dy >= r2 {
			continue
		}
		// The disc's span on this row, a pixel wider on each side than the
		// exact root so that the test below, not rounding, decides.
		half := math.Sqrt(r2 - dy*dy)
		x0, x1 := max(int(cx-half)-1, 0), min(int(cx+half)+2, w)
		for x := x0; x < x1; x++ {
			dx := float64(x) - cx
			if d := dx*dx + dy*dy; d < r2 {
				l := int(v.luma[s0+x]) + int(90*(1-d/r2))
				row[x] = uint8(min(l, 235))
			}
		}
	}
	c0 := (shift / 2) % cbPeriod
	for y := 0; y < ch; y++ {
		copy(img.Cb[y*img.CStride:][:cw], v.cb[c0:c0+cw])
		fill(img.Cr[y*img.CStride:][:cw], uint8(130+(y+shift/3)%40))
	}
	writeStamp(img, Stamp{Frame: n, Captured: t})
}

// The ramps' periods: luma repeats every 400 pixels, Cb every 56.
const (
	lumaPeriod = 400
	cbPeriod   = 56
)

// initRamps builds the rows Render copies from: one period plus a frame's
// width, so any starting phase has a whole row.
func (v *Video) initRamps() {
	v.rampOnce.Do(func() {
		v.luma = make([]byte, lumaPeriod+v.W)
		for i := range v.luma {
			v.luma[i] = uint8(40 + i%lumaPeriod/3)
		}
		v.cb = make([]byte, cbPeriod+v.W/2)
		for i := range v.cb {
			v.cb[i] = uint8(100 + i%cbPeriod)
		}
	})
}

func fill(b []byte, v byte) {
	for i := range b {
		b[i] = v
	}
}

func checksum(v uint64) uint64 {
	var s uint64 = 0x5a
	for i := 0; i < 9; i++ {
		s = (s*31 + (v>>(8*i))&0xff) & 0xff
	}
	return s
}

func stampBitsOf(s Stamp) [stampBits]bool {
	var bits [stampBits]bool
	payload := uint64(s.Frame)<<timeBits | uint64(s.Captured.UnixMicro())&timeMask
	i := 0
	put := func(v uint64, n int) {
		for b := n - 1; b >= 0; b-- {
			bits[i] = v>>b&1 == 1
			i++
		}
	}
	put(syncWord, syncBits)
	put(uint64(s.Frame), frameBits)
	put(uint64(s.Captured.UnixMicro())&timeMask, timeBits)
	put(checksum(payload), sumBits)
	return bits
}

func writeStamp(img *image.YCbCr, s Stamp) {
	bits := stampBitsOf(s)
	for i, b := range bits {
		val := uint8(16)
		if b {
			val = 235
		}
		bx, by := i%perRow*stampBlock, i/perRow*stampBlock
		for y := by; y < by+stampBlock; y++ {
			row := img.Y[y*img.YStride+bx : y*img.YStride+bx+stampBlock]
			for x := range row {
				row[x] = val
			}
		}
	}
	// Neutral chroma under the stamp keeps it black and white.
	for y := 0; y < StampHeight/2; y++ {
		for x := 0; x < StampWidth/2; x++ {
			img.Cb[y*img.CStride+x], img.Cr[y*img.CStride+x] = 128, 128
		}
	}
}

// luma reads the luma at (x, y) of an RGBA or YCbCr image.
func luma(img image.Image, x, y int) int {
	switch m := img.(type) {
	case *image.YCbCr:
		return int(m.Y[m.YOffset(x, y)])
	case *image.RGBA:
		i := m.PixOffset(x, y)
		return (299*int(m.Pix[i]) + 587*int(m.Pix[i+1]) + 114*int(m.Pix[i+2])) / 1000
	}
	r, g, b, _ := img.At(x, y).RGBA()
	return int(299*(r>>8)+587*(g>>8)+114*(b>>8)) / 1000
}

// ReadStamp reads the stamp from a decoded frame. now resolves the 40-bit
// capture time to a full time. ok is false when there is no valid stamp.
func ReadStamp(img image.Image, now time.Time) (Stamp, bool) {
	b := img.Bounds()
	if b.Dx() < StampWidth || b.Dy() < StampHeight {
		return Stamp{}, false
	}
	var v uint64
	var bits [stampBits]uint64
	for i := range bits {
		// The centre of each block, away from the edges that compression blurs.
		sum := 0
		bx, by := b.Min.X+i%perRow*stampBlock, b.Min.Y+i/perRow*stampBlock
		for y := 2; y < stampBlock-2; y++ {
			for x := 2; x < stampBlock-2; x++ {
				sum += luma(img, bx+x, by+y)
			}
		}
		if sum/((stampBlock-4)*(stampBlock-4)) > 125 {
			bits[i] = 1
		}
	}
	i := 0
	get := func(n int) uint64 {
		v = 0
		for k := 0; k < n; k++ {
			v = v<<1 | bits[i]
			i++
		}
		return v
	}
	if get(syncBits) != syncWord {
		return Stamp{}, false
	}
	frame := get(frameBits)
	t := get(timeBits)
	sum := get(sumBits)
	if checksum(frame<<timeBits|t) != sum {
		return Stamp{}, false
	}
	// Pick the full time nearest to now with these low 40 bits.
	nowUS := now.UnixMicro()
	base := nowUS &^ timeMask
	full := base | int64(t)
	if full-nowUS > timeMask/2 {
		full -= timeMask + 1
	} else if nowUS-full > timeMask/2 {
		full += timeMask + 1
	}
	return Stamp{Frame: uint32(frame), Captured: time.UnixMicro(full)}, true
}
