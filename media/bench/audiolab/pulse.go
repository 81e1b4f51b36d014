// Package audiolab is the bench for a call's audio through a real sound
// server, with no sound card: a private PulseAudio with virtual
// microphones and speakers (this file), the signal fed into a microphone
// (signal.go, speech.go), the recording of a speaker's monitor
// (recorder.go) and what is measured of it (analyse.go, quality.go).
// `parley bench --only audio` (media/bench) and the audio tests
// (media/capture/pulsetest, media/bench) use it.
package audiolab

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/parley-lab/parley/media/sched"
)

// Limits and the devices' format.
const (
	// StartLimit bounds the server's start (it is ready when its socket
	// and FIFOs exist).
	StartLimit = 15 * time.Second
	// StopLimit bounds its exit after SIGINT before it is killed.
	StopLimit = 5 * time.Second
	// Rate is the sample rate of the virtual devices and of the server's
	// default streams (what a client that asks for none gets).
	Rate = 48000
	// FeedTick is how often Feed tops up a microphone's FIFO.
	FeedTick = 10 * time.Millisecond
	// FeedOpenLimit bounds the wait for PulseAudio to hold a microphone's
	// FIFO open for reading (a blocking open would wait for ever if it never does).
	FeedOpenLimit = 10 * time.Second
)

// ErrNoPulseAudio is returned by StartPulse when PulseAudio is not installed.
var ErrNoPulseAudio = errors.New("PulseAudio is not installed (Debian package pulseaudio)")

// Pulse is a running private PulseAudio.
type Pulse struct {
	Dir    string // runtime directory: socket, FIFOs, configuration
	Socket string
	Mics   map[string]Mic
	log    *lockedBuffer
	cmd    *exec.Cmd
	exited chan struct{}
	once   sync.Once
}

// Mic is a virtual microphone: what is written to FIFO (s16le mono at
// Rate) is what the source records.
type Mic struct{ Name, FIFO string }

// StartPulse runs PulseAudio with a pipe source per name in mics, a null
// sink per name in speakers (its monitor is "NAME.monitor"), and
// defaultSource (if not empty) as the default source. Clients reach it
// with PULSE_SERVER set to ServerEnv(); nothing else on the machine sees it.
func StartPulse(mics, speakers []string, defaultSource string) (*Pulse, error) {
	bin, err := exec.LookPath("pulseaudio")
	if err != nil {
		return nil, ErrNoPulseAudio
	}
	dir, err := os.MkdirTemp("", "pa")
	if err != nil {
		return nil, err
	}
	p := &Pulse{Dir: dir, Socket: filepath.Join(dir, "native"), Mics: map[string]Mic{}, log: &lockedBuffer{}, exited: make(chan struct{})}
	var script strings.Builder
	fmt.Fprintf(&script, "load-module module-native-protocol-unix socket=%s auth-anonymous=1\n", p.Socket)
	for _, name := range speakers {
		fmt.Fprintf(&script, "load-module module-null-sink sink_name=%s rate=%d channels=1 sink_properties=device.description=%s\n", name, Rate, name)
	}
	for _, name := range mics {
		m := Mic{Name: name, FIFO: filepath.Join(dir, name+".fifo")}
		fmt.Fprintf(&script, "load-module module-pipe-source source_name=%s file=%s format=s16le rate=%d channels=1 source_properties=device.description=%s\n", name, m.FIFO, Rate, name)
		p.Mics[name] = m
	}
	if defaultSource != "" {
		fmt.Fprintf(&script, "set-default-source %s\n", defaultSource)
	}
	cfg := filepath.Join(dir, "default.pa")
	// The server's default rate is the devices' own: a client that asks
	// for none (Chromium) is not resampled on the way.
	daemon := fmt.Sprintf("default-sample-rate = %d\n", Rate)
	for _, sub := range []string{"home", "run", "config/pulse"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	if err := errors.Join(os.WriteFile(cfg, []byte(script.String()), 0o600),
		os.WriteFile(filepath.Join(dir, "config", "pulse", "daemon.conf"), []byte(daemon), 0o600)); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	cmd := exec.Command(bin, "--daemonize=no", "--exit-idle-time=-1", "--use-pid-file=no", "--disable-shm=yes",
		"-n", "-F", cfg, "--log-target=stderr", "--log-level=warning")
	cmd.Env = append(os.Environ(), "HOME="+filepath.Join(dir, "home"), "XDG_RUNTIME_DIR="+filepath.Join(dir, "run"),
		"XDG_CONFIG_HOME="+filepath.Join(dir, "config"))
	cmd.Stdout, cmd.Stderr = p.log, p.log
	cmd.SysProcAttr = dieWithParent
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("starting PulseAudio: %w", err)
	}
	p.cmd = cmd
	go func() { cmd.Wait(); close(p.exited) }()
	deadline := time.Now().Add(StartLimit)
	for !p.ready() {
		select {
		case <-p.exited:
			p.Close()
			return nil, fmt.Errorf("PulseAudio exited at start:\n%s", p.Log())
		case <-time.After(10 * time.Millisecond): // polling a file: the server has no ready signal
		}
		if time.Now().After(deadline) {
			p.Close()
			return nil, fmt.Errorf("PulseAudio not ready within %v:\n%s", StartLimit, p.Log())
		}
	}
	return p, nil
}

