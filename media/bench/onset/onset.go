// Package onset is the benchmarks' one rule for where a tone burst
// starts: a sample beyond Level of full scale (either sign) after at
// least Quiet of samples within it. The probe (media/bench/probe) times
// the kit's bursts with it, the audio lab (media/bench/audiolab) its
// tones, and the browser's side of the benchmark (media/bench/browser.html)
// is given Level and Quiet to detect them the same way.
package onset

import "time"

// Level and Quiet: see the package comment.
const (
	Level = 2000.0 / 32768
	Quiet = 100 * time.Millisecond
	// Level16 is Level in 16-bit samples.
	Level16 = int16(Level * 32768)
)

// Loud says whether v is beyond Level.
func Loud(v int16) bool { return v > Level16 || v < -Level16 }

// Detector finds onsets in a stream of samples, fed one at a time; its
// zero value is not ready: use New.
type Detector struct {
	quiet int // Quiet in samples
	run   int // samples within Level before the next one
}

// New makes a detector for a stream at sampleRate. The stream's start
// does not count as quiet: a burst under way when it starts is no onset.
func New(sampleRate int) Detector {
	return Detector{quiet: int(Quiet * time.Duration(sampleRate) / time.Second)}
}

// Next takes the next sample and says whether a burst starts there.
func (d *Detector) Next(v int16) bool {
	if !Loud(v) {
		d.run++
		return false
	}
	onset := d.run >= d.quiet
	d.run = 0
	return onset
}
