package cli

// setpin.go: `parley kiosk set-pin`, which stores the experimenter's exit
// PIN in kiosk.toml as a salted hash (never the PIN itself).

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/parley-lab/parley/ui"
)

func init() {
	Register("kiosk", "kiosk maintenance: parley kiosk set-pin [--config FILE]", runKioskTool)
}

// ErrPINMismatch is returned when the PIN typed the second time differs.
var ErrPINMismatch = errors.New("the two PINs differ; nothing was changed")

func runKioskTool(env Env, args []string) error {
	if len(args) == 0 || args[0] != "set-pin" {
		return fmt.Errorf("%w: parley kiosk set-pin [--config FILE]", ErrUsage)
	}
	fs := flag.NewFlagSet("parley kiosk set-pin", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	path := fs.String("config", DefaultKioskConfig, "kiosk config file to write the PIN's hash into")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	in := env.Stdin
	if in == nil {
		in = os.Stdin
	}
	pin, err := askPIN(env, in)
	if err != nil {
		return err
	}
	hash, err := ui.HashPIN(pin)
	if err != nil {
		return err
	}
	if err := writePINHash(*path, hash); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "%s: exit PIN set (stored as a hash in exit_pin_hash)\n", *path)
	return nil
}

// askPIN reads the PIN twice (once from a pipe), without echo on a terminal.
func askPIN(env Env, in io.Reader) (string, error) {
	f, isFile := in.(*os.File)
	tty := false
	if isFile {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			tty = true
		}
	}
	r := bufio.NewReader(in)
	read := func(prompt string) (string, error) {
		if tty {
			fmt.Fprint(env.Stderr, prompt)
			echo(f, false)
			defer func() { echo(f, true); fmt.Fprintln(env.Stderr) }()
		}
		line, err := r.ReadString('\n')
		if err != nil && (err != io.EOF || line == "") {
			return "", fmt.Errorf("read the PIN: %w", err)
		}
		return strings.TrimSpace(line), nil
	}
	pin, err := read(fmt.Sprintf("New exit PIN (%d to %d digits): ", ui.MinPINDigits, ui.MaxPINDigits))
	if err != nil {
		return "", err
	}
	if err := ui.CheckPINFormat(pin); err != nil {
		return "", err
	}
	if tty {
		again, err := read("The same PIN again: ")
		if err != nil {
			return "", err
		}
		if again != pin {
			return "", ErrPINMismatch
		}
	}
	return pin, nil
}

// echo turns a terminal's echo on or off (best effort: stty).
func echo(tty *os.File, on bool) {
	arg := "-echo"
	if on {
		arg = "echo"
	}
	cmd := exec.Command("stty", arg)
	cmd.Stdin = tty
	cmd.Run()
}

var (
	tableLine = regexp.MustCompile(`^\s*\[`)
	uiTable   = regexp.MustCompile(`^\s*\[ui\]\s*(#.*)?$`)
	pinLine   = regexp.MustCompile(`^\s*exit_pin(_hash)?\s*=`)
)

// writePINHash puts exit_pin_hash = hash into the [ui] table of the file
// at path (made if missing), dropping any clear-text exit_pin, and keeps
// every other line as it was. The result is checked before it replaces
// the file.
func writePINHash(path, hash string) error {
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	line := fmt.Sprintf("exit_pin_hash = %q", hash)
	var out []string
	inUI, done := false, false
	for _, l := range strings.Split(strings.TrimRight(string(old), "\n"), "\n") {
		switch {
		case uiTable.MatchString(l):
			inUI = true
			out = append(out, l)
			continue
		case tableLine.MatchString(l):
			if inUI && !done {
				out = append(out, line)
				done = true
			}
			inUI = false
		case inUI && pinLine.MatchString(l):
			if !done {
				out = append(out, line)
				done = true
			}
			continue // the old PIN or hash goes
		}
		out = append(out, l)
	}
	if !done {
		if !inUI {
			out = append(out, "", "[ui]")
		}
		out = append(out, line)
	}
	text := strings.TrimLeft(strings.Join(out, "\n"), "\n") + "\n"
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".kiosk-toml-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(text); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if _, err := loadKioskConfig(tmp.Name(), false); err != nil {
		return fmt.Errorf("%s would not be a valid kiosk config after the change (%v); nothing was changed", path, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
