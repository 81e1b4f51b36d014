package server

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/parley-lab/parley/signaling/protocol"
	"github.com/parley-lab/parley/signaling/testkit"
)

// TestExperimenterPostsAndWebhooksAreLogged: an experimenter's message and
// a webhook added or removed are one info line each, like the other
// controls, without the message's text or the webhook's secret.
func TestExperimenterPostsAndWebhooksAreLogged(t *testing.T) {
	checkGoroutines(t)
	var logs testkit.Log
	s, err := New(Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0"}, WithLogger(slog.New(slog.NewTextHandler(&logs, nil))), WithClock(newFakeClock()))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sv, err := s.Hub().CreateSession(DefaultRoom, nil)
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.Hub().PostMessage(sv.Code, protocol.ChannelExperimenter, "", "Two minutes left, the answer is 42")
	if err != nil {
		t.Fatal(err)
	}
	w, err := s.Hub().AddWebhook(sv.Code, "", "http://127.0.0.1:1/hook?token=s3cret")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Hub().DeleteWebhook(w.ID); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`msg="experimenter message" session=` + sv.Code + ` channel=experimenter role=experimenter message=` + m.ID,
		`msg="webhook added" session=` + sv.Code + ` channel="" webhook=` + w.ID + ` host=127.0.0.1:1`,
		`msg="webhook removed" session=` + sv.Code + ` webhook=` + w.ID,
	} {
		if !logs.Contains(want) {
			t.Errorf("the log lacks %q:\n%s", want, logs.String())
		}
	}
	for _, secret := range []string{"the answer is 42", "s3cret"} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("the log holds %q", secret)
		}
	}
}
