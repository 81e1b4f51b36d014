package recording

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/parley-lab/parley/media/record/recordtest"
	"github.com/parley-lab/parley/signaling/protocol"
)

const (
	testW, testH = 384, 288
	testFPS      = 30
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// tap is the kit's recording tap as the Recorder sees it: what is
// attached gets the frames fed.
type tap struct {
	mu   sync.Mutex
	sink Sink
}

func (t *tap) attach(s Sink) {
	t.mu.Lock()
	t.sink = s
	t.mu.Unlock()
}

func (t *tap) Video(frame []byte, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.sink != nil {
		t.sink.Video(frame, at)
	}
}

func (t *tap) Audio(packet []byte, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.sink != nil {
		t.sink.Audio(packet, at)
	}
}

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// unreachable is a server nobody listens on: uploads wait.
const unreachable = "ws://127.0.0.1:1/ws"

func openRecorder(t *testing.T, dir string, tp *tap, c *clock) *Recorder {
	t.Helper()
	r, err := Open(Config{Dir: dir, Attach: tp.attach, Video: true, Audio: true, Width: testW, Height: testH, Log: quiet, Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func fileSHA(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Two calls give two segments in the participant's manifest: numbered,
// in server time, the gap between them the time between the calls, each
// file a WebM of VP8 and Opus as long as its call, and nothing deleted
// while the server has not confirmed it.
func TestSegmentsOfTwoCalls(t *testing.T) {
	recordtest.NeedFFmpeg(t)
	dir := t.TempDir()
	tp := &tap{}
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	r := openRecorder(t, dir, tp, c)
	src := recordtest.MustSource(t, testW, testH, testFPS)
	who := Start{Server: unreachable, Token: "tok", Session: "S1", Participant: "p_1", Group: "S1-g1", Mode: protocol.RecordAudioVideo,
		Offset: 250 * time.Millisecond}

	st, err := r.Start(who)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != protocol.RecordingStarted || st.Seq != 1 || st.AtMS != c.now().Add(who.Offset-SegmentLead).UnixMilli() {
		t.Fatalf("start report %+v", st)
	}
	if !r.Recording() {
		t.Fatal("not recording after Start")
	}
	if _, err := r.Start(who); err == nil {
		t.Fatal("a second Start while recording was accepted")
	}
	recordtest.Feed(tp, src, c.now(), 2*time.Second)
	c.add(2 * time.Second)
	if _, ok, err := r.Stop(who, protocol.SegmentCallLost, false); !ok || err != nil {
		t.Fatalf("stop: %v %v", ok, err)
	}
	recordtest.Feed(tp, src, c.now(), time.Second) // between calls: nothing is attached
	c.add(3 * time.Second)                         // away
	if _, err := r.Start(who); err != nil {
		t.Fatal(err)
	}
	recordtest.Feed(tp, src, c.now(), time.Second)
	c.add(time.Second)
	st, ok, err := r.Stop(who, protocol.SegmentCallEnded, true)
	if !ok || err != nil || st.State != protocol.RecordingStopped || st.Reason != protocol.SegmentCallEnded || st.Seq != 2 {
		t.Fatalf("stop report %+v %v %v", st, ok, err)
	}

	m, err := loadManifest(filepath.Join(dir, "S1", "p_1"))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Segments) != 2 || !m.Ended || m.Token != "tok" || m.Server != "http://127.0.0.1:1" {
		t.Fatalf("manifest %+v", m)
	}
	first, second := m.Segments[0], m.Segments[1]
	if first.Seq != 1 || second.Seq != 2 || first.EndReason != protocol.SegmentCallLost || !second.Final || first.Final {
		t.Fatalf("segments %+v", m.Segments)
	}
	lead := SegmentLead.Milliseconds() // each segment begins that much before its call
	if second.GapBeforeMS != 3000-lead || first.EndMS-first.StartMS != 2000+lead || second.EndMS-second.StartMS != 1000+lead {
		t.Fatalf("times: first %d..%d, second %d..%d, gap %d ms; want 2 s, 3 s away, 1 s, with the segments' lead",
			first.StartMS, first.EndMS, second.StartMS, second.EndMS, second.GapBeforeMS)
	}
	if first.StartMS != time.Unix(1_800_000_000, 0).Add(who.Offset-SegmentLead).UnixMilli() {
		t.Fatalf("the first segment starts at %d, not in server time", first.StartMS)
	}
	for _, e := range m.Segments {
		path := filepath.Join(m.dir, e.File)
		if e.State != stateClosed || e.SHA256 != fileSHA(t, path) {
			t.Fatalf("segment %d: state %s, checksum %s against the file's %s", e.Seq, e.State, e.SHA256, fileSHA(t, path))
		}
		p := recordtest.Probe(t, path)
		if got := p.Codecs(); got["video"] != "vp8" || got["audio"] != "opus" {
			t.Fatalf("segment %d codecs %v", e.Seq, got)
		}
		want := time.Duration(e.EndMS-e.StartMS) * time.Millisecond
		if d := p.Duration(); d < want-100*time.Millisecond || d > want+100*time.Millisecond {
			t.Fatalf("segment %d plays %v, its call lasted %v", e.Seq, d, want)
		}
		stamps, complaints := recordtest.Stamps(t, path, testW, testH)
		if complaints != "" || len(stamps) != e.VideoFrames {
			t.Fatalf("segment %d: %d pictures decode of %d written (%s)", e.Seq, len(stamps), e.VideoFrames, complaints)
		}
	}
	if n := r.Pending(); n != 2 {
		t.Fatalf("%d segments pending with the server unreachable, want 2", n)
	}
}

// An audio-only session records Opus alone, whatever video is sent.
func TestAudioOnlySegment(t *testing.T) {
	recordtest.NeedFFmpeg(t)
	dir := t.TempDir()
	tp := &tap{}
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	r := openRecorder(t, dir, tp, c)
	who := Start{Server: unreachable, Token: "tok", Session: "S1", Participant: "p_1", Mode: protocol.RecordAudio}
	if _, err := r.Start(who); err != nil {
		t.Fatal(err)
	}
	recordtest.Feed(tp, recordtest.MustSource(t, testW, testH, testFPS), c.now(), time.Second)
	c.add(time.Second)
	if _, _, err := r.Stop(who, protocol.SegmentCallEnded, true); err != nil {
		t.Fatal(err)
	}
	m, _ := loadManifest(filepath.Join(dir, "S1", "p_1"))
	e := m.Segments[0]
	if e.VideoFrames != 0 || e.AudioPackets != 50 || len(e.Codecs) != 1 || e.Codecs[0] != protocol.CodecOpus {
		t.Fatalf("audio-only segment %+v", e.Segment)
	}
	if got := recordtest.Probe(t, filepath.Join(m.dir, e.File)).Codecs(); got["video"] != "" || got["audio"] != "opus" {
		t.Fatalf("codecs %v", got)
	}
}

// A discussion that ends while the call is down marks the last segment
// final, so the server learns that the recording is complete.
func TestEndWithoutCallMarksLastSegmentFinal(t *testing.T) {
	dir := t.TempDir()
	tp := &tap{}
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	r := openRecorder(t, dir, tp, c)
	who := Start{Server: unreachable, Token: "tok", Session: "S1", Participant: "p_1", Mode: protocol.RecordAudio}
	if _, err := r.Start(who); err != nil {
		t.Fatal(err)
	}
	c.add(time.Second)
	r.Stop(who, protocol.SegmentCallLost, false)
	if _, ok, err := r.Stop(who, protocol.SegmentCallEnded, true); ok || err != nil {
		t.Fatalf("a stop with nothing open: %v %v", ok, err)
	}
	m, _ := loadManifest(filepath.Join(dir, "S1", "p_1"))
	if !m.Ended || !m.Segments[0].Final {
		t.Fatalf("manifest %+v", m)
	}
}

// Nothing to record (no camera, no microphone) is an error, not an empty file.
func TestNothingToRecord(t *testing.T) {
	r, err := Open(Config{Dir: t.TempDir(), Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := r.Start(Start{Server: unreachable, Session: "S", Participant: "p", Mode: protocol.RecordAudioVideo}); err == nil {
		t.Fatal("a recorder with nothing sent started a segment")
	}
}

func TestUploadBase(t *testing.T) {
	for in, want := range map[string]string{
		"ws://lab:8480/ws":          "http://lab:8480",
		"wss://lab.example.org/ws":  "https://lab.example.org",
		"wss://lab.example.org/x/y": "https://lab.example.org",
	} {
		if got := uploadBase(in); got != want {
			t.Errorf("uploadBase(%q) = %q, want %q", in, got, want)
		}
	}
}
