package cli

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-lab/parley/media/kit"
	"github.com/parley-lab/parley/media/local"
	"github.com/parley-lab/parley/media/recording"
	"github.com/parley-lab/parley/signaling/client"
	"github.com/parley-lab/parley/signaling/participant/engine"
	"github.com/parley-lab/parley/signaling/protocol"
	"github.com/parley-lab/parley/signaling/testkit"
)

// TestKioskExitNeverWaitsForAnUpload: the kiosk's participant has left
// (the end action "quit" or the exit PIN) while a recording's upload
// hangs on a server that stopped answering; closing it after the window
// is gone ends within KioskCloseLimit, not the upload request's minute.
func TestKioskExitNeverWaitsForAnUpload(t *testing.T) {
	var held atomic.Int32
	release := make(chan struct{})
	stalled := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		held.Add(1)
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer stalled.Close()
	defer close(release)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	dir := t.TempDir()
	url := "ws" + strings.TrimPrefix(stalled.URL, "http") + "/ws"
	p, err := local.Open(kit.Options{VideoSource: kit.SourceNone, AudioSource: kit.SourceTest, Log: quiet},
		engine.Config{Session: client.SessionConfig{URL: url, Room: "lab", Seat: "s1", StateFile: filepath.Join(dir, "state.json")}, Log: quiet},
		filepath.Join(dir, "recordings"))
	if err != nil {
		t.Fatal(err)
	}
	who := recording.Start{Server: url, Token: "tok", Session: "S1", Participant: "p_1", Mode: protocol.RecordAudio}
	if _, err := p.Recorder.Start(who); err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.Recorder.Stop(who, protocol.SegmentCallEnded, true); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "the upload under way", func() bool { return held.Load() > 0 })
	p.Engine.Leave() // what the kiosk's end action does before it quits
	start := time.Now()
	if !closeWithin(p.Close, KioskCloseLimit, quiet) {
		t.Fatalf("closing the participant was abandoned after %v: it waits for the upload", KioskCloseLimit)
	}
	t.Logf("closed in %v", time.Since(start))
	if n := p.Recorder.Pending(); n != 1 {
		t.Fatalf("%d segments pending after the exit, want the one not uploaded kept for the next start", n)
	}
}
