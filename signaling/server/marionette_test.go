package server

// A small driver for Debian's Firefox ESR over Marionette (Firefox's own
// remote protocol: length-prefixed JSON over TCP, WebDriver commands), so
// the dashboard is tested in Firefox as well as in Chromium. Firefox runs
// headless with a profile of its own.

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// firefoxLimit bounds one Marionette command; firefoxStart the browser's start.
const (
	firefoxLimit = 30 * time.Second
	firefoxStart = 90 * time.Second
)

type firefox struct {
	t    *testing.T
	conn net.Conn
	rd   *bufio.Reader
	id   int
}

// findFirefox returns Debian's Firefox, or "" if it is not installed.
func findFirefox() string {
	for _, name := range []string{"firefox-esr", "firefox"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// startFirefox starts a headless Firefox and opens a WebDriver session in
// it; the test is skipped when there is none (dev.sh sets
// PARLEY_REQUIRE_FIREFOX, making that a failure).
func startFirefox(t *testing.T) *firefox {
	t.Helper()
	bin := findFirefox()
	if bin == "" {
		if os.Getenv("PARLEY_REQUIRE_FIREFOX") != "" {
			t.Fatal("Firefox is not installed (apt-get install firefox-esr)")
		}
		t.Skip("Firefox is not installed")
	}
	profile, err := os.MkdirTemp("", "parley-firefox-")
	if err != nil {
		t.Fatal(err)
	}
	// Port 0: Firefox picks one and writes it into the profile.
	prefs := `user_pref("marionette.port", 0);
user_pref("browser.shell.checkDefaultBrowser", false);
user_pref("datareporting.policy.dataSubmissionEnabled", false);
user_pref("toolkit.telemetry.reportingpolicy.firstRun", false);
user_pref("browser.startup.homepage_override.mstone", "ignore");
user_pref("app.update.disabledForTesting", true);
user_pref("network.captive-portal-service.enabled", false);
user_pref("network.connectivity-service.enabled", false);
`
	if err := os.WriteFile(filepath.Join(profile, "user.js"), []byte(prefs), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--marionette", "--headless", "--no-remote", "--window-size=1400,900", "--profile", profile, "about:blank")
	cmd.Env = append(os.Environ(), "MOZ_HEADLESS=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // its content processes go with it
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	f := &firefox{t: t}
	t.Cleanup(func() {
		if f.conn != nil {
			f.conn.Close()
		}
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
		os.RemoveAll(profile)
	})
	deadline := time.Now().Add(firefoxStart)
	for f.conn == nil {
		if b, err := os.ReadFile(filepath.Join(profile, "MarionetteActivePort")); err == nil {
			if port, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && port > 0 {
				f.conn, _ = net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("Firefox did not start Marionette")
		}
		if f.conn == nil {
			time.Sleep(100 * time.Millisecond) // polling a file: Firefox has no ready signal
		}
	}
	f.rd = bufio.NewReader(f.conn)
	if _, err := f.recv(); err != nil { // the greeting
		t.Fatal(err)
	}
	f.call("WebDriver:NewSession", map[string]any{"capabilities": map[string]any{}})
	return f
}

// recv reads one message: its length in decimal, a colon, the JSON.
func (f *firefox) recv() (json.RawMessage, error) {
	f.conn.SetReadDeadline(time.Now().Add(firefoxLimit))
	n, err := f.rd.ReadString(':')
	if err != nil {
		return nil, err
	}
	size, err := strconv.Atoi(strings.TrimSuffix(n, ":"))
	if err != nil || size < 0 || size > 64<<20 {
		return nil, fmt.Errorf("marionette: a message of length %q", n)
	}
	b := make([]byte, size)
	if _, err := io.ReadFull(f.rd, b); err != nil {
		return nil, err
	}
	return b, nil
}

// call runs one WebDriver command and returns its result; a WebDriver
// error is returned as an error.
func (f *firefox) call(name string, params any) (json.RawMessage, error) {
	f.t.Helper()
	f.id++
	msg, _ := json.Marshal([]any{0, f.id, name, params})
	if _, err := f.conn.Write(append([]byte(strconv.Itoa(len(msg))+":"), msg...)); err != nil {
		f.t.Fatal(err)
	}
	for {
		raw, err := f.recv()
		if err != nil {
			f.t.Fatalf("%s: %v", name, err)
		}
		var reply []json.RawMessage // [1, id, error, result]
		if err := json.Unmarshal(raw, &reply); err != nil || len(reply) != 4 {
			f.t.Fatalf("%s: a reply of another shape: %s", name, raw)
		}
		var id int
		json.Unmarshal(reply[1], &id)
		if id != f.id {
			continue // an answer to an earlier command that timed out
		}
		if string(reply[2]) != "null" {
			var e struct{ Error, Message string }
			json.Unmarshal(reply[2], &e)
			return nil, fmt.Errorf("%s: %s: %s", name, e.Error, e.Message)
		}
		return reply[3], nil
	}
}

// run runs JavaScript statements in the page.
func (f *firefox) run(js string) error {
	_, err := f.call("WebDriver:ExecuteScript", map[string]any{"script": js, "args": []any{}})
	return err
}

// value evaluates a JavaScript expression in the page (awaiting a promise)
// and decodes it into out.
func (f *firefox) value(js string, out any) error {
	raw, err := f.call("WebDriver:ExecuteScript", map[string]any{"script": "return (" + js + ");", "args": []any{}})
	if err != nil {
		return err
	}
	var r struct {
		Value json.RawMessage `json:"value"`
	}
	json.Unmarshal(raw, &r)
	if out != nil && len(r.Value) > 0 {
		return json.Unmarshal(r.Value, out)
	}
	return nil
}

// until waits for a JavaScript condition to be true in the page.
func (f *firefox) until(what, js string) {
	f.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var ok bool
		err := f.value("!!("+js+")", &ok)
		if ok {
			return
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("the page never showed %s (%v)", what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// navigate loads url and waits for the page to be there.
func (f *firefox) navigate(url string) {
	f.t.Helper()
	if _, err := f.call("WebDriver:Navigate", map[string]any{"url": url}); err != nil {
		f.t.Fatal(err)
	}
	f.until("the page "+url, `document.readyState === "complete" && location.href.startsWith(`+jsString(url)+`)`)
}

// screenshot writes the page as PNG.
func (f *firefox) screenshot(path string) {
	f.t.Helper()
	raw, err := f.call("WebDriver:TakeScreenshot", map[string]any{"full": false})
	if err != nil {
		f.t.Fatal(err)
	}
	var r struct {
		Value string `json:"value"`
	}
	json.Unmarshal(raw, &r)
	b, err := base64.StdEncoding.DecodeString(r.Value)
	if err != nil || len(b) == 0 {
		f.t.Fatalf("no screenshot: %v", err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		f.t.Fatal(err)
	}
}
