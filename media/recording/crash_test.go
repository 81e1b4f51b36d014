package recording

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/parley-lab/parley/media/record/recordtest"
	"github.com/parley-lab/parley/signaling/client"
	"github.com/parley-lab/parley/signaling/protocol"
	"github.com/parley-lab/parley/signaling/server"
	"github.com/parley-lab/parley/signaling/testkit"
)

// crashEnv names the recordings directory of the child that records until
// it is killed; whoEnv holds its participant (a Start, as JSON).
const (
	crashEnv = "PARLEY_RECORDING_CHILD"
	whoEnv   = "PARLEY_RECORDING_WHO"
)

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
	var who Start
	if err := json.Unmarshal([]byte(os.Getenv(whoEnv)), &who); err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	if _, err := r.Start(who); err != nil {
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

// recordingServer is a server on loopback whose room "lab" records audio
// and video; it stops at the test's end.
func recordingServer(t *testing.T, dir string) *server.Server {
	t.Helper()
	srv, err := server.Start(server.Config{DataDir: filepath.Join(dir, "srv"), Listen: "127.0.0.1:0",
		Rooms: []server.Room{{Name: "lab", AutoSession: true, Defaults: server.SessionSettings{Record: protocol.RecordAudioVideo}}}},
		server.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

// joinRecorded joins a participant who consents to a session that
// records, and returns who they are for a recorder.
func joinRecorded(t *testing.T, srv *server.Server) Start {
	t.Helper()
	h := &welcomes{got: make(chan *protocol.Welcome, 4)}
	sess, err := client.NewSession(client.SessionConfig{URL: srv.URL(), Room: "lab", Seat: "w1", Log: quiet}, h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sess.Close(false) })
	sess.Start("Ann")
	var w *protocol.Welcome
	select {
	case w = <-h.got:
	case <-time.After(time.Minute):
		t.Fatal("no welcome")
	}
	sess.Send(protocol.TypeConsent, protocol.Consent{Given: true, Language: "en"})
	testkit.Eventually(t, "the consent stored", func() bool {
		ps, _ := srv.Hub().Participants(w.Session)
		return len(ps) == 1 && ps[0].Consent == protocol.ConsentGiven
	})
	return Start{Server: srv.URL(), Token: w.Token, Session: w.Session, Participant: w.ParticipantID, Mode: protocol.RecordAudioVideo}
}

type welcomes struct{ got chan *protocol.Welcome }

func (w *welcomes) Online(bool) {}
func (w *welcomes) Message(typ, ref string, body any) {
	if b, ok := body.(*protocol.Welcome); ok {
		w.got <- b
	}
}

// A kiosk killed with SIGKILL mid-recording: at the next start its segment
// is recovered (closed, marked repaired, ended where its last frame is),
// reported once as stopped by the crash, and its file plays to within 2 s
// of the kill; then it is uploaded, the server confirms its checksum, and
// only then is the kiosk's copy deleted.
func TestKilledKioskSegmentIsRecoveredAndUploaded(t *testing.T) {
	recordtest.NeedFFmpeg(t)
	dir := t.TempDir()
	srv := recordingServer(t, dir)
	who := joinRecorded(t, srv)
	whoJSON, _ := json.Marshal(who)
	kiosk := filepath.Join(dir, "kiosk")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashEnv+"="+kiosk, whoEnv+"="+string(whoJSON))
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

	// The restarted kiosk: Open recovers the segment and uploads it.
	r := openRecorder(t, kiosk, &tap{}, &clock{t: time.Now()})
	reports := r.Recovered(who.Participant)
	if len(reports) != 1 || reports[0].State != protocol.RecordingStopped || reports[0].Reason != protocol.SegmentCrash || reports[0].Seq != 1 {
		t.Fatalf("recovered reports %+v", reports)
	}
	if again := r.Recovered(who.Participant); len(again) != 0 {
		t.Fatalf("reported twice: %+v", again)
	}
	testkit.Eventually(t, "the recovered segment uploaded", func() bool { return r.Pending() == 0 })
	recs, err := srv.Store().Recordings(who.Session)
	if err != nil || len(recs) != 1 {
		t.Fatalf("the server has %d segments (%v), want the recovered one", len(recs), err)
	}
	e := recs[0]
	path := filepath.Join(dir, "srv", e.Path)
	if e.CompleteMS == 0 || !e.Repaired || e.EndReason != protocol.SegmentCrash || e.SHA256 != fileSHA(t, path) {
		t.Fatalf("the server's segment %+v", e)
	}
	m, err := loadManifest(filepath.Join(kiosk, who.Session, who.Participant))
	if err != nil {
		t.Fatal(err)
	}
	if m.Segments[0].State != stateUploaded {
		t.Fatalf("the kiosk's manifest says %q", m.Segments[0].State)
	}
	if _, err := os.Stat(filepath.Join(m.dir, m.Segments[0].File)); !os.IsNotExist(err) {
		t.Fatalf("the kiosk kept its copy after the server confirmed it: %v", err)
	}
	if lost := killedAt.UnixMilli() - e.EndMS; lost < 0 || lost > 2000 {
		t.Fatalf("the recovered segment ends %d ms before the kill", lost)
	}
	stamps, _ := recordtest.Stamps(t, path, testW, testH)
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

// A segment finished while the server is down stays on the kiosk, counted
// as pending, and goes up when the server is back (same address, same data).
func TestUploadWaitsForTheServer(t *testing.T) {
	dir := t.TempDir()
	start := func(addr string) *server.Server {
		t.Helper()
		srv, err := server.Start(server.Config{DataDir: filepath.Join(dir, "srv"), Listen: addr,
			Rooms: []server.Room{{Name: "lab", AutoSession: true, Defaults: server.SessionSettings{Record: protocol.RecordAudioVideo}}}},
			server.WithLogger(quiet))
		if err != nil {
			t.Fatal(err)
		}
		return srv
	}
	srv := start("127.0.0.1:0")
	addr := srv.Addr()
	who := joinRecorded(t, srv)
	srv.Close()

	tp := &tap{}
	c := &clock{t: time.Now()}
	r := openRecorder(t, filepath.Join(dir, "kiosk"), tp, c)
	if _, err := r.Start(who); err != nil {
		t.Fatal(err)
	}
	recordtest.Feed(tp, recordtest.MustSource(t, testW, testH, testFPS), c.now(), 2*time.Second)
	c.add(2 * time.Second)
	if _, _, err := r.Stop(who, protocol.SegmentCallEnded, true); err != nil {
		t.Fatal(err)
	}
	r.Upload() // refused: nobody listens
	if n := r.Pending(); n != 1 {
		t.Fatalf("%d pending with the server down, want 1", n)
	}

	srv = start(addr)
	defer srv.Close()
	r.Upload() // as the engine does when the server answers again
	testkit.Eventually(t, "the segment uploaded", func() bool { return r.Pending() == 0 })
	recs, err := srv.Store().Recordings(who.Session)
	if err != nil || len(recs) != 1 || recs[0].CompleteMS == 0 || !recs[0].Final {
		t.Fatalf("the server's segments: %+v (%v)", recs, err)
	}
	// The participant's discussion is over and all of it is on the server:
	// nothing of them is left on the workstation.
	if _, err := os.Stat(filepath.Join(dir, "kiosk", who.Session, who.Participant)); !os.IsNotExist(err) {
		t.Fatalf("the participant's recording directory is still there: %v", err)
	}
}
