package server

// A small driver for Debian's Chromium over the DevTools protocol, so the
// dashboard is tested in a real browser: navigate, run JavaScript, take a
// screenshot. Chromium runs headless with a profile of its own.

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// chromiumLimit bounds one DevTools call; chromiumStart the browser's start.
const (
	chromiumLimit = 20 * time.Second
	chromiumStart = 60 * time.Second
)

type chromium struct {
	t    *testing.T
	cmd  *exec.Cmd
	ws   *websocket.Conn
	mu   sync.Mutex
	id   int
	wait map[int]chan cdpReply
}

type cdpReply struct {
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Message string `json:"message"`
	} `json:"error"`
}

// findChromium returns Debian's Chromium, or "" if it is not installed.
func findChromium() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// startChromium starts a headless Chromium and attaches to its page; the
// test is skipped when there is none (dev.sh sets PARLEY_REQUIRE_CHROMIUM,
// making that a failure).
func startChromium(t *testing.T) *chromium {
	t.Helper()
	bin := findChromium()
	if bin == "" {
		if os.Getenv("PARLEY_REQUIRE_CHROMIUM") != "" {
			t.Fatal("Chromium is not installed (apt-get install chromium)")
		}
		t.Skip("Chromium is not installed")
	}
	// The profile is removed by hand: Chromium's helper processes may
	// still write to it for a moment after the browser is gone.
	profile, err := os.MkdirTemp("", "parley-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--window-size=1400,900",
		"--remote-debugging-port=0", "--user-data-dir="+profile, "about:blank")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // its helpers go with it
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &chromium{t: t, cmd: cmd, wait: map[int]chan cdpReply{}}
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
		os.RemoveAll(profile)
	})
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "DevTools listening on "); ok {
				found <- u
			}
		}
	}()
	var browserURL string
	select {
	case browserURL = <-found:
	case <-time.After(chromiumStart):
		t.Fatal("Chromium did not start")
	}
	// The page target, from the same host and port.
	base := "http://" + strings.Split(strings.TrimPrefix(browserURL, "ws://"), "/")[0]
	var targets []struct {
		Type string `json:"type"`
		WS   string `json:"webSocketDebuggerUrl"`
	}
	resp, err := http.Get(base + "/json/list")
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&targets)
	resp.Body.Close()
	for _, tg := range targets {
		if tg.Type == "page" {
			c.ws, _, err = websocket.DefaultDialer.Dial(tg.WS, nil)
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	if c.ws == nil {
		t.Fatal("Chromium has no page")
	}
	go c.read()
	c.call("Page.enable", nil)
	return c
}

func (c *chromium) read() {
	for {
		var m struct {
			ID int `json:"id"`
			cdpReply
		}
		if err := c.ws.ReadJSON(&m); err != nil {
			return
		}
		c.mu.Lock()
		ch := c.wait[m.ID]
		delete(c.wait, m.ID)
		c.mu.Unlock()
		if ch != nil {
			ch <- m.cdpReply
		}
	}
}

// call runs one DevTools method and returns its result; a failure ends the test.
func (c *chromium) call(method string, params any) json.RawMessage {
	c.t.Helper()
	r, err := c.try(method, params)
	if err != nil {
		c.t.Fatal(err)
	}
	return r
}

// try runs one DevTools method and returns its result or the browser's
// refusal (a script whose page is navigating away is refused).
func (c *chromium) try(method string, params any) (json.RawMessage, error) {
	c.mu.Lock()
	c.id++
	id := c.id
	ch := make(chan cdpReply, 1)
	c.wait[id] = ch
	c.mu.Unlock()
	if err := c.ws.WriteJSON(map[string]any{"id": id, "method": method, "params": params}); err != nil {
		return nil, err
	}
	select {
	case r := <-ch:
		if r.Error != nil {
			return nil, fmt.Errorf("%s: %s", method, r.Error.Message)
		}
		return r.Result, nil
	case <-time.After(chromiumLimit):
		return nil, fmt.Errorf("%s: no answer within %v", method, chromiumLimit)
	}
}

// eval runs JavaScript in the page (awaiting a promise) and decodes its value into out.
func (c *chromium) eval(js string, out any) error {
	c.t.Helper()
	raw, err := c.try("Runtime.evaluate", map[string]any{"expression": js, "awaitPromise": true, "returnByValue": true})
	if err != nil {
		return err
	}
	var r struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		Exception *struct {
			Text      string `json:"text"`
			Exception struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	json.Unmarshal(raw, &r)
	if r.Exception != nil {
		return fmt.Errorf("%s: %s", r.Exception.Text, r.Exception.Exception.Description)
	}
	if out != nil && len(r.Result.Value) > 0 {
		return json.Unmarshal(r.Result.Value, out)
	}
	return nil
}

// run runs JavaScript statements in the page.
func (c *chromium) run(js string) error { return c.eval(js, nil) }

// value evaluates a JavaScript expression in the page (awaiting a
// promise) and decodes it into out.
func (c *chromium) value(js string, out any) error { return c.eval(js, out) }

// until waits for a JavaScript condition to be true in the page.
func (c *chromium) until(what, js string) {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var ok bool
		err := c.eval("!!("+js+")", &ok)
		if ok {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("the page never showed %s (%v)", what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// navigate loads url and waits for the page to be there.
func (c *chromium) navigate(url string) {
	c.t.Helper()
	c.call("Page.navigate", map[string]any{"url": url})
	c.until("the page "+url, `document.readyState === "complete" && location.href.startsWith(`+jsString(url)+`)`)
}

// screenshot writes the page as PNG.
func (c *chromium) screenshot(path string) {
	c.t.Helper()
	var r struct {
		Data string `json:"data"`
	}
	json.Unmarshal(c.call("Page.captureScreenshot", map[string]any{"format": "png"}), &r)
	b, err := base64.StdEncoding.DecodeString(r.Data)
	if err != nil || len(b) == 0 {
		c.t.Fatal(errors.Join(err, errors.New("no screenshot")))
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		c.t.Fatal(err)
	}
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
