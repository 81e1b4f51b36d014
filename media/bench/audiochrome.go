package bench

// audiochrome.go: the audio benchmark's other stack: the same call between
// two Chromium processes (audio.html), each on its own virtual microphone
// and speaker (PULSE_SOURCE, PULSE_SINK) of the same sound server, with
// Chromium's echo cancellation, noise suppression and gain control off. A
// small HTTP mailbox here carries the offer and the answer.

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/parley-lab/parley/media/bench/audiolab"
)

//go:embed audio.html
var audioPage []byte

// mailboxWait is how long a page's /take waits for a letter before it is
// told to ask again.
const mailboxWait = 10 * time.Second

// ChromiumAudio is two Chromium processes in a call. Path "" finds
// Debian's Chromium.
type ChromiumAudio struct {
	Path      string
	UserAgent string // once started
	dir       string
	srv       *http.Server
	procs     []*exec.Cmd
}

// Name is the stack's name in the tables.
func (*ChromiumAudio) Name() string { return chromiumStack }

// Start runs both processes and waits until each plays the other's audio.
func (c *ChromiumAudio) Start(ctx context.Context, p *audiolab.Pulse, _ time.Duration) error {
	path := c.Path
	if path == "" {
		var err error
		if path, err = FindChromium(); err != nil {
			return err
		}
	}
	dir, err := os.MkdirTemp("", "parley-audio-chromium-")
	if err != nil {
		return err
	}
	c.dir = dir
	boxes := map[string]chan []byte{"a": make(chan []byte, 1), "b": make(chan []byte, 1)}
	type result struct {
		Role, Error, UserAgent, Microphone string
	}
	results := make(chan result, 2)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(audioPage)
	})
	mux.HandleFunc("POST /put", func(w http.ResponseWriter, r *http.Request) {
		box, ok := boxes[r.URL.Query().Get("box")]
		b, err := io.ReadAll(r.Body)
		if !ok || err != nil {
			http.Error(w, "no such box", http.StatusBadRequest)
			return
		}
		select {
		case box <- b:
		default:
			http.Error(w, "box full", http.StatusConflict)
		}
	})
	mux.HandleFunc("GET /take", func(w http.ResponseWriter, r *http.Request) {
		box, ok := boxes[r.URL.Query().Get("box")]
		if !ok {
			http.Error(w, "no such box", http.StatusBadRequest)
			return
		}
		select {
		case b := <-box:
			w.Header().Set("Content-Type", "application/json")
			w.Write(b)
		case <-time.After(mailboxWait):
			w.WriteHeader(http.StatusNoContent)
		case <-r.Context().Done():
		}
	})
	mux.HandleFunc("POST /result", func(w http.ResponseWriter, r *http.Request) {
		var res result
		json.NewDecoder(r.Body).Decode(&res)
		select {
		case results <- res:
		default:
		}
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	c.srv = &http.Server{Handler: mux}
	go c.srv.Serve(ln)
	for _, role := range []string{"a", "b"} {
		n := strings.ToUpper(role)
		args := append([]string{"--headless=new"}, chromiumArgs(filepath.Join(dir, role))...)
		cmd := exec.Command(path, append(args,
			// The audio service in a process of its own does not reach the
			// sound server here (it is sandboxed away from PULSE_SERVER's
			// socket); in the browser's process it does.
			"--disable-features=AudioServiceOutOfProcess,WebRtcHideLocalIpsWithMdns",
			fmt.Sprintf("http://%s/?role=%s", ln.Addr(), role))...)
		cmd.Env = append(os.Environ(), "PULSE_SERVER="+p.ServerEnv(), "PULSE_SOURCE=mic"+n, "PULSE_SINK=spk"+n)
		cmd.SysProcAttr = dieWithBench // its output is D-Bus complaints
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("start %s: %w", path, err)
		}
		c.procs = append(c.procs, cmd)
	}
	timeout := time.After(audioConnectLimit)
	for got := 0; got < 2; got++ {
		select {
		case r := <-results:
			if r.Error != "" {
				return fmt.Errorf("in Chromium %s: %s", r.Role, r.Error)
			}
			c.UserAgent = r.UserAgent
		case <-timeout:
			return fmt.Errorf("Chromium's call did not play within %v", audioConnectLimit)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// Close stops both processes and removes their profiles.
func (c *ChromiumAudio) Close() {
	for _, p := range c.procs {
		p.Process.Kill()
		p.Wait()
	}
	c.procs = nil
	if c.srv != nil {
		c.srv.Close()
	}
	if c.dir != "" {
		os.RemoveAll(c.dir)
	}
}

// dieWithBench makes a child get SIGKILL when the benchmark dies.
var dieWithBench = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
