package kit

// The jitter buffer's signal helpers: finding the signal's period, and
// joining two stretches of it without a step. A click is what a listener
// hears where samples are skipped or end abruptly; these keep every join
// smooth. They run when a frame is pushed (on the decoder's goroutine),
// never in the device callback, which only copies and mixes.

import "math"

// Period search and joins, in samples at 48 kHz.
const (
	// lagMin and lagMax bound the period searched: voiced speech is
	// 80-400 Hz (2.5-12.5 ms), a little either side.
	lagMin = 96  // 2 ms
	lagMax = 720 // 15 ms
	// lagWindow is how much signal a candidate period is compared over.
	lagWindow = 240 // 5 ms
	// fadeLen is every crossfade's length.
	fadeLen = 120 // 2.5 ms
)

// similarity of b to a over lagWindow samples (every second one): their
// correlation normalised by b's energy, -Inf when b is silent. The period
// searches pick the lag that maximises it.
func similarity(a, b []int16) float64 {
	var xy, yy float64
	for i := 0; i < lagWindow; i += 2 {
		x, y := float64(a[i]), float64(b[i])
		xy += x * y
		yy += y * y
	}
	if yy == 0 {
		return math.Inf(-1)
	}
	return xy / math.Sqrt(yy)
}

// bestLag is the period in [lo, hi] over which x's last lagWindow samples
// best repeat (most similar to the same length one period earlier); lo
// when x is too short or silent. A coarse search on every second lag,
// then the neighbours of the best.
func bestLag(x []int16, lo, hi int) int {
	n := len(x)
	if n < hi+lagWindow {
		hi = n - lagWindow
	}
	if hi < lo {
		return lo
	}
	end := x[n-lagWindow:]
	score := func(lag int) float64 { return similarity(end, x[n-lagWindow-lag:n-lag]) }
	best, bestScore := lo, math.Inf(-1)
	for lag := lo; lag <= hi; lag += 2 {
		if s := score(lag); s > bestScore {
			best, bestScore = lag, s
		}
	}
	for _, lag := range []int{best - 1, best + 1} {
		if lag >= lo && lag <= hi {
			if s := score(lag); s > bestScore {
				best, bestScore = lag, s
			}
		}
	}
	return best
}

// crossfade writes into dst a fade from a to b (equal lengths): a at the
// start, b at the end, raised-cosine weights.
func crossfade(dst, a, b []int16) {
	n := len(dst)
	for i := range dst {
		w := 0.5 - 0.5*math.Cos(math.Pi*float64(i+1)/float64(n+1))
		dst[i] = int16(float64(a[i])*(1-w) + float64(b[i])*w)
	}
}

// compress removes about want samples from f (a frame about to be queued,
// want at least lagMin) by skipping whole periods of the signal: f's head
// is crossfaded into the signal a period later, so the tone goes on
// without a step. It returns the shortened frame (f's own storage).
func compress(f []int16, want int) []int16 {
	hi := min(max(want, lagMin), len(f)-lagWindow-fadeLen)
	if hi < lagMin {
		return f
	}
	// The lag at which f's start best repeats, looking forward: f[lag:]
	// most similar to f's head.
	best, bestScore := lagMin, math.Inf(-1)
	for lag := lagMin; lag <= hi; lag += 2 {
		if s := similarity(f, f[lag:]); s > bestScore {
			best, bestScore = lag, s
		}
	}
	crossfade(f[best:best+fadeLen], f[:fadeLen], f[best:best+fadeLen])
	return f[best:]
}

// extend writes into ext a continuation of the signal that ends with hist:
// its last period repeated, fading linearly to silence over len(ext), so
// an underrun is heard as a short fading echo of the voice, not a hole.
func extend(ext, hist []int16) {
	if len(hist) == 0 {
		clear(ext)
		return
	}
	lag := bestLag(hist, lagMin, lagMax)
	lag = min(lag, len(hist))
	period := hist[len(hist)-lag:]
	n := len(ext)
	for i := range ext {
		g := float64(n-i) / float64(n+1)
		ext[i] = int16(float64(period[i%lag]) * g)
	}
}
