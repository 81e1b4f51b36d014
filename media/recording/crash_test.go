package recording

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/parley-lab/parley/media/record/recordtest"
	"github.com/parley-lab/parley/signaling/protocol"
)

// crashEnv names the recordings directory of the child that records until
// it is killed.
const crashEnv = "PARLEY_RECORDING_CHILD"

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashEnv); dir != "" {
		recordUntilKilled(dir)
		return
	}
	os.Exit(m.Run())
}

// recordUntilKilled is the child: a segment of the test call in real
// time, printing each picture's number once it is handed to the recorder.
func recordUntilKilled(dir string) {
	tp := &tap{}
	r, err := Open(Config{Dir: dir, Attach: tp.attach, Video: true, Audio: true, Width: testW, Height: testH, Log: quiet})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	src, err := recordtest.NewSource(testW, testH, testFPS)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	if _, err := r.Start(crashWho); err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	start := time.Now()
	frameDur := time.Second / testFPS
	var a time.Duration
	for n := 0; ; n++ {
		at := start.Add(time.Duration(n) * frameDur)
		if d := time.Until(at); d > 0 {
			time.Sleep(d)
		}
		f := src.Video(at)
		tp.Video(f, at)
		for ; a <= time.Duration(n)*frameDur; a += recordtest.PacketDur {
			tp.Audio(src.Audio(), start.Add(a))
		}
		if len(f) > 0 {
			fmt.Println(n)
		}
	}
}

var crashWho = Start{Server: unreachable, Token: "tok", Session: "S1", Participant: "p_1", Group: "S1-g1", Mode: protocol.RecordAudioVideo}

// A kiosk killed with SIGKILL mid-recording: at the next start its segment
// is recovered (closed, marked repaired, ended where its last frame is),
// reported once as stopped by the crash, counted for upload, and its file
// plays to within 2 s of the kill.
func TestKilledKioskSegmentIsRecovered(t *testing.T) {
	recordtest.NeedFFmpeg(t)
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	const killAfter = 4 * testFPS
	limit := time.AfterFunc(time.Minute, func() { cmd.Process.Kill() })
	defer limit.Stop()
	sc := bufio.NewScanner(out)
	last, sent := -1, 0
	for sc.Scan() && last < killAfter {
		if n, err := strconv.Atoi(sc.Text()); err == nil {
			last, sent = n, sent+1
		} else {
			t.Fatal(sc.Text())
		}
	}
	killedAt := time.Now()
	cmd.Process.Kill()
	cmd.Wait()
	if last < killAfter {
		t.Fatalf("the recording child stopped at picture %d", last)
	}

	r := openRecorder(t, dir, &tap{}, &clock{t: time.Now()})
	reports := r.Recovered("p_1")
	if len(reports) != 1 || reports[0].State != protocol.RecordingStopped || reports[0].Reason != protocol.SegmentCrash || reports[0].Seq != 1 {
		t.Fatalf("recovered reports %+v", reports)
	}
	if again := r.Recovered("p_1"); len(again) != 0 {
		t.Fatalf("reported twice: %+v", again)
	}
	if n := r.Pending(); n != 1 {
		t.Fatalf("%d segments pending, want the recovered one", n)
	}
	m, err := loadManifest(filepath.Join(dir, "S1", "p_1"))
	if err != nil {
		t.Fatal(err)
	}
	e := m.Segments[0]
	if e.State != stateClosed || !e.Repaired || e.EndReason != protocol.SegmentCrash || e.SHA256 != fileSHA(t, filepath.Join(m.dir, e.File)) {
		t.Fatalf("recovered segment %+v", e)
	}
	if lost := killedAt.UnixMilli() - e.EndMS; lost < 0 || lost > 2000 {
		t.Fatalf("the recovered segment ends %d ms before the kill", lost)
	}
	stamps, _ := recordtest.Stamps(t, filepath.Join(m.dir, e.File), testW, testH)
	t.Logf("killed after picture %d; %d pictures recovered, ending %d ms before the kill", last, len(stamps), killedAt.UnixMilli()-e.EndMS)
	if len(stamps) < sent-2*testFPS || len(stamps) != e.VideoFrames {
		t.Fatalf("%d pictures decode (%d counted), %d were handed over before the kill", len(stamps), e.VideoFrames, sent)
	}
	for i, s := range stamps {
		if i > 0 && s <= stamps[i-1] {
			t.Fatalf("picture %d (stamp %d) after stamp %d", i, s, stamps[i-1])
		}
	}
}
