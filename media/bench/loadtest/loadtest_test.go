package loadtest

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/parley-lab/parley/signaling/server"
)

// TestEveryAcknowledgedMessageIsDeliveredAndStored runs a small load: the
// figures that matter for correctness (nothing lost, everything stored) are
// asserted; speed is left to `parley bench`.
func TestEveryAcknowledgedMessageIsDeliveredAndStored(t *testing.T) {
	dir := t.TempDir()
	srv, err := server.New(server.Config{DataDir: dir, Listen: "127.0.0.1:0",
		Rooms: []server.Room{{Name: "load", AutoSession: true, Defaults: server.SessionSettings{RateBurst: 100, RatePerSecond: 100}}}},
		server.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	go srv.Serve()
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := Run(ctx, Options{URL: "ws://" + srv.Addr() + "/ws", Room: "load", Participants: 40,
		Duration: time.Second, Interval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", res.Summary())
	if res.Sent == 0 || res.Acked != res.Sent || res.Lost != 0 || res.Refused != 0 || res.Delivered != res.Acked {
		t.Fatalf("sent %d, acked %d, delivered %d, lost %d, refused %d", res.Sent, res.Acked, res.Delivered, res.Lost, res.Refused)
	}
	sessions, _ := srv.Store().Sessions()
	var stored int
	for _, s := range sessions {
		msgs, _ := srv.Store().Messages(s.Code, "", 0)
		stored += len(msgs)
	}
	if int64(stored) != res.Acked {
		t.Fatalf("%d messages stored, %d acknowledged", stored, res.Acked)
	}
}
