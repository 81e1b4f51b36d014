package audiolab

// analyse.go: what a recording says of the path it came through. Each
// cycle's tone is found by its onset and timed against when the mouth said
// it (mouth to ear); inside the tone, a run of near-silence is a dropout
// and a step steeper than the tone can make is a discontinuity (a click).
// The cycle's speech, found where the tone puts it and aligned to the
// sample, is compared with what was said (quality.go).

import (
	"math"
	"sort"
	"time"

	"github.com/parley-lab/parley/media/bench/onset"
)

// What counts.
const (
	// Inside a tone, EdgeSkip from each end: a dropout is DropoutRun
	// samples below QuietLevel; a discontinuity a step above JumpFactor
	// times the tone's steepest.
	EdgeSkip   = 30 * time.Millisecond
	DropoutRun = 24
	QuietLevel = 200
	JumpFactor = 2.0
	// AlignSearch is how far from where its tone puts it the speech is
	// looked for, and how far each AlignBlock of it from the block before:
	// a jitter buffer may stretch or shed up to a period at any time, which
	// moves what follows without changing how it sounds. The search never
	// strays more than twice AlignSearch from where the tone put it.
	AlignSearch = 10 * time.Millisecond
	AlignBlock  = 100 * time.Millisecond
)

// Stats is what one stretch of recording measured.
type Stats struct {
	Tones           int // cycles whose tone was heard
	Clean           int // tones with no dropout nor discontinuity
	Dropouts        int
	Discontinuities int
	// Silent is the near-silence inside the tones, in dropouts.
	Silent    time.Duration
	Latencies []time.Duration
	// SNR and LSD are per 20 ms frame of speech, in dB.
	SNR []float64
	LSD []float64
}

// LatencyP is the p-th percentile of mouth to ear (0 without tones).
func (s Stats) LatencyP(p int) time.Duration {
	if len(s.Latencies) == 0 {
		return 0
	}
	l := append([]time.Duration(nil), s.Latencies...)
	sort.Slice(l, func(i, j int) bool { return l[i] < l[j] })
	return l[min(len(l)-1, len(l)*p/100)]
}

// SegSNR is the segmental SNR: the mean over speech frames (NaN without).
func (s Stats) SegSNR() float64 { return mean(s.SNR) }

// SpectralDistance is the mean log-spectral distance (NaN without).
func (s Stats) SpectralDistance() float64 { return mean(s.LSD) }

func mean(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	t := 0.0
	for _, x := range v {
		t += x
	}
	return t / float64(len(v))
}

// Analyse measures the recording's samples [from, to) against what mouth
// said of sig. It works on a copy: the recording goes on meanwhile.
func Analyse(rec *Recorder, from, to int, mouth *Mouth, sig *Signal) Stats {
	r, off := rec.copyFrom(from)
	return analyse(r, from-off, min(to-off, len(r.pcm)), mouth, sig)
}

func analyse(r *Recorder, from, to int, mouth *Mouth, sig *Signal) Stats {
	var s Stats
	k0 := sig.toneOnset()
	tone := Samples(ToneLength)
	maxStep := ToneAmp * 2 * math.Pi * ToneHz / Rate
	onsets := onset.New(Rate)
	for i := from; i < to; i++ {
		if !onsets.Next(r.pcm[i]) || i-k0+tone > to {
			continue
		}
		heard := r.timeOf(i)
		cycle, start, ok := mouth.cycleBefore(heard)
		said := start.Add(time.Duration(k0) * time.Second / Rate)
		// A tone is heard before the cycle's speech is said: an onset
		// later than that is the speech's own.
		if !ok || heard.Sub(start) >= SpeechAt {
			continue
		}
		s.Tones++
		s.Latencies = append(s.Latencies, heard.Sub(said))
		before := s.Dropouts + s.Discontinuities
		run := 0
		for j := i - k0 + Samples(EdgeSkip); j < i-k0+tone-Samples(EdgeSkip); j++ {
			if math.Abs(float64(r.pcm[j])-float64(r.pcm[j-1])) > JumpFactor*maxStep {
				s.Discontinuities++
			}
			if r.pcm[j] > -QuietLevel && r.pcm[j] < QuietLevel {
				if run++; run == DropoutRun {
					s.Dropouts++
					s.Silent += DropoutRun * time.Second / Rate
				} else if run > DropoutRun {
					s.Silent += time.Second / Rate
				}
			} else {
				run = 0
			}
		}
		if s.Dropouts+s.Discontinuities == before {
			s.Clean++
		}
		ref := sig.Speech(cycle)
		at, search := i-k0+Samples(SpeechAt), Samples(AlignSearch)
		if at-2*search >= from && at+len(ref)+2*search <= to {
			snr, lsd := compareAligned(ref, r.pcm[at-2*search:at+len(ref)+2*search], 2*search)
			s.SNR = append(s.SNR, snr...)
			s.LSD = append(s.LSD, lsd...)
		}
		i += tone - k0 // past the tone, which is not an onset again
	}
	return s
}
