package audiolab

import (
	"math"
	"math/cmplx"
	"math/rand"
	"testing"
	"time"

	"github.com/parley-lab/parley/media/bench/onset"
)

// lead is the silence recorded before the mouth starts.
var lead = Samples(onset.Quiet)

// recording is what a path of delay samples would give of n cycles of sig,
// with damage applied to each recorded sample index (counted from the
// mouth's start), and the mouth that said it.
func recording(sig *Signal, cycles, delay int, damage func(i int, v int16) int16) (*Recorder, *Mouth) {
	frame := Samples(QualityFrame)
	n := (lead + cycles*Samples(CycleLength) + delay + frame - 1) / frame * frame
	base := time.Unix(1000, 0)
	at := func(i int) time.Time { return base.Add(time.Duration(i) * time.Second / Rate) }
	r := &Recorder{frame: frame}
	for i := 0; i < n; i++ {
		v := int16(0)
		if k := i - lead; k >= delay {
			v = sig.Sample(k - delay)
		}
		if k := i - lead; damage != nil && k >= 0 {
			v = damage(k, v)
		}
		r.pcm = append(r.pcm, v)
		if i%frame == frame-1 {
			r.times = append(r.times, at(i))
		}
	}
	m := NewMouth(sig)
	for c := 0; c < cycles; c++ {
		m.starts = append(m.starts, at(lead+c*Samples(CycleLength)))
	}
	return r, m
}

func testSignal() *Signal { return NewSignal(syntheticSpeech(4 * Rate)) }

func TestACleanPathMeasuresItsDelayOnly(t *testing.T) {
	sig := testSignal()
	delay := Samples(57 * time.Millisecond)
	r, m := recording(sig, 5, delay, nil)
	s := Analyse(r, 0, r.Len(), m, sig)
	if s.Tones != 5 || s.Clean != 5 || s.Dropouts != 0 || s.Discontinuities != 0 {
		t.Fatalf("%d tones (%d clean), %d dropouts, %d discontinuities; want 5 clean and nothing else", s.Tones, s.Clean, s.Dropouts, s.Discontinuities)
	}
	if p := s.LatencyP(50); p < 56*time.Millisecond || p > 58*time.Millisecond {
		t.Errorf("mouth to ear %v, want 57 ms", p)
	}
	if len(s.SNR) < 5*30 {
		t.Fatalf("only %d speech frames compared", len(s.SNR))
	}
	if snr, lsd := s.SegSNR(), s.SpectralDistance(); snr != snrCeiling || lsd > 0.01 {
		t.Errorf("an exact copy: SNR %.1f dB, LSD %.2f dB; want %v and 0", snr, lsd, snrCeiling)
	}
}

func TestSpeechIsAlignedWhereAJitterBufferMovedIt(t *testing.T) {
	sig := testSignal()
	delay := Samples(40 * time.Millisecond)
	shift := Samples(4 * time.Millisecond) // shed between the tone and the speech
	r, m := recording(sig, 4, delay, nil)
	for c := 0; c < 4; c++ {
		cycle := lead + c*Samples(CycleLength) + delay
		end := cycle + Samples(CycleLength)
		// Once before the speech, once in the middle of it.
		at := cycle + Samples(ToneLength+100*time.Millisecond)
		copy(r.pcm[at:end], r.pcm[at+shift:end])
		at = cycle + Samples(SpeechAt+450*time.Millisecond)
		copy(r.pcm[at:end], r.pcm[at+shift/2:end])
	}
	s := Analyse(r, 0, r.Len(), m, sig)
	if s.SegSNR() < 25 { // the frames across each splice differ
		t.Errorf("speech moved by %d samples: SNR %.1f dB, so it was not aligned", shift, s.SegSNR())
	}
}

// Damage shows: gaps of 2.5 ms every 20 ms (the reused-buffer bug's
// pattern) give discontinuities and dropouts, and lower both measures.
func TestClicksAndGapsAreCounted(t *testing.T) {
	sig := testSignal()
	delay := Samples(30 * time.Millisecond)
	clean, m := recording(sig, 4, delay, nil)
	base := Analyse(clean, 0, clean.Len(), m, sig)
	gap := Samples(2500 * time.Microsecond)
	r, m := recording(sig, 4, delay, func(i int, v int16) int16 {
		if i%Samples(20*time.Millisecond) < gap {
			return 0
		}
		return v
	})
	s := Analyse(r, 0, r.Len(), m, sig)
	if s.Tones != 4 {
		t.Fatalf("%d tones heard, want 4", s.Tones)
	}
	if s.Clean != 0 || s.Dropouts < 4*25 || s.Discontinuities < 4*25 {
		t.Errorf("%d clean tones, %d dropouts, %d discontinuities: the gaps were not seen", s.Clean, s.Dropouts, s.Discontinuities)
	}
	if s.Silent < 4*25*2*time.Millisecond {
		t.Errorf("silent %v inside the tones, want about %v", s.Silent, 4*27*gap*int(time.Second)/Rate)
	}
	if s.SegSNR() > base.SegSNR()-10 || s.SpectralDistance() < base.SpectralDistance()+1 {
		t.Errorf("gaps: SNR %.1f dB, LSD %.2f dB; clean: %.1f, %.2f", s.SegSNR(), s.SpectralDistance(), base.SegSNR(), base.SpectralDistance())
	}
}

// Noise lowers the SNR by as much as it is loud.
func TestNoiseLowersTheSNR(t *testing.T) {
	sig := testSignal()
	rng := rand.New(rand.NewSource(1))
	r, m := recording(sig, 3, 100, func(i int, v int16) int16 { return v + int16(rng.NormFloat64()*300) })
	s := Analyse(r, 0, r.Len(), m, sig)
	if snr := s.SegSNR(); snr < 5 || snr > 30 {
		t.Errorf("white noise at 300 rms: SNR %.1f dB", snr)
	}
	if s.Dropouts != 0 {
		t.Errorf("%d dropouts in a noisy but whole tone", s.Dropouts)
	}
}

// A tone lost entirely is not a tone heard, and its speech is not timed
// from the speech's own onset.
func TestALostToneIsNotMistakenForSpeech(t *testing.T) {
	sig := testSignal()
	r, m := recording(sig, 3, 500, func(i int, v int16) int16 {
		if k := (i - 500) % Samples(CycleLength); i >= 500 && i-500 < Samples(CycleLength) && k < Samples(ToneLength) {
			return 0
		}
		return v
	})
	s := Analyse(r, 0, r.Len(), m, sig)
	if s.Tones != 2 {
		t.Errorf("%d tones heard, want 2 of 3", s.Tones)
	}
	for _, l := range s.Latencies {
		if l > 20*time.Millisecond {
			t.Errorf("latency %v: an onset of speech was timed as a tone", l)
		}
	}
}

func TestFFTMatchesTheDFT(t *testing.T) {
	x := make([]complex128, 64)
	rng := rand.New(rand.NewSource(2))
	for i := range x {
		x[i] = complex(rng.Float64(), rng.Float64())
	}
	want := make([]complex128, len(x))
	for k := range want {
		for n, v := range x {
			want[k] += v * cmplx.Exp(complex(0, -2*math.Pi*float64(k*n)/float64(len(x))))
		}
	}
	fft(x)
	for k := range x {
		if cmplx.Abs(x[k]-want[k]) > 1e-9 {
			t.Fatalf("bin %d: %v, want %v", k, x[k], want[k])
		}
	}
}
