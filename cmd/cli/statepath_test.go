package cli

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/parley-lab/parley/signaling/client"
)

// TestStatePathKey: the kiosk's state file is one per server, room and
// seat, in $XDG_STATE_HOME/parley; state_file overrides it.
func TestStatePathKey(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_STATE_HOME", dir)
	base := KioskConfig{Server: "ws://lab:8480/ws", Room: "econlab", Seat: "pc-07"}
	p := base.StatePath()
	if filepath.Dir(p) != filepath.Join(dir, "parley") || !strings.HasPrefix(filepath.Base(p), "kiosk-") || filepath.Ext(p) != ".json" {
		t.Fatalf("state path %s, want kiosk-*.json in %s/parley", p, dir)
	}
	if again := base.StatePath(); again != p {
		t.Fatalf("the same kiosk gets %s and %s", p, again)
	}
	seen := map[string]string{p: "base"}
	for name, mod := range map[string]func(*KioskConfig){
		"server": func(c *KioskConfig) { c.Server = "ws://other:8480/ws" },
		"room":   func(c *KioskConfig) { c.Room = "lab" },
		"seat":   func(c *KioskConfig) { c.Seat = "pc-08" },
		// The key's parts are kept apart: "a"+"bc" is not "ab"+"c".
		"split": func(c *KioskConfig) { c.Room, c.Seat = "econla", "bpc-07" },
	} {
		c := base
		mod(&c)
		q := c.StatePath()
		if other, ok := seen[q]; ok {
			t.Errorf("%s: the same state file as %s: %s", name, other, q)
		}
		seen[q] = name
	}
	c := base
	c.StateFile = filepath.Join(dir, "mine.json")
	if c.StatePath() != c.StateFile {
		t.Fatalf("state_file set: %s", c.StatePath())
	}
}

// TestSecondKioskOnTheSameStateIsRefused: a second kiosk with the same
// server, room and seat (the seat defaults to the host name) stops with
// the state file's name and what to set, instead of taking the first
// one's place at the server.
func TestSecondKioskOnTheSameStateIsRefused(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_STATE_HOME", dir)
	file := write(t, dir, "kiosk.toml", "server = \"ws://127.0.0.1:1/ws\"\nroom = \"lab\"\nseat = \"pc-07\"\nvideo_source = \"none\"\naudio_source = \"none\"\n")
	cfg := KioskConfig{Server: "ws://127.0.0.1:1/ws", Room: "lab", Seat: "pc-07"}
	first, err := client.NewSession(client.SessionConfig{URL: cfg.Server, Room: cfg.Room, Seat: cfg.Seat, StateFile: cfg.StatePath()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close(false)
	_, errs, code := run(t, nil, "--window", "--config", file)
	for _, want := range []string{cfg.StatePath(), "in use by another kiosk", `seat ("pc-07")`, "--seat", EnvSeat} {
		if !strings.Contains(errs, want) {
			t.Errorf("the second kiosk's error lacks %q", want)
		}
	}
	if code == 0 || t.Failed() {
		t.Fatalf("exit %d, stderr:\n%s", code, errs)
	}
}
