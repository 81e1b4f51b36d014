// Package pulsetest starts a private PulseAudio server in user space, with
// no sound card, for tests that go through a real sound server: virtual
// microphones fed from a FIFO (module-pipe-source) and virtual speakers
// (module-null-sink, whose monitor records what they play). The test's
// process is pointed at it with PULSE_SERVER; nothing else on the machine
// sees it.
package pulsetest

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/parley-lab/parley/media/sched"
	"github.com/parley-lab/parley/signaling/testkit"
)

// Limits.
const (
	// StartLimit bounds the server's start (it is ready when its socket
	// accepts clients).
	StartLimit = 15 * time.Second
	// StopLimit bounds its exit after SIGTERM before it is killed.
	StopLimit = 5 * time.Second
	// Rate is the sample rate of the virtual devices.
	Rate = 48000
)

// EnvRequire, when set (CI sets it), turns a missing PulseAudio into a
// test failure instead of a skip.
const EnvRequire = "PARLEY_REQUIRE_PULSEAUDIO"

// EnvLoad, when set, runs the audio tests' loaded phases: busy loops on
// every core for up to a minute. They disturb whatever runs beside them,
// so dev.sh runs them in a step of their own, one package at a time
// (go test -p 1), after the rest of the suite.
const EnvLoad = "PARLEY_AUDIO_LOAD_TESTS"

// Loaded reports whether the loaded phases run; when not, it says so in
// the test's log.
func Loaded(t testing.TB) bool {
	if os.Getenv(EnvLoad) != "" {
		return true
	}
	t.Logf("the phases with every core busy run with %s=1 (dev.sh's audio step, alone)", EnvLoad)
	return false
}

// lockPath serialises the tests that use a private PulseAudio across the
// test binaries go test runs in parallel: real-time audio measured beside
// another such test measures the other test.
var lockPath = filepath.Join(os.TempDir(), "parley-pulsetest.lock")

// Server is a running private PulseAudio.
type Server struct {
	Dir    string // runtime directory: socket, FIFOs
	Socket string
	log    *testkit.Log
}

// Mic is a virtual microphone: what is written to FIFO (s16le mono at
// Rate) is what the source records.
type Mic struct{ Name, FIFO string }

// Start runs PulseAudio with a pipe source per name in mics, a null sink per
// name in speakers, and defaultSource (if not empty) as the default
// source; it sets PULSE_SERVER for the test and stops the server at the
// test's end. It skips the test when PulseAudio is not installed (fails
// when EnvRequire is set).
func Start(t testing.TB, mics, speakers []string, defaultSource string) (*Server, map[string]Mic) {
	t.Helper()
	bin, err := exec.LookPath("pulseaudio")
	if err != nil {
		if os.Getenv(EnvRequire) != "" {
			t.Fatalf("PulseAudio is not installed (Debian package pulseaudio) and %s is set", EnvRequire)
		}
		t.Skip("PulseAudio is not installed (Debian package pulseaudio): this test needs a real sound server")
	}
	if err := acquire(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(release)
	dir, err := os.MkdirTemp("", "pa")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	s := &Server{Dir: dir, Socket: filepath.Join(dir, "native"), log: &testkit.Log{}}
	var script strings.Builder
	fmt.Fprintf(&script, "load-module module-native-protocol-unix socket=%s auth-anonymous=1\n", s.Socket)
	out := map[string]Mic{}
	for _, name := range speakers {
		fmt.Fprintf(&script, "load-module module-null-sink sink_name=%s rate=%d channels=1 sink_properties=device.description=%s\n", name, Rate, name)
	}
	for _, name := range mics {
		m := Mic{Name: name, FIFO: filepath.Join(dir, name+".fifo")}
		fmt.Fprintf(&script, "load-module module-pipe-source source_name=%s file=%s format=s16le rate=%d channels=1 source_properties=device.description=%s\n", name, m.FIFO, Rate, name)
		out[name] = m
	}
	if defaultSource != "" {
		fmt.Fprintf(&script, "set-default-source %s\n", defaultSource)
	}
	cfg := filepath.Join(dir, "default.pa")
	if err := os.WriteFile(cfg, []byte(script.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, sub := range []string{"home", "run", "config"} {
		os.MkdirAll(filepath.Join(dir, sub), 0o700)
	}
	cmd := exec.Command(bin, "--daemonize=no", "--exit-idle-time=-1", "--use-pid-file=no", "--disable-shm=yes",
		"-n", "-F", cfg, "--log-target=stderr", "--log-level=warning")
	cmd.Env = append(os.Environ(), "HOME="+filepath.Join(dir, "home"), "XDG_RUNTIME_DIR="+filepath.Join(dir, "run"),
		"XDG_CONFIG_HOME="+filepath.Join(dir, "config"))
	cmd.Stdout, cmd.Stderr = s.log, s.log
	cmd.SysProcAttr = dieWithTest
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting PulseAudio: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(StopLimit):
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("PulseAudio's log:\n%s", s.log.String())
		}
	})
	t.Setenv("PULSE_SERVER", "unix:"+s.Socket)
	deadline := time.Now().Add(StartLimit)
	for {
		ready := true
		if _, err := os.Stat(s.Socket); err != nil {
			ready = false
		}
		for _, m := range out {
			if _, err := os.Stat(m.FIFO); err != nil {
				ready = false
			}
		}
		if ready {
			break
		}
		select {
		case <-exited:
			t.Fatalf("PulseAudio exited at start:\n%s", s.log.String())
		case <-time.After(10 * time.Millisecond): // polling a file: the server has no ready signal
		}
		if time.Now().After(deadline) {
			t.Fatalf("PulseAudio not ready within %v:\n%s", StartLimit, s.log.String())
		}
	}
	return s, out
}

