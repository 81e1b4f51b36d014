package audiolab

// signal.go: what the "mouth" says into a microphone. A cycle of
// CycleLength repeats: a tone (timed and checked for dropouts and
// discontinuities, which a smooth tone shows plainly), a pause, a chunk of
// speech (compared with what was said), a pause. Mouth feeds it and notes
// when each cycle went in.

import (
	"math"
	"sort"
	"sync"
	"time"

	"github.com/parley-lab/parley/media/bench/onset"
)

// The cycle.
const (
	CycleLength = 2 * time.Second
	// The tone: [0, ToneLength) of each cycle, with ToneRamp fades.
	ToneLength = 600 * time.Millisecond
	ToneRamp   = 5 * time.Millisecond
	ToneHz     = 440.0
	ToneAmp    = 10000.0
	// The speech: [SpeechAt, SpeechAt+SpeechLength), peak SpeechPeak,
	// with SpeechFade fades. The pauses around the tone and the speech are
	// longer than onset.Quiet, so each tone's onset stands out.
	SpeechAt     = 800 * time.Millisecond
	SpeechLength = time.Second
	SpeechFade   = 10 * time.Millisecond
	SpeechPeak   = 10000.0
)

// Samples is d at Rate.
func Samples(d time.Duration) int { return int(d * Rate / time.Second) }

// Signal is the cycle's samples: the tone and one speech chunk per cycle,
// taken in turn.
type Signal struct {
	tone   []int16
	speech [][]int16 // chunks of Samples(SpeechLength)
}

// NewSignal cuts speech (at Rate) into chunks of SpeechLength, each faded
// in and out and scaled so the loudest peaks at SpeechPeak.
func NewSignal(speech []int16) *Signal {
	s := &Signal{tone: make([]int16, Samples(ToneLength))}
	ramp := Samples(ToneRamp)
	for i := range s.tone {
		g := 1.0
		if k := min(i, len(s.tone)-1-i); k < ramp {
			g = 0.5 - 0.5*math.Cos(math.Pi*float64(k)/float64(ramp))
		}
		s.tone[i] = int16(g * ToneAmp * math.Sin(2*math.Pi*ToneHz*float64(i)/Rate))
	}
	n, fade := Samples(SpeechLength), Samples(SpeechFade)
	var peak int16
	for _, v := range speech {
		peak = max(peak, v, -v)
	}
	gain := 1.0
	if peak > 0 {
		gain = SpeechPeak / float64(peak)
	}
	for at := 0; at+n <= len(speech); at += n {
		c := make([]int16, n)
		for i := range c {
			g := gain
			if k := min(i, n-1-i); k < fade {
				g *= float64(k) / float64(fade)
			}
			c[i] = int16(float64(speech[at+i]) * g)
		}
		s.speech = append(s.speech, c)
	}
	if len(s.speech) == 0 {
		s.speech = [][]int16{make([]int16, n)}
	}
	return s
}

// Sample is sample i of the signal (cycle 0 starts at i = 0).
func (s *Signal) Sample(i int) int16 {
	cycle, k := i/Samples(CycleLength), i%Samples(CycleLength)
	if k < len(s.tone) {
		return s.tone[k]
	}
	if k -= Samples(SpeechAt); k >= 0 && k < Samples(SpeechLength) {
		return s.speech[cycle%len(s.speech)][k]
	}
	return 0
}

// Speech is the speech chunk of a cycle.
func (s *Signal) Speech(cycle int) []int16 { return s.speech[cycle%len(s.speech)] }

// toneOnset is where the tone first passes onset.Level: the point of each
// cycle that a recorded onset is matched with.
func (s *Signal) toneOnset() int {
	for i, v := range s.tone {
		if onset.Loud(v) {
			return i
		}
	}
	return 0
}

// Mouth feeds a Signal and notes when each cycle's first sample was
// handed to the microphone.
type Mouth struct {
	sig    *Signal
	mu     sync.Mutex
	starts []time.Time // of cycles 0, 1, ...
}

// NewMouth starts at cycle 0.
func NewMouth(sig *Signal) *Mouth { return &Mouth{sig: sig} }

// Next is Mic.Feed's function.
func (m *Mouth) Next(i int) int16 {
	if i%Samples(CycleLength) == 0 {
		m.mu.Lock()
		m.starts = append(m.starts, time.Now())
		m.mu.Unlock()
	}
	return m.sig.Sample(i)
}

// cycleBefore is the last cycle that started before t, and when.
func (m *Mouth) cycleBefore(t time.Time) (int, time.Time, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	i := sort.Search(len(m.starts), func(i int) bool { return m.starts[i].After(t) }) - 1
	if i < 0 {
		return 0, time.Time{}, false
	}
	return i, m.starts[i], true
}
