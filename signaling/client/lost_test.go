package client

import (
	"bufio"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parley-lab/parley/signaling/testkit"
)

// Chat of a participant who never joined cannot reach anyone: it is kept
// beside the state file, with its text, and the log says where but never
// what was typed.
func TestChatNobodyCanTakeIsKeptNotLogged(t *testing.T) {
	var logged testkit.Log
	state := filepath.Join(t.TempDir(), "kiosk.json")
	s, err := NewSession(SessionConfig{URL: "ws://127.0.0.1:1/ws", Room: "lab", Seat: "a", StateFile: state,
		Log: slog.New(slog.NewTextHandler(&logged, nil))}, newRecorder())
	if err != nil {
		t.Fatal(err)
	}
	id := s.Chat("group", "the secret answer is 42")
	s.Close(true)
	if strings.Contains(logged.String(), "secret") {
		t.Fatalf("the log holds what was typed:\n%s", logged.String())
	}
	if !strings.Contains(logged.String(), LostSuffix) {
		t.Errorf("the log does not say where the message is kept:\n%s", logged.String())
	}
	f, err := os.Open(state + LostSuffix)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	var got []lostChat
	for sc.Scan() {
		var l lostChat
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatal(err)
		}
		got = append(got, l)
	}
	if len(got) != 1 || got[0].ClientMsgID != id || got[0].Body != "the secret answer is 42" || got[0].Reason == "" {
		t.Fatalf("kept %+v, want the one message with its id, text and reason", got)
	}
	if fi, _ := f.Stat(); fi.Mode().Perm() != 0o600 {
		t.Errorf("the file is readable by others: %v", fi.Mode().Perm())
	}
}
