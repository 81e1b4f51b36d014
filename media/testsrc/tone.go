package testsrc

import "math"

// Tone is a test microphone: a sine wave at Freq Hz, 16-bit mono.
type Tone struct {
	Freq       float64
	SampleRate int
	Amplitude  float64 // 0..1
	n          int64
}

// DefaultAmplitude leaves headroom so a codec never clips the tone.
const DefaultAmplitude = 0.3

// NewTone makes a tone source.
func NewTone(freq float64, sampleRate int) *Tone {
	return &Tone{Freq: freq, SampleRate: sampleRate, Amplitude: DefaultAmplitude}
}

// Fill writes the next len(pcm) samples.
func (t *Tone) Fill(pcm []int16) {
	w := 2 * math.Pi * t.Freq / float64(t.SampleRate)
	for i := range pcm {
		pcm[i] = int16(t.Amplitude * 32767 * math.Sin(w*float64(t.n)))
		t.n++
	}
}

// Power returns the Goertzel power of freq in pcm, normalised so a
// full-scale sine at freq gives about 1 and silence 0.
func Power(pcm []int16, freq float64, sampleRate int) float64 {
	if len(pcm) == 0 {
		return 0
	}
	w := 2 * math.Pi * freq / float64(sampleRate)
	coeff := 2 * math.Cos(w)
	var s1, s2 float64
	for _, v := range pcm {
		s := float64(v)/32768 + coeff*s1 - s2
		s2, s1 = s1, s
	}
	p := s1*s1 + s2*s2 - coeff*s1*s2
	n := float64(len(pcm))
	return 4 * p / (n * n)
}

// Level returns the RMS level of pcm, 0..1.
func Level(pcm []int16) float64 {
	if len(pcm) == 0 {
		return 0
	}
	var sum float64
	for _, v := range pcm {
		f := float64(v) / 32768
		sum += f * f
	}
	return math.Sqrt(sum / float64(len(pcm)))
}

// Dominant reports whether freq carries most of pcm's energy (at least
// half of it), which tells the partner's tone from one's own at another
// frequency and from noise.
func Dominant(pcm []int16, freq float64, sampleRate int) bool {
	l := Level(pcm)
	if l < 0.01 {
		return false
	}
	// A sine of RMS l has amplitude l*sqrt2, so Power of about 2*l*l.
	return Power(pcm, freq, sampleRate) > 0.5*2*l*l
}
