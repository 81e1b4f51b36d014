// Package recordtest plays recordings back for tests, with Debian's ffmpeg
// (ffprobe for what a file holds, ffmpeg to decode its pictures and read
// the test source's stamps).
package recordtest

import (
	"bytes"
	"encoding/json"
	"image"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/parley-lab/parley/media/testsrc"
)

// NeedFFmpeg skips the test without ffprobe and ffmpeg, or fails it when
// PARLEY_REQUIRE_FFMPEG is set (CI installs them).
func NeedFFmpeg(t testing.TB) {
	t.Helper()
	_, err1 := exec.LookPath("ffprobe")
	_, err2 := exec.LookPath("ffmpeg")
	if err1 != nil || err2 != nil {
		if os.Getenv("PARLEY_REQUIRE_FFMPEG") != "" {
			t.Fatal("ffprobe and ffmpeg are needed (apt-get install ffmpeg)")
		}
		t.Skip("no ffprobe or ffmpeg (apt-get install ffmpeg)")
	}
}

// Stream is one of a file's streams, as ffprobe sees it.
type Stream struct {
	CodecName string `json:"codec_name"`
	CodecType string `json:"codec_type"`
	Width     int    `json:"width"`
	Height    int    `json:"height"`
}

// Probed is what ffprobe says of a file.
type Probed struct {
	Streams []Stream `json:"streams"`
	Format  struct {
		Duration string `json:"duration"`
	} `json:"format"`
}

// Codecs maps a stream type ("video", "audio") to its codec.
func (p Probed) Codecs() map[string]string {
	c := map[string]string{}
	for _, s := range p.Streams {
		c[s.CodecType] = s.CodecName
	}
	return c
}

// Duration is the file's duration, or -1 when ffprobe gives none.
func (p Probed) Duration() time.Duration {
	s, err := strconv.ParseFloat(p.Format.Duration, 64)
	if err != nil {
		return -1
	}
	return time.Duration(s * float64(time.Second))
}

// Probe runs ffprobe on path.
func Probe(t testing.TB, path string) Probed {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-print_format", "json", "-show_streams", "-show_format", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	var p Probed
	if err := json.Unmarshal(out, &p); err != nil {
		t.Fatalf("ffprobe's answer on %s: %v", path, err)
	}
	return p
}

// Picture is one decoded picture of the test source: its stamp (frame
// number and capture time) and where the file puts it (PTS; -1 when
// ffprobe gives no time for it).
type Picture struct {
	Frame    uint32
	Captured time.Time
	PTS      time.Duration
}

// Stamps decodes path's w x h video and reads each picture's test-source
// frame number, each decoded picture once (no frame-rate conversion);
// complaints is what ffmpeg printed as errors.
func Stamps(t testing.TB, path string, w, h int) (stamps []uint32, complaints string) {
	t.Helper()
	pics, complaints := Pictures(t, path, w, h)
	for _, p := range pics {
		stamps = append(stamps, p.Frame)
	}
	return stamps, complaints
}

// Pictures decodes path's w x h video: each picture once, with its stamp
// and its presentation time in the file.
func Pictures(t testing.TB, path string, w, h int) (pics []Picture, complaints string) {
	t.Helper()
	cmd := exec.Command("ffmpeg", "-v", "error", "-i", path, "-map", "0:v",
		// Each picture once, stamped in the file's own millisecond time
		// base: in ffmpeg's default (the guessed frame rate) two pictures a
		// millisecond apart share a time, and it complains.
		"-fps_mode", "passthrough", "-enc_time_base", "-1", "-f", "rawvideo", "-pix_fmt", "yuv420p", "-")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	raw, err := cmd.Output()
	if err != nil {
		t.Fatalf("ffmpeg %s: %v\n%s", path, err, stderr.String())
	}
	pts := framePTS(t, path)
	size := w * h * 3 / 2
	for off := 0; off+size <= len(raw); off += size {
		img := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
		copy(img.Y, raw[off:off+w*h])
		copy(img.Cb, raw[off+w*h:off+w*h*5/4])
		copy(img.Cr, raw[off+w*h*5/4:off+size])
		st, ok := testsrc.ReadStamp(img, time.Now())
		if !ok {
			t.Fatalf("%s: decoded picture %d has no readable stamp", path, len(pics))
		}
		p := Picture{Frame: st.Frame, Captured: st.Captured, PTS: -1}
		if len(pics) < len(pts) {
			p.PTS = pts[len(pics)]
		}
		pics = append(pics, p)
	}
	return pics, stderr.String()
}

// framePTS is the presentation time of each of path's video frames, in
// decoding order (as ffmpeg passes them through).
func framePTS(t testing.TB, path string) []time.Duration {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "frame=pts_time",
		"-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatalf("ffprobe frames of %s: %v", path, err)
	}
	var pts []time.Duration
	for _, l := range bytes.Fields(out) {
		s, err := strconv.ParseFloat(string(bytes.TrimRight(l, ",")), 64)
		if err != nil {
			pts = append(pts, -1) // "N/A": kept in its place
			continue
		}
		pts = append(pts, time.Duration(s*float64(time.Second)).Round(time.Millisecond))
	}
	return pts
}

// AudioLength decodes path's audio and reports how long it plays.
func AudioLength(t testing.TB, path string) time.Duration {
	t.Helper()
	out, err := exec.Command("ffmpeg", "-v", "error", "-i", path, "-map", "0:a", "-f", "s16le", "-ac", "1", "-ar", "48000", "-").Output()
	if err != nil {
		t.Fatalf("ffmpeg audio of %s: %v", path, err)
	}
	return time.Duration(len(out)/2) * time.Second / 48000
}
