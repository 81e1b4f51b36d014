package cli

import (
	"bytes"
	"encoding/csv"
	"flag"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parley-lab/parley/signaling/protocol"
	"github.com/parley-lab/parley/signaling/server"
)

func run(t *testing.T, env map[string]string, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(args, Env{Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return env[k] }})
	return out.String(), errb.String(), code
}

func write(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		out, _, code := run(t, nil, args...)
		if code != 0 || !strings.HasPrefix(out, "parley "+Version+" (commit ") {
			t.Fatalf("%v: %d %q", args, code, out)
		}
	}
	if _, errs, code := run(t, nil, "frobnicate"); code != 2 || !strings.Contains(errs, `unknown command "frobnicate"`) {
		t.Fatalf("unknown command: %d %q", code, errs)
	}
}

func TestConfigCheck(t *testing.T) {
	dir := t.TempDir()
	good := write(t, dir, "server.toml", `
listen = ":9000"
[[rooms]]
name = "econlab"
[rooms.defaults]
duration_s = 600
[[ice_servers]]
urls = ["turn:turn.example.org:3478"]
username = "u"
credential = "c"
`)
	kiosk := write(t, dir, "kiosk.toml", `
server = "ws://lab:8480/ws"
room = "econlab"
[ui]
exit_pin_hash = "pbkdf2-sha256$100000$5ScQV51ycYsfUX79nubdZg$4nCIrXshdfkPQ7IiIBzjyCEFTi1Ct7/y0e55h3bN+fU"
language = "de"
`)
	out, errs, code := run(t, nil, "config", "check", "--server", good, "--kiosk", kiosk)
	if code != 0 || !strings.Contains(out, "ok (1 rooms, 1 ICE servers)") {
		t.Fatalf("good files refused: %d %q %q", code, out, errs)
	}
	bad := []struct{ file, body, want string }{
		{"s1.toml", "listen = \":1\"\nlisten_port = 3\n", `unknown key "listen_port"`},
		{"s2.toml", "[[rooms]]\nname = \"Econ Lab\"\n", "rooms[0].name"},
		{"s3.toml", "[[rooms]]\nname = \"a\"\n[rooms.defaults]\nmatching = \"lottery\"\n", "matching"},
		{"s4.toml", "[[ice_servers]]\nurls = [\"turn:x:3478\"]\n", "needs username and credential"},
		{"s5.toml", "listen = 5\n", "line"},
		{"s6.toml", "[[rooms]]\nname = \"a\"\n[rooms.defaults]\nrecord = \"video\"\n", "rooms[0] (a).defaults: invalid configuration: record: must be"},
	}
	for _, b := range bad {
		p := write(t, dir, b.file, b.body)
		_, errs, code := run(t, nil, "config", "check", "--server", p)
		if code == 0 || !strings.Contains(errs, b.want) || !strings.Contains(errs, p) {
			t.Errorf("%s: code %d, error %q does not name %q and the file", b.file, code, errs, b.want)
		}
	}
	for name, body := range map[string]string{
		"k1.toml": "[ui]\nexit_pin = \"12\"\n",
		"k2.toml": "server = \"http://lab\"\n[ui]\nexit_pin = \"4711\"\n",
		"k3.toml": "colour = 1\n",
		"k4.toml": "fps = 0\n[ui]\nexit_pin = \"4711\"\n",
		"k5.toml": "[ui]\nexit_pin = \"4711\"\n",
		"k6.toml": "server = \"ws://lab:8480/ws\"\n",
		"k7.toml": "lab_name = \"Decision Lab\"\n",
	} {
		p := write(t, dir, name, body)
		want := map[string]string{"k1.toml": "ui.exit_pin", "k2.toml": "server:", "k3.toml": `unknown key "colour"`, "k4.toml": "fps:",
			"k5.toml": "clear text", "k6.toml": "ui.exit_pin_hash: no exit PIN is set", "k7.toml": "belongs in the [ui] table"}[name]
		if _, errs, code := run(t, nil, "config", "check", "--kiosk", p); code == 0 || !strings.Contains(errs, want) {
			t.Errorf("%s: code %d, error %q does not name %q", name, code, errs, want)
		}
	}
}

func TestServerConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := write(t, dir, "s.toml", "listen = \":1111\"\ndata = \"/from/file\"\n")
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	listen := fs.String("listen", "", "")
	data := fs.String("data", "", "")
	cfgp := fs.String("config", "", "")
	fs.Parse([]string{"--config", file, "--listen", ":3333"})
	cfg, err := serverConfig(Env{Getenv: func(k string) string {
		return map[string]string{EnvListen: ":2222", EnvData: "/from/env"}[k]
	}}, fs, *cfgp, *listen, *data)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != ":3333" || cfg.DataDir != "/from/env" {
		t.Fatalf("flags > env > file: listen %q data %q", cfg.Listen, cfg.DataDir)
	}
}

// startEconlab serves the room "econlab" (sessions opened by hand) from dir.
func startEconlab(t *testing.T, dir string) *server.Server {
	t.Helper()
	srv, err := server.Start(server.Config{DataDir: dir, Listen: "127.0.0.1:0", Rooms: []server.Room{{Name: "econlab"}}},
		server.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	return srv
}

// TestSessionAndExportCommands drives a real server through the CLI.
func TestSessionAndExportCommands(t *testing.T) {
	dir := t.TempDir()
	srv := startEconlab(t, dir)
	defer srv.Close()
	env := map[string]string{EnvURL: "http://" + srv.Addr()}
	out, errs, code := run(t, env, "session", "create", "--data", dir, "--room", "econlab", "--duration", "90")
	if code != 0 || !strings.Contains(out, "in room econlab: open (duration 90s") {
		t.Fatalf("create: %d %q %q", code, out, errs)
	}
	code0 := strings.Fields(out)[1]
	if out, _, code = run(t, env, "session", "list", "--data", dir); code != 0 || !strings.Contains(out, code0) {
		t.Fatalf("list: %q", out)
	}
	if out, errs, code = run(t, env, "session", "post", "--data", dir, code0, "experimenter", "Welcome, everyone"); code != 0 || !strings.Contains(out, "(seq 1)") {
		t.Fatalf("post: %d %q %q", code, out, errs)
	}
	if _, errs, code = run(t, env, "session", "start", "--token", "wrong-token-xxxxxxxx", code0); code != 1 || !strings.Contains(errs, "401") {
		t.Fatalf("wrong token: %d %q", code, errs)
	}
	// Flags may follow the arguments; help needs no token and shows only
	// the command's own flags.
	if out, errs, code = run(t, env, "session", "participants", code0, "--data", dir, "--json"); code != 0 || !strings.HasPrefix(strings.TrimSpace(out), "[") {
		t.Fatalf("participants CODE --json: %d %q %q", code, out, errs)
	}
	if out, errs, code = run(t, nil, "session", "--help"); code != 0 || !strings.Contains(out, "post CODE CHANNEL TEXT") {
		t.Fatalf("session --help: %d %q %q", code, out, errs)
	}
	if _, errs, code = run(t, nil, "session", "list", "--help"); code != 0 || strings.Contains(errs, "-matching") || !strings.Contains(errs, "-token") {
		t.Fatalf("session list --help: %d %q", code, errs)
	}
	if out, errs, code = run(t, env, "session", "start", code0, "--data", dir); code != 0 || !strings.Contains(out, "0 groups formed now, 0 left without a group") {
		t.Fatalf("start: %d %q %q", code, out, errs)
	}
	if _, errs, code = run(t, env, "session", "post", code0, "group:1", "hello", "--data", dir); code != 1 || !strings.Contains(errs, "has no group 1") {
		t.Fatalf("post to a group that is not there: %d %q", code, errs)
	}
	if out, errs, code = run(t, env, "session", "time", code0, "all", "60", "--data", dir); code != 0 || !strings.Contains(out, "nothing was changed") {
		t.Errorf("time for all without a running discussion: %d %q %q", code, out, errs)
	}
	for _, args := range [][]string{{"end-group", code0, "1"}, {"pause", code0, "1"}, {"remove", code0, "seat-x"}, {"pair", code0, "a", "b"}} {
		// No group or participant yet: each control says what is missing.
		_, errs, code := run(t, env, append(append([]string{"session"}, args...), "--data", dir)...)
		if code != 1 || !strings.Contains(errs, "404") && !strings.Contains(errs, "409") && !strings.Contains(errs, "400") {
			t.Errorf("%v: %d %q", args, code, errs)
		}
	}
	if _, errs, code = run(t, env, "session", "time", code0, "1", "soon", "--data", dir); code != 2 || !strings.Contains(errs, "not a number") {
		t.Errorf("time with a bad number: %d %q", code, errs)
	}
	if out, errs, code = run(t, env, "session", "watch", code0, "--updates", "1", "--data", dir); code != 0 || !strings.Contains(out, "SEAT") || !strings.Contains(out, "session "+code0) {
		t.Errorf("watch: %d %q %q", code, out, errs)
	}
	if _, errs, code = run(t, env, "session", "end", "--data", dir, "nosuch"); code != 1 || !strings.Contains(errs, "unknown session") {
		t.Fatalf("unknown session: %d %q", code, errs)
	}
	// Export reads the database directly, while the server runs.
	outFile := filepath.Join(dir, "messages.csv")
	if _, errs, code = run(t, nil, "export", "--data", dir, "--session", code0, "--out", outFile); code != 0 {
		t.Fatalf("export: %q", errs)
	}
	b, _ := os.ReadFile(outFile)
	recs, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil || len(recs) != 2 || recs[1][5] != "Welcome, everyone" || recs[1][11] != protocol.RoleExperimenter {
		t.Fatalf("export: %v %q", err, b)
	}
	if _, errs, code = run(t, nil, "export", "--data", dir, "--format", "xlsx"); code != 2 || !strings.Contains(errs, "xlsx") {
		t.Fatalf("bad format: %d %q", code, errs)
	}
	if _, errs, code = run(t, nil, "export", "--data", filepath.Join(dir, "nothing-here")); code != 1 || !strings.Contains(errs, "no Parley database") {
		t.Fatalf("missing data dir: %d %q", code, errs)
	}
}

func TestKioskConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := write(t, dir, "k.toml", "server = \"ws://file:1/ws\"\nroom = \"fileroom\"\nseat = \"fileseat\"\n[ui]\nexit_pin = \"4711\"\n")
	cfg, err := loadKioskConfig(file, false)
	if err != nil {
		t.Fatal(err)
	}
	applyKioskEnv(Env{Getenv: func(k string) string {
		return map[string]string{EnvServerURL: "ws://env:2/ws", EnvSeat: "envseat"}[k]
	}}, &cfg)
	f := kioskFlags{seat: "flagseat", size: "320x240", fps: 15}
	if err := f.apply(&cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Server != "ws://env:2/ws" || cfg.Room != "fileroom" || cfg.Seat != "flagseat" || cfg.Width != 320 || cfg.FPS != 15 {
		t.Fatalf("file < env < flags: %+v", cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestBenchRefusesWhatItCannotRun(t *testing.T) {
	if _, errs, code := run(t, nil, "bench", "--only", "gpu"); code != 2 || !strings.Contains(errs, `--only "gpu"`) {
		t.Fatalf("unknown part: %d %q", code, errs)
	}
	// The on-screen comparison needs a display and says so before doing anything.
	if _, errs, code := run(t, map[string]string{}, "bench", "--only", "screen"); code == 0 || !strings.Contains(errs, "$DISPLAY") {
		t.Fatalf("no display: %d %q", code, errs)
	}
}

// TestRecordFlagAndRecordingsExport: `session create --record`, the
// participants table's consent and recording columns, and the recordings
// export kind.
func TestRecordFlagAndRecordingsExport(t *testing.T) {
	dir := t.TempDir()
	srv := startEconlab(t, dir)
	defer srv.Close()
	env := map[string]string{EnvURL: "http://" + srv.Addr()}
	out, errs, code := run(t, env, "session", "create", "--data", dir, "--room", "econlab", "--record", "audio_video")
	if code != 0 || !strings.Contains(out, "record audio_video") {
		t.Fatalf("create --record: %d %q %q", code, out, errs)
	}
	code0 := strings.Fields(out)[1]
	if _, errs, code = run(t, env, "session", "create", "--data", dir, "--room", "econlab", "--record", "video"); code != 1 || !strings.Contains(errs, "record:") {
		t.Fatalf("create --record video: %d %q", code, errs)
	}
	if out, errs, code = run(t, env, "session", "participants", code0, "--data", dir); code != 0 || !strings.Contains(out, "CONSENT") || !strings.Contains(out, "RECORDING") {
		t.Fatalf("participants table: %d %q %q", code, out, errs)
	}
	if out, errs, code = run(t, nil, "export", "--data", dir, "--session", code0, "--kind", "recordings"); code != 0 || !strings.HasPrefix(out, "session_code,participant_code,seat,group,seq,segment_id,") {
		t.Fatalf("export --kind recordings: %d %q %q", code, out, errs)
	}
	if _, errs, code = run(t, nil, "export", "--data", dir, "--kind", "videos"); code != 2 || !strings.Contains(errs, "recordings") {
		t.Fatalf("export --kind videos: %d %q", code, errs)
	}
}