func (p *Pulse) ready() bool {
	if _, err := os.Stat(p.Socket); err != nil {
		return false
	}
	for _, m := range p.Mics {
		if _, err := os.Stat(m.FIFO); err != nil {
			return false
		}
	}
	return true
}

// ServerEnv is the value of PULSE_SERVER that reaches this server.
func (p *Pulse) ServerEnv() string { return "unix:" + p.Socket }

// Log is what the server printed.
func (p *Pulse) Log() string { return p.log.String() }

// Close stops the server (SIGINT, then SIGKILL after StopLimit) and
// removes its directory.
func (p *Pulse) Close() {
	p.once.Do(func() {
		p.cmd.Process.Signal(os.Interrupt)
		select {
		case <-p.exited:
		case <-time.After(StopLimit):
			p.cmd.Process.Kill()
			<-p.exited
		}
		os.RemoveAll(p.Dir)
	})
}

// dieWithParent makes a child process get SIGKILL when this process dies
// (a panic or a test timeout skips the cleanups).
var dieWithParent = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}

// openWriter opens the FIFO for writing once PulseAudio reads it: a
// non-blocking open fails (ENXIO) while nobody reads, and is tried again.
// The descriptor stays non-blocking: writeAll waits for room itself, so
// that stopping never waits on a PulseAudio that stopped reading (it does
// while the source is suspended).
func (m Mic) openWriter() (int, error) {
	deadline := time.Now().Add(FeedOpenLimit)
	for {
		fd, err := syscall.Open(m.FIFO, syscall.O_WRONLY|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
		if err == nil {
			return fd, nil
		}
		if err != syscall.ENXIO || time.Now().After(deadline) {
			return -1, fmt.Errorf("microphone %s: PulseAudio does not read its FIFO %s (within %v): %w", m.Name, m.FIFO, FeedOpenLimit, err)
		}
		time.Sleep(FeedTick)
	}
}

// writeAll writes b to the non-blocking fd, waiting for room while the
// pipe is full; it gives up (false) when quit closes or the write fails.
func writeAll(fd int, b []byte, quit <-chan struct{}) bool {
	for len(b) > 0 {
		n, err := syscall.Write(fd, b)
		if n > 0 {
			b = b[n:]
		}
		switch {
		case err == syscall.EAGAIN:
			select {
			case <-quit:
				return false
			case <-time.After(FeedTick):
			}
		case err == syscall.EINTR:
		case err != nil:
			return false
		}
	}
	return true
}

// Feed writes next's samples into the microphone's FIFO in real time (Rate
// a second) until stop is called (then the FIFO has no writer, and the
// source delivers nothing). next(i) is sample i, called on the feeding
// goroutine when the sample is due.
func (m Mic) Feed(next func(i int) int16) (stop func(), err error) {
	fd, err := m.openWriter()
	if err != nil {
		return nil, err
	}
	quit := make(chan struct{})
	done := make(chan struct{})
	var once sync.Once
	stop = func() { once.Do(func() { close(quit); <-done; syscall.Close(fd) }) }
	go func() {
		defer close(done)
		// Raised like the kit's audio loop: a "mouth" starved by busy
		// loops would measure the feeder, not the call.
		sched.Audio()
		tick := time.NewTicker(FeedTick)
		defer tick.Stop()
		start, written := time.Now(), 0
		var buf []byte
		for {
			select {
			case <-quit:
				return
			case <-tick.C:
			}
			due := int(time.Since(start)*Rate/time.Second) - written
			buf = buf[:0]
			for i := 0; i < due; i++ {
				v := next(written + i)
				buf = append(buf, byte(v), byte(uint16(v)>>8))
			}
			if !writeAll(fd, buf, quit) {
				return
			}
			written += due
		}
	}()
	return stop, nil
}

// lockedBuffer collects a child's output from two pipes.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
