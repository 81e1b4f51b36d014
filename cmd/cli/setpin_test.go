package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parley-lab/parley/ui"
)

// TestSetPINIntoTheShippedConfig: the package's kiosk.toml has no working
// PIN and fails the check; set-pin stores a hash (never the PIN), keeps
// every other line, and the check then passes.
func TestSetPINIntoTheShippedConfig(t *testing.T) {
	shipped, err := os.ReadFile(filepath.Join("..", "..", "packaging", "deb", "kiosk.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(shipped), "exit_pin =") {
		t.Fatal("the package ships a clear-text exit PIN")
	}
	dir := t.TempDir()
	path := write(t, dir, "kiosk.toml", string(shipped))
	if _, errs, code := run(t, nil, "config", "check", "--kiosk", path); code == 0 || !strings.Contains(errs, "set-pin") {
		t.Fatalf("shipped config without a PIN: code %d, %q; want a refusal naming set-pin", code, errs)
	}
	var out, errb bytes.Buffer
	code := Main([]string{"kiosk", "set-pin", "--config", path}, Env{Stdout: &out, Stderr: &errb, Stdin: strings.NewReader("913572\n"),
		Getenv: func(string) string { return "" }})
	if code != 0 {
		t.Fatalf("set-pin: %d %q", code, errb.String())
	}
	after, _ := os.ReadFile(path)
	if strings.Contains(string(after), "913572") {
		t.Fatal("the PIN itself was written")
	}
	for _, l := range strings.Split(string(shipped), "\n") {
		if !strings.Contains(string(after), l) {
			t.Fatalf("line %q of the shipped file was lost", l)
		}
	}
	if out, errs, code := run(t, nil, "config", "check", "--kiosk", path); code != 0 {
		t.Fatalf("after set-pin: %d %q %q", code, out, errs)
	}
	cfg, err := loadKioskConfig(path, false)
	if err != nil || !ui.VerifyPIN(cfg.UI.ExitPINHash, "913572") {
		t.Fatalf("stored hash does not verify the PIN: %v", err)
	}
	// Setting it again replaces the hash; a bad PIN changes nothing.
	code = Main([]string{"kiosk", "set-pin", "--config", path}, Env{Stdout: &out, Stderr: &errb, Stdin: strings.NewReader("12a4\n"),
		Getenv: func(string) string { return "" }})
	again, _ := os.ReadFile(path)
	if code == 0 || !bytes.Equal(again, after) {
		t.Fatalf("a bad PIN: code %d, file changed %v", code, !bytes.Equal(again, after))
	}
}

// TestShippedServerConfigPasses: every server config the repository ships
// passes the check as it is.
func TestShippedServerConfigPasses(t *testing.T) {
	p := filepath.Join("..", "..", "packaging", "deb", "server.toml")
	if out, errs, code := run(t, nil, "config", "check", "--server", p); code != 0 {
		t.Fatalf("%s: %d %q %q", p, code, out, errs)
	}
}
