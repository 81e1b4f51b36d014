// Package pulsetest gives tests a private PulseAudio in user space, with no
// sound card (media/bench/audiolab): virtual microphones fed from a FIFO and
// virtual speakers whose monitor records what they play. The test's
// process is pointed at it with PULSE_SERVER; nothing else on the machine
// sees it. The audio tests of different packages take turns (a file lock).
package pulsetest

import (
	"math"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"

	"github.com/parley-lab/parley/media/bench/audiolab"
)

// Rate is the sample rate of the virtual devices.
const Rate = audiolab.Rate

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

// Mic is a virtual microphone, fed in a test.
type Mic struct{ audiolab.Mic }

// Start runs PulseAudio with a pipe source per name in mics, a null sink per
// name in speakers, and defaultSource (if not empty) as the default
// source; it sets PULSE_SERVER for the test and stops the server at the
// test's end. It skips the test when PulseAudio is not installed (fails
// when EnvRequire is set).
func Start(t testing.TB, mics, speakers []string, defaultSource string) (*audiolab.Pulse, map[string]Mic) {
	t.Helper()
	if err := acquire(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(release)
	p, err := audiolab.StartPulse(mics, speakers, defaultSource)
	switch {
	case err == audiolab.ErrNoPulseAudio && os.Getenv(EnvRequire) == "":
		t.Skipf("%v: this test needs a real sound server", err)
	case err == audiolab.ErrNoPulseAudio:
		t.Fatalf("%v and %s is set", err, EnvRequire)
	case err != nil:
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.Close()
		if t.Failed() {
			t.Logf("PulseAudio's log:\n%s", p.Log())
		}
	})
	t.Setenv("PULSE_SERVER", p.ServerEnv())
	out := map[string]Mic{}
	for name, m := range p.Mics {
		out[name] = Mic{m}
	}
	return p, out
}

// Feed writes next's samples into the microphone in real time until the
// test ends or stop is called (then the source delivers nothing).
func (m Mic) Feed(t testing.TB, next func(i int) int16) (stop func()) {
	t.Helper()
	stop, err := m.Mic.Feed(next)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return stop
}

// Busy starts a busy loop per CPU in processes of their own (load as
// another program would make it) and returns the function that stops
// them; they stop at the test's end too.
func Busy(t testing.TB) (stop func()) {
	t.Helper()
	stop, err := audiolab.Busy()
	if err != nil {
		t.Fatal(err)
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

// Tone is a sine of hz at a third of full scale, for Feed.
func Tone(hz float64) func(int) int16 {
	return func(i int) int16 { return int16(10000 * math.Sin(2*math.Pi*hz*float64(i)/Rate)) }
}
