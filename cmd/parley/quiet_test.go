package main

// The tools are quiet: `parley version` and `parley --server` print only
// their own lines on stderr, even under Debian's default C.UTF-8 locale (or
// plain C, POSIX, or LC_ALL=C over a language: a service or a cron job) and
// on a machine with ALSA, JACK and PulseAudio libraries (no audio system is
// initialised, no Fyne locale error). The binary is built for real and run
// as a child process; the test binary itself never loads the drivers.

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

func buildParley(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "parley")
	cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build parley: %v\n%s", err, out)
	}
	return bin
}

// plainEnv is the environment of a service or cron job on Debian, with
// locale its locale variables.
func plainEnv(home string, locale ...string) []string {
	return append([]string{"PATH=/usr/bin:/bin", "HOME=" + home}, locale...)
}

// plainLocales are the locales without a language a tool runs under.
var plainLocales = [][]string{
	{"LANG=C.UTF-8"}, // Debian's default
	{"LANG=C"},
	{"LANG=POSIX"},
	{"LC_ALL=C", "LANG=de_DE.UTF-8"}, // LC_ALL wins
}

func TestToolsPrintOnlyTheirOwnLines(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildParley(t)
	for _, locale := range plainLocales {
		t.Run(strings.Join(locale, " "), func(t *testing.T) { toolsQuiet(t, bin, locale) })
	}
}

func toolsQuiet(t *testing.T, bin string, locale []string) {
	home := t.TempDir()

	cmd := exec.Command(bin, "version")
	cmd.Env = plainEnv(home, locale...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || !strings.HasPrefix(string(out), "parley ") {
		t.Fatalf("parley version: %v %q", err, out)
	}
	if stderr.Len() != 0 {
		t.Fatalf("parley version wrote to stderr:\n%s", stderr.String())
	}

	data := t.TempDir()
	srv := exec.Command(bin, "--server", "--listen", "127.0.0.1:0", "--data", data)
	srv.Env = plainEnv(home, locale...)
	srv.Dir = data
	pipe, err := srv.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Process.Kill()
	var lines []string
	sc := bufio.NewScanner(pipe)
	deadline := time.AfterFunc(30*time.Second, func() { srv.Process.Kill() })
	defer deadline.Stop()
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if strings.Contains(sc.Text(), "parley server listening") {
			break
		}
	}
	srv.Process.Signal(os.Interrupt)
	srv.Wait()
	if len(lines) == 0 || !strings.Contains(lines[len(lines)-1], "parley server listening") {
		t.Fatalf("the server did not say it listens: %q", lines)
	}
	for _, l := range lines {
		own := strings.HasPrefix(l, "parley: ") || strings.HasPrefix(l, "  ") || strings.HasPrefix(l, "time=")
		if !own {
			t.Errorf("the server printed a line not its own: %q", l)
		}
	}
	entries, _ := os.ReadDir(data)
	for _, e := range entries {
		if e.Name() != "parley.db" && e.Name() != "admin.token" && !strings.HasPrefix(e.Name(), "parley.db-") {
			t.Errorf("the server made %q in its data directory", e.Name())
		}
	}
}
