package audiolab

// speech.go: the speech that is said into the microphone: espeak-ng
// reading Harvard sentences when it is installed, otherwise synthetic
// vowels (a pulse train through formant filters, syllable by syllable),
// which say less about a codec but still tell a click from a clean path.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os/exec"
	"strings"
	"time"
)

// harvard are phonetically balanced sentences (IEEE 1969), the usual test
// material for speech transmission.
var harvard = []string{
	"The birch canoe slid on the smooth planks.",
	"Glue the sheet to the dark blue background.",
	"It's easy to tell the depth of a well.",
	"These days a chicken leg is a rare dish.",
	"Rice is often served in round bowls.",
	"The juice of lemons makes fine punch.",
	"The box was thrown beside the parked truck.",
	"The hogs were fed chopped corn and garbage.",
	"Four hours of steady work faced us.",
	"A large size in stockings is hard to sell.",
}

// Speech sources, as Speech names them.
const (
	SpeechEspeak    = "espeak-ng"
	SpeechSynthetic = "synthetic vowels"
)

// Speech renders the sentences at Rate, and says which source made them.
func Speech(ctx context.Context) ([]int16, string) {
	if pcm, err := espeak(ctx, strings.Join(harvard, " ")); err == nil && len(pcm) > Rate {
		return pcm, SpeechEspeak
	}
	return syntheticSpeech(30 * Rate), SpeechSynthetic
}

func espeak(ctx context.Context, text string) ([]int16, error) {
	bin, err := exec.LookPath("espeak-ng")
	if err != nil {
		return nil, err
	}
	out, err := exec.CommandContext(ctx, bin, "--stdout", "-v", "en-us", "-s", "165", text).Output()
	if err != nil {
		return nil, fmt.Errorf("espeak-ng: %w", err)
	}
	pcm, rate, err := ParseWAV(out)
	if err != nil {
		return nil, fmt.Errorf("espeak-ng's output: %w", err)
	}
	return Resample(pcm, rate, Rate), nil
}

// ErrWAV is a WAV file ParseWAV cannot read.
var ErrWAV = errors.New("not a 16-bit PCM WAV file")

// ParseWAV reads 16-bit PCM from a RIFF WAV file (the first channel, if
// more). A length of 0 or past the end in the data chunk (a streamed WAV,
// as espeak-ng writes to a pipe) means "to the end".
func ParseWAV(b []byte) (pcm []int16, rate int, err error) {
	if len(b) < 12 || string(b[:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return nil, 0, fmt.Errorf("%w: no RIFF/WAVE header", ErrWAV)
	}
	channels := 0
	for p := 12; p+8 <= len(b); {
		id, size := string(b[p:p+4]), int(binary.LittleEndian.Uint32(b[p+4:p+8]))
		body := b[p+8:]
		switch id {
		case "fmt ":
			if size < 16 || len(body) < 16 {
				return nil, 0, fmt.Errorf("%w: fmt chunk of %d bytes", ErrWAV, size)
			}
			format, bits := binary.LittleEndian.Uint16(body[0:2]), binary.LittleEndian.Uint16(body[14:16])
			channels, rate = int(binary.LittleEndian.Uint16(body[2:4])), int(binary.LittleEndian.Uint32(body[4:8]))
			if format != 1 || bits != 16 || channels < 1 || rate < 1000 || rate > 384000 {
				return nil, 0, fmt.Errorf("%w: format %d, %d bits, %d channels, %d Hz", ErrWAV, format, bits, channels, rate)
			}
		case "data":
			if channels == 0 {
				return nil, 0, fmt.Errorf("%w: data before fmt", ErrWAV)
			}
			if size <= 0 || size > len(body) {
				size = len(body)
			}
			frame := 2 * channels
			pcm = make([]int16, size/frame)
			for i := range pcm {
				pcm[i] = int16(binary.LittleEndian.Uint16(body[i*frame:]))
			}
			return pcm, rate, nil
		}
		if size < 0 || size > len(body) {
			break
		}
		p += 8 + size + size&1
	}
	return nil, 0, fmt.Errorf("%w: no data chunk", ErrWAV)
}

// Resample converts pcm from one rate to another by linear interpolation:
// enough for a test signal, which is compared with itself after the call.
func Resample(pcm []int16, from, to int) []int16 {
	if from == to || len(pcm) == 0 {
		return append([]int16(nil), pcm...)
	}
	n := int(int64(len(pcm)) * int64(to) / int64(from))
	out := make([]int16, n)
	for i := range out {
		x := float64(i) * float64(from) / float64(to)
		k := int(x)
		if k+1 >= len(pcm) {
			out[i] = pcm[len(pcm)-1]
			continue
		}
		f := x - float64(k)
		out[i] = int16(math.Round(float64(pcm[k])*(1-f) + float64(pcm[k+1])*f))
	}
	return out
}

// syntheticSpeech is n samples of vowel-like syllables: a pulse train at
// a wandering pitch through three formant resonators, 200 ms a syllable
// with a pause after every third.
func syntheticSpeech(n int) []int16 {
	vowels := [][3]float64{{730, 1090, 2440}, {270, 2290, 3010}, {300, 870, 2240}, {530, 1840, 2480}, {570, 840, 2410}}
	out := make([]int16, n)
	var y [3][2]float64
	phase := 0.0
	syl := Samples(200 * time.Millisecond)
	for i := range out {
		s := i / syl
		k := i % syl
		f0 := 120 + 25*math.Sin(2*math.Pi*float64(i)/float64(3*Rate))
		phase += f0 / Rate
		x := 0.0
		if phase >= 1 {
			phase--
			x = 1
		}
		env := math.Sin(math.Pi * float64(k) / float64(syl))
		if s%4 == 3 {
			env = 0
		}
		v := 0.0
		for j, f := range vowels[s%len(vowels)] {
			// A two-pole resonator at f with a 100 Hz bandwidth.
			r := math.Exp(-math.Pi * 100 / Rate)
			c := 2 * r * math.Cos(2*math.Pi*f/Rate)
			o := x + c*y[j][0] - r*r*y[j][1]
			y[j][1], y[j][0] = y[j][0], o
			v += o / float64(j+1)
		}
		out[i] = int16(max(-32767, min(32767, 3000*env*v)))
	}
	return out
}
