package record

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parley-lab/parley/media/record/recordtest"
)

// The test call: a 384x288 test picture at 30 fps, 20 ms Opus packets.
const (
	testW, testH = 384, 288
	testFPS      = 30
	frameDur     = time.Second / testFPS
	packetDur    = 20 * time.Millisecond
)

// newSegment starts a video and audio segment of the test call in a
// temporary directory, and the source to feed it.
func newSegment(t *testing.T) (path string, start time.Time, w *Writer, s *recordtest.Source) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "seg.webm")
	start = time.Now()
	w, err := Create(path, Tracks{Video: true, Width: testW, Height: testH, Audio: true}, start)
	if err != nil {
		t.Fatal(err)
	}
	return path, start, w, recordtest.MustSource(t, testW, testH, testFPS)
}

// checkInOrder fails unless the decoded stamps are those sent, in order.
func checkInOrder(t *testing.T, stamps, sent []uint32) {
	t.Helper()
	if len(stamps) != len(sent) {
		t.Fatalf("%d pictures decoded, %d sent", len(stamps), len(sent))
	}
	for i, s := range stamps {
		if s != sent[i] {
			t.Fatalf("picture %d carries frame %d, frame %d was sent: out of order or missing", i, s, sent[i])
		}
	}
}

// A segment of 10 s of the test call, closed in order: ffprobe sees VP8
// at the sent size and Opus, a duration within 0.5 s of the call's, and
// ffmpeg decodes every picture sent, in order, without a complaint.
func TestSegmentPlaysInFFmpeg(t *testing.T) {
	recordtest.NeedFFmpeg(t)
	path, start, w, s := newSegment(t)
	const d = 10 * time.Second
	recordtest.Feed(w, s, start, d)
	sum, err := w.Close(start.Add(d))
	if err != nil {
		t.Fatal(err)
	}
	if sum.VideoFrames != len(s.Sent) || sum.AudioPackets != int(d/packetDur) || sum.Dropped != 0 {
		t.Fatalf("summary %+v: %d frames and %d packets were sent", sum, len(s.Sent), d/packetDur)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() != sum.Bytes {
		t.Fatalf("file size %v (%v), summary says %d", fi.Size(), err, sum.Bytes)
	}
	p := recordtest.Probe(t, path)
	for _, st := range p.Streams {
		if st.CodecType == "video" && (st.Width != testW || st.Height != testH) {
			t.Fatalf("video %dx%d, sent %dx%d", st.Width, st.Height, testW, testH)
		}
	}
	if c := p.Codecs(); c["video"] != "vp8" || c["audio"] != "opus" || len(p.Streams) != 2 {
		t.Fatalf("streams %+v, want vp8 and opus", p.Streams)
	}
	if got := p.Duration(); got < d-500*time.Millisecond || got > d+500*time.Millisecond {
		t.Fatalf("duration %v, the call was %v", got, d)
	}
	stamps, complaints := recordtest.Stamps(t, path, testW, testH)
	if complaints != "" {
		t.Fatalf("ffmpeg complained:\n%s", complaints)
	}
	checkInOrder(t, stamps, s.Sent)
	// Audio decodes too, to about the call's length.
	if got := recordtest.AudioLength(t, path); got < d-100*time.Millisecond || got > d+100*time.Millisecond {
		t.Fatalf("%v of audio decoded, %v sent", got, d)
	}
}

// An audio-only segment (a session recording audio) plays as Opus alone.
func TestAudioOnlySegment(t *testing.T) {
	recordtest.NeedFFmpeg(t)
	path := filepath.Join(t.TempDir(), "seg.webm")
	start := time.Now()
	w, err := Create(path, Tracks{Audio: true}, start)
	if err != nil {
		t.Fatal(err)
	}
	s := recordtest.MustSource(t, testW, testH, testFPS)
	for i := range 150 {
		w.Audio(s.Audio(), start.Add(time.Duration(i)*packetDur))
	}
	if _, err := w.Close(start.Add(3 * time.Second)); err != nil {
		t.Fatal(err)
	}
	p := recordtest.Probe(t, path)
	if len(p.Streams) != 1 || p.Streams[0].CodecName != "opus" {
		t.Fatalf("streams %+v, want opus alone", p.Streams)
	}
}

// Pictures and packets that come with the same or an earlier time (a
// source that fell behind, then delivered at once) are still written with
// increasing timecodes: ffmpeg decodes them all, without a complaint,
// both in a steady 30 fps stream with a pair or three at one time, and
// when every picture comes three at a time.
func TestSameTimeFramesStayInOrder(t *testing.T) {
	recordtest.NeedFFmpeg(t)
	for _, c := range []struct {
		name string
		at   func(i int) int // the frame time picture i is handed over with
	}{
		{"a steady stream with bunches", func(i int) int {
			switch i {
			case 41:
				return 40
			case 61, 62:
				return 60
			}
			return i
		}},
		{"three at a time", func(i int) int { return i / 3 * 3 }},
	} {
		t.Run(c.name, func(t *testing.T) {
			path, start, w, s := newSegment(t)
			for i := range 90 {
				at := start.Add(time.Duration(c.at(i)) * frameDur)
				w.Video(s.Video(start.Add(time.Duration(i)*frameDur)), at)
				w.Audio(s.Audio(), at)
			}
			if _, err := w.Close(start.Add(3 * time.Second)); err != nil {
				t.Fatal(err)
			}
			stamps, complaints := recordtest.Stamps(t, path, testW, testH)
			if complaints != "" {
				t.Fatalf("ffmpeg complained:\n%s", complaints)
			}
			checkInOrder(t, stamps, s.Sent)
		})
	}
}

// A segment is never written over an existing file.
func TestCreateNeverOverwrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "seg.webm")
	if err := os.WriteFile(path, []byte("kept"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Create(path, Tracks{Audio: true}, time.Now()); err == nil {
		t.Fatal("Create wrote over an existing file")
	}
	if b, _ := os.ReadFile(path); string(b) != "kept" {
		t.Fatalf("the existing file now holds %q", b)
	}
	if _, err := Create(filepath.Join(t.TempDir(), "x.webm"), Tracks{}, time.Now()); err == nil {
		t.Fatal("a segment without tracks was made")
	}
}

// The kill test's child: it records the test call in real time into the
// file PARLEY_RECORD_CHILD names and prints each picture's number once it
// is queued, until it is killed.
func TestMain(m *testing.M) {
	if path := os.Getenv("PARLEY_RECORD_CHILD"); path != "" {
		recordUntilKilled(path)
		return
	}
	os.Exit(m.Run())
}

func recordUntilKilled(path string) {
	start := time.Now()
	w, err := Create(path, Tracks{Video: true, Width: testW, Height: testH, Audio: true}, start)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	s, err := recordtest.NewSource(testW, testH, testFPS)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	next := start
	var a time.Duration
	for n := 0; ; n++ {
		if d := time.Until(next); d > 0 {
			time.Sleep(d)
		}
		at := start.Add(time.Duration(n) * frameDur)
		f := s.Video(at)
		w.Video(f, at)
		for ; a <= time.Duration(n)*frameDur; a += packetDur {
			w.Audio(s.Audio(), start.Add(a))
		}
		if len(f) > 0 {
			fmt.Println(n) // queued (the encoder did not drop it)
		}
		next = next.Add(frameDur)
	}
}

// A recording process killed with SIGKILL mid-segment leaves a file that,
// once repaired, decodes in order up to within 2 s of the kill.
func TestKilledRecordingPlaysToNearTheKill(t *testing.T) {
	recordtest.NeedFFmpeg(t)
	path := filepath.Join(t.TempDir(), "seg.webm")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "PARLEY_RECORD_CHILD="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Kill it once 4 s of pictures are queued (however long that takes,
	// up to childLimit: a child that stops printing is killed then, and
	// the scan ends short).
	const killAfter = 4 * testFPS
	const childLimit = time.Minute
	limit := time.AfterFunc(childLimit, func() { cmd.Process.Kill() })
	defer limit.Stop()
	sc := bufio.NewScanner(out)
	last := -1
	var sent []uint32
	for sc.Scan() && last < killAfter {
		if strings.HasPrefix(sc.Text(), "error") {
			t.Fatal(sc.Text())
		}
		last, _ = strconv.Atoi(sc.Text())
		sent = append(sent, uint32(last))
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if last < killAfter {
		t.Fatalf("the recording child stopped at frame %d (or took over %v)", last, childLimit)
	}
	rec, err := Recover(path)
	if err != nil {
		t.Fatal(err)
	}
	stamps, _ := recordtest.Stamps(t, path, testW, testH)
	t.Logf("killed after frame %d queued; recovery cut %d bytes, found %d pictures to %d ms; %d pictures decode",
		last, rec.Cut, rec.VideoFrames, rec.LastMS, len(stamps))
	if len(stamps) < len(sent)-2*testFPS || len(stamps) > len(sent)+testFPS {
		t.Fatalf("%d pictures decode, %d were queued before the kill: more than 2 s lost", len(stamps), len(sent))
	}
	if rec.VideoFrames != len(stamps) {
		t.Fatalf("recovery counted %d pictures, %d decode", rec.VideoFrames, len(stamps))
	}
	// The patched Duration is the last frame's time, as Close would have written.
	if d := recordtest.Probe(t, path).Duration(); absDur(d-time.Duration(rec.LastMS)*time.Millisecond) > 50*time.Millisecond {
		t.Fatalf("the recovered file says it lasts %v, its last frame is at %d ms", d, rec.LastMS)
	}
	// Those that decode are the first ones queued (the child may have
	// queued a few more between its last line read and the kill).
	checkInOrder(t, stamps[:min(len(stamps), len(sent))], sent[:min(len(stamps), len(sent))])
	// Recovered once, it is a closed segment.
	if again, err := Recover(path); err != nil || !again.Closed || again.Cut != 0 {
		t.Fatalf("a second recovery: %+v (%v), want a closed segment left as it is", again, err)
	}
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// Frames captured just before the segment's time zero: the picture (the
// segment's first keyframe) is shown from zero, the sound is left out, and
// every picture has a presentation time.
func TestFramesFromBeforeTheStart(t *testing.T) {
	recordtest.NeedFFmpeg(t)
	path, start, w, s := newSegment(t)
	early := start.Add(-30 * time.Millisecond)
	w.Audio(s.Audio(), early)
	w.Video(s.Video(early), early)
	recordtest.Feed(w, s, start.Add(frameDur), time.Second)
	sum, err := w.Close(start.Add(time.Second + frameDur))
	if err != nil {
		t.Fatal(err)
	}
	if sum.AudioPackets != 50 {
		t.Fatalf("%d audio packets written, want the 50 from the start on", sum.AudioPackets)
	}
	pics, complaints := recordtest.Pictures(t, path, testW, testH)
	if complaints != "" || len(pics) != len(s.Sent) {
		t.Fatalf("%d pictures decode of %d (%s)", len(pics), len(s.Sent), complaints)
	}
	if pics[0].PTS != 0 || pics[0].Frame != 0 {
		t.Fatalf("the early picture is frame %d at %v, want frame 0 at 0", pics[0].Frame, pics[0].PTS)
	}
	for i, p := range pics {
		if p.PTS < 0 {
			t.Fatalf("picture %d has no presentation time", i)
		}
	}
}
