package audiolab

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"os/exec"
	"testing"
)

func wav(rate, channels int, samples []int16, dataSize int) []byte {
	var b bytes.Buffer
	le := func(v any) { binary.Write(&b, binary.LittleEndian, v) }
	b.WriteString("RIFF")
	le(uint32(0))
	b.WriteString("WAVEfmt ")
	le(uint32(16))
	le(uint16(1))
	le(uint16(channels))
	le(uint32(rate))
	le(uint32(rate * 2 * channels))
	le(uint16(2 * channels))
	le(uint16(16))
	b.WriteString("data")
	le(uint32(dataSize))
	le(samples)
	return b.Bytes()
}

func TestParseWAV(t *testing.T) {
	pcm, rate, err := ParseWAV(wav(22050, 1, []int16{1, -2, 3}, 6))
	if err != nil || rate != 22050 || len(pcm) != 3 || pcm[1] != -2 {
		t.Fatalf("mono: %v %d %v", pcm, rate, err)
	}
	// espeak-ng to a pipe writes a huge data size: read to the end.
	if pcm, _, err := ParseWAV(wav(22050, 1, []int16{5, 6}, 0x7ffff000)); err != nil || len(pcm) != 2 {
		t.Fatalf("streamed: %v %v", pcm, err)
	}
	// Stereo: the first channel.
	if pcm, _, err := ParseWAV(wav(48000, 2, []int16{7, 8, 9, 10}, 8)); err != nil || len(pcm) != 2 || pcm[1] != 9 {
		t.Fatalf("stereo: %v %v", pcm, err)
	}
	for name, b := range map[string][]byte{"empty": nil, "not riff": []byte("RIFX0000WAVE"), "no data": wav(8000, 1, nil, 0)[:36]} {
		if _, _, err := ParseWAV(b); !errors.Is(err, ErrWAV) {
			t.Errorf("%s: %v, want ErrWAV", name, err)
		}
	}
}

func FuzzParseWAV(f *testing.F) {
	f.Add(wav(22050, 1, []int16{1, 2, 3}, 6))
	f.Add(wav(48000, 2, []int16{1, 2}, 0))
	f.Fuzz(func(t *testing.T, b []byte) {
		pcm, rate, err := ParseWAV(b)
		if err == nil && (rate < 1000 || len(pcm) > len(b)/2) {
			t.Fatalf("rate %d, %d samples from %d bytes", rate, len(pcm), len(b))
		}
	})
}

func TestSpeechIsLongEnoughForTheCycles(t *testing.T) {
	pcm, source := Speech(context.Background())
	if _, err := exec.LookPath("espeak-ng"); err == nil && source != SpeechEspeak {
		t.Errorf("espeak-ng is installed but the speech came from %s", source)
	}
	sig := NewSignal(pcm)
	if len(sig.speech) < 5 {
		t.Errorf("%s: only %d chunks of speech", source, len(sig.speech))
	}
	for c, chunk := range sig.speech {
		var peak int16
		for _, v := range chunk {
			peak = max(peak, v, -v)
		}
		if peak < 1000 {
			t.Errorf("%s: chunk %d is nearly silent (peak %d)", source, c, peak)
		}
	}
}
