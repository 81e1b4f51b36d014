package audiolab

// quality.go: how close what was heard is to what was said, frame by
// frame: the segmental SNR (waveform: noise, clicks, gaps all lower it)
// and the log-spectral distance (spectrum: what a codec and a concealment
// change of the voice's colour). Both are the usual objective measures of
// speech transmission; both need the two signals aligned to the sample.

import (
	"math"
	"math/cmplx"
	"time"
)

// The frames compared.
const (
	// QualityFrame is one frame of speech, as the codec's.
	QualityFrame = 20 * time.Millisecond
	// activeBelowPeak: frames more than this far below the chunk's loudest
	// frame are pauses, not counted (dB).
	activeBelowPeak = 40.0
	// A frame's SNR is clamped to [snrFloor, snrCeiling], as is usual, so
	// that one silent or one perfect frame does not rule the mean.
	snrFloor, snrCeiling = -10.0, 35.0
	// The spectrum compared: lsdLowHz to lsdHighHz, bins more than
	// lsdFloor below the frame's strongest taken as that floor.
	lsdLowHz, lsdHighHz = 50.0, 8000.0
	lsdFloor            = 60.0
	fftSize             = 1024
)

// align is the lag in [lo, hi] at which ref best matches got at base+lag:
// the highest correlation, normalised by the window's energy (raw, a
// window moved into louder speech would win).
func align(ref, got []int16, base, lo, hi int) int {
	best, bestLag := math.Inf(-1), 0
	for lag := lo; lag <= hi; lag++ {
		w := got[base+lag : base+lag+len(ref)]
		c := 0.0
		for i, v := range ref {
			c += float64(v) * float64(w[i])
		}
		if e := energy(w); e > 0 {
			c /= math.Sqrt(e)
		}
		if c > best {
			best, bestLag = c, lag
		}
	}
	return bestLag
}

// compareAligned compares ref with got (which holds margin samples before
// and after ref's span) block by block: the whole chunk is aligned first,
// within half the margin, then each AlignBlock within AlignSearch of the
// block before, within the margin.
func compareAligned(ref, got []int16, margin int) (snr, lsd []float64) {
	half, step := margin/2, Samples(AlignSearch)
	lag := align(ref, got, margin, -half, half)
	aligned := make([]int16, len(ref))
	block := Samples(AlignBlock)
	for at := 0; at < len(ref); at += block {
		r := ref[at:min(at+block, len(ref))]
		if energy(r) > 0 {
			lag = align(r, got, margin+at, max(-margin, lag-step), min(margin, lag+step))
		}
		copy(aligned[at:], got[margin+at+lag:margin+at+lag+len(r)])
	}
	return compare(ref, aligned)
}

func energy(v []int16) float64 {
	e := 0.0
	for _, x := range v {
		e += float64(x) * float64(x)
	}
	return e
}

// compare gives the segmental SNR and the log-spectral distance of each
// active frame of ref against got (aligned, of the same length).
func compare(ref, got []int16) (snr, lsd []float64) {
	n := Samples(QualityFrame)
	peak := 0.0
	for at := 0; at+n <= len(ref); at += n {
		peak = max(peak, energy(ref[at:at+n]))
	}
	if peak == 0 {
		return nil, nil
	}
	for at := 0; at+n <= len(ref); at += n {
		r, g := ref[at:at+n], got[at:at+n]
		e := energy(r)
		if 10*math.Log10(peak/max(e, 1)) > activeBelowPeak {
			continue
		}
		noise := 0.0
		for i := range r {
			d := float64(r[i]) - float64(g[i])
			noise += d * d
		}
		db := snrCeiling
		if noise > 0 {
			db = min(snrCeiling, max(snrFloor, 10*math.Log10(e/noise)))
		}
		snr = append(snr, db)
		lsd = append(lsd, spectralDistance(r, g))
	}
	return snr, lsd
}

// spectralDistance is the RMS difference of the two frames' log power
// spectra (Hann window), over the speech band.
func spectralDistance(ref, got []int16) float64 {
	pr, pg := power(ref), power(got)
	lo, hi := int(math.Ceil(lsdLowHz*fftSize/Rate)), int(math.Floor(lsdHighHz*fftSize/Rate))
	top := 0.0
	for k := lo; k <= hi; k++ {
		top = max(top, pr[k])
	}
	floor := top * math.Pow(10, -lsdFloor/10)
	sum := 0.0
	for k := lo; k <= hi; k++ {
		d := 10 * math.Log10(max(pr[k], floor)/max(pg[k], floor))
		sum += d * d
	}
	return math.Sqrt(sum / float64(hi-lo+1))
}

func power(v []int16) []float64 {
	x := make([]complex128, fftSize)
	for i, s := range v[:min(len(v), fftSize)] {
		w := 0.5 - 0.5*math.Cos(2*math.Pi*float64(i)/float64(len(v)-1))
		x[i] = complex(float64(s)*w, 0)
	}
	fft(x)
	p := make([]float64, fftSize/2+1)
	for k := range p {
		a := cmplx.Abs(x[k])
		p[k] = a * a
	}
	return p
}

// fft is an in-place radix-2 FFT; len(x) is a power of two.
func fft(x []complex128) {
	n := len(x)
	for i, j := 1, 0; i < n; i++ {
		bit := n >> 1
		for ; j&bit != 0; bit >>= 1 {
			j ^= bit
		}
		j |= bit
		if i < j {
			x[i], x[j] = x[j], x[i]
		}
	}
	for size := 2; size <= n; size <<= 1 {
		w := cmplx.Exp(complex(0, -2*math.Pi/float64(size)))
		for start := 0; start < n; start += size {
			t := complex(1, 0)
			for k := 0; k < size/2; k++ {
				a, b := x[start+k], x[start+k+size/2]*t
				x[start+k], x[start+k+size/2] = a+b, a-b
				t *= w
			}
		}
	}
}
