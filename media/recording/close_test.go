package recording

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-lab/parley/media/record/recordtest"
	"github.com/parley-lab/parley/signaling/protocol"
	"github.com/parley-lab/parley/signaling/testkit"
)

// stallingProxy stands before a lab server: while stalling, an upload
// request is held until its client gives up (a server or a network that
// stopped answering); otherwise requests go through.
type stallingProxy struct {
	*httptest.Server
	stalling atomic.Bool
	held     atomic.Int32
	release  chan struct{} // closed at the end of the test
}

func newStallingProxy(t *testing.T, target string) *stallingProxy {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &stallingProxy{release: make(chan struct{})}
	rp := httputil.NewSingleHostReverseProxy(u)
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p.stalling.Load() && strings.HasPrefix(r.URL.Path, protocol.RecordingsPath) {
			// With the body read, the server notices the client going.
			io.Copy(io.Discard, r.Body)
			p.held.Add(1)
			select {
			case <-r.Context().Done():
			case <-p.release:
			}
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(func() { close(p.release); p.Close() })
	return p
}

// TestCloseNeverWaitsForAnUpload: a kiosk that quits while a segment's
// upload hangs stops within StopLimit, not the request's minute; the
// segment stays on the workstation and is uploaded at the next start.
func TestCloseNeverWaitsForAnUpload(t *testing.T) {
	dir := t.TempDir()
	srv := recordingServer(t, dir)
	who := joinRecorded(t, srv)
	proxy := newStallingProxy(t, "http://"+srv.Addr())
	proxy.stalling.Store(true)
	who.Server = "ws" + strings.TrimPrefix(proxy.URL, "http") + "/ws"

	kiosk := filepath.Join(dir, "kiosk")
	tp := &tap{}
	c := &clock{t: time.Now()}
	r, err := Open(Config{Dir: kiosk, Attach: tp.attach, Video: true, Audio: true, Width: testW, Height: testH, Log: quiet, Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Start(who); err != nil {
		t.Fatal(err)
	}
	recordtest.Feed(tp, recordtest.MustSource(t, testW, testH, testFPS), c.now(), time.Second)
	c.add(time.Second)
	if _, _, err := r.Stop(who, protocol.SegmentCallEnded, true); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "the upload under way", func() bool { return proxy.held.Load() > 0 })
	start := time.Now()
	if err := r.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if d := time.Since(start); d > StopLimit {
		t.Fatalf("Close waited %v for a hanging upload (limit %v)", d, StopLimit)
	}
	m, err := loadManifest(filepath.Join(kiosk, who.Session, who.Participant))
	if err != nil {
		t.Fatal(err)
	}
	if m.Segments[0].State != stateClosed {
		t.Fatalf("the segment is %q after the cancelled upload, want it still to upload", m.Segments[0].State)
	}
	if _, err := os.Stat(filepath.Join(m.dir, m.Segments[0].File)); err != nil {
		t.Fatalf("the segment's file: %v", err)
	}
	// The next start, with the server answering again.
	proxy.stalling.Store(false)
	r2 := openRecorder(t, kiosk, &tap{}, c)
	testkit.Eventually(t, "the segment uploaded at the next start", func() bool { return r2.Pending() == 0 })
	if recs, err := srv.Store().Recordings(who.Session); err != nil || len(recs) != 1 || recs[0].CompleteMS == 0 {
		t.Fatalf("the server's segments %+v (%v)", recs, err)
	}
}