// dieWithTest makes a child process get SIGKILL when the test binary dies
// (a panic or a test timeout skips the cleanups).
var dieWithTest = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}

// Busy starts a busy loop per CPU in processes of their own (load as
// another program would make it) and returns the function that stops
// them. They die with the test binary.
func Busy(t testing.TB) (stop func()) {
	t.Helper()
	var procs []*exec.Cmd
	for i := 0; i < runtime.NumCPU(); i++ {
		// Under the ordinary scheduler, whatever thread starts it: a Go
		// thread that once ran miniaudio's real-time callback may itself be
		// SCHED_FIFO, and a real-time busy loop per core starves the
		// machine (the test binary could not even exit).
		c := exec.Command("chrt", "--other", "0", "sh", "-c", "while :; do :; done")
		c.SysProcAttr = dieWithTest
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		procs = append(procs, c)
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			for _, c := range procs {
				c.Process.Kill()
				c.Wait()
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// The lock is taken once per process (a test may start several servers).
var held struct {
	sync.Mutex
	n    int
	file *os.File
}

func acquire() error {
	held.Lock()
	defer held.Unlock()
	if held.n == 0 {
		f, err := os.OpenFile(lockPath, os.O_CREATE|os.O_RDWR, 0o600)
		if err != nil {
			return err
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil { // waits for another package's audio test
			f.Close()
			return err
		}
		held.file = f
	}
	held.n++
	return nil
}

func release() {
	held.Lock()
	defer held.Unlock()
	if held.n--; held.n == 0 {
		syscall.Flock(int(held.file.Fd()), syscall.LOCK_UN)
		held.file.Close()
	}
}

// FeedTick is how often Feed tops up a microphone's FIFO.
const FeedTick = 10 * time.Millisecond

// FeedOpenLimit bounds the wait for PulseAudio to hold the microphone's
// FIFO open for reading (a blocking open would wait for ever if it never does).
const FeedOpenLimit = 10 * time.Second

// openWriter opens the FIFO for writing once PulseAudio reads it: a
// non-blocking open fails (ENXIO) while nobody reads, and is tried again.
// The descriptor stays non-blocking: writeAll waits for room itself, so
// that stopping never waits on a PulseAudio that stopped reading (it does
// while the source is suspended).
func (m Mic) openWriter(t testing.TB) int {
	t.Helper()
	deadline := time.Now().Add(FeedOpenLimit)
	for {
		fd, err := syscall.Open(m.FIFO, syscall.O_WRONLY|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
		if err == nil {
			return fd
		}
		if err != syscall.ENXIO || time.Now().After(deadline) {
			t.Fatalf("microphone %s: PulseAudio does not read its FIFO %s (within %v): %v", m.Name, m.FIFO, FeedOpenLimit, err)
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
// a second) until the test ends or stop is called (then the FIFO has no
// writer, and the source delivers nothing). next(i) is sample i.
func (m Mic) Feed(t testing.TB, next func(i int) int16) (stop func()) {
	t.Helper()
	fd := m.openWriter(t)
	quit := make(chan struct{})
	done := make(chan struct{})
	var once sync.Once
	stop = func() { once.Do(func() { close(quit); <-done; syscall.Close(fd) }) }
	t.Cleanup(stop)
	go func() {
		defer close(done)
		// Raised like the kit's audio loop: a "mouth" starved by the test's
		// own busy goroutines would measure the feeder, not the call.
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
	return stop
}

// Tone is a sine of hz at a third of full scale, for Feed.
func Tone(hz float64) func(int) int16 {
	return func(i int) int16 { return int16(10000 * math.Sin(2*math.Pi*hz*float64(i)/Rate)) }
}
