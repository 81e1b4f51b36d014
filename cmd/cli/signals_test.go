package cli

import (
	"bytes"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/parley-lab/parley/media/capture/pulsetest"
	"github.com/parley-lab/parley/media/kit"
	"github.com/parley-lab/parley/media/selftest"
)

// selftestBound is how long `parley selftest` may take in these tests: call
// set-up, the discussion and leaving.
const selftestBound = selftest.DefaultConnectLimit + ExitLimit

// runMain runs the command line on its own goroutine.
func runMain(args ...string) (<-chan int, *bytes.Buffer, *bytes.Buffer) {
	var out, errb bytes.Buffer
	code := make(chan int, 1)
	go func() { code <- Main(args, Env{Stdout: &out, Stderr: &errb}) }()
	return code, &out, &errb
}

// noStuckExit fails the test if the signal watchdog would end the process.
func noStuckExit(t *testing.T) {
	t.Helper()
	exitProcess = func(code int) { t.Errorf("the watchdog exited the process (code %d)", code) }
	t.Cleanup(func() { exitProcess = os.Exit })
}

// `parley selftest` leaves promptly and cleanly on SIGTERM and on SIGINT,
// well before its discussion would have ended.
func TestSelftestLeavesOnSignal(t *testing.T) {
	noStuckExit(t)
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			installed := make(chan struct{})
			signalsInstalled = func() { close(installed) }
			defer func() { signalsInstalled = func() {} }()
			code, out, errb := runMain("selftest", "--duration", "2m")
			select {
			case <-installed:
			case c := <-code:
				t.Fatalf("selftest ended (%d) before listening for signals:\n%s%s", c, out, errb)
			}
			sent := time.Now()
			if err := syscall.Kill(syscall.Getpid(), sig); err != nil {
				t.Fatal(err)
			}
			select {
			case c := <-code:
				if c != 1 || !strings.Contains(errb.String(), "stopped by a signal") {
					t.Fatalf("exit %d:\n%s%s", c, out, errb)
				}
				t.Logf("left %v after %v", time.Since(sent), sig)
			case <-time.After(ExitLimit):
				t.Fatalf("selftest still running %v after %v", ExitLimit, sig)
			}
		})
	}
}

// `parley selftest --audio-source microphone` through a real PulseAudio:
// the microphone (a virtual one playing side A's tone) is the default one,
// the test passes, and the command exits within its bound.
func TestSelftestWithMicrophoneExits(t *testing.T) {
	_, mics := pulsetest.Start(t, []string{"micA"}, []string{"spkA"}, "spkA.monitor")
	mics["micA"].Feed(t, pulsetest.Tone(kit.DefaultToneHz))
	start := time.Now()
	code, out, errb := runMain("selftest", "--audio-source", "microphone", "--duration", "3s")
	select {
	case c := <-code:
		if c != 0 {
			t.Fatalf("exit %d:\n%s%s", c, out, errb)
		}
		t.Logf("exited after %v:\n%s", time.Since(start), out)
	case <-time.After(selftestBound):
		t.Fatalf("selftest with a microphone still running after %v", selftestBound)
	}
}

func TestPrintDevices(t *testing.T) {
	var b bytes.Buffer
	printDevices(&b, []kit.Device{
		{Kind: kit.KindMicrophone, Label: "Monitor of spkA", Key: "spkA.monitor", Monitor: true},
		{Kind: kit.KindMicrophone, Label: "Built-in Audio", Key: "alsa_input.pci", Default: true},
		{Kind: kit.KindSpeaker, Label: "spkA", Key: "spkA", Default: true},
		{Kind: kit.KindSpeaker, Label: "Rate Converter Plugin", Key: "lavrate", OnlyNamed: true},
	}, nil)
	out := b.String()
	for _, want := range []string{"no camera found", "alsa_input.pci  default", "monitor of an output: used only when named", "lavrate         used only when named", "--video-source test"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}
	if strings.Contains(out, "no microphone found") {
		t.Errorf("says no microphone:\n%s", out)
	}
	b.Reset()
	printDevices(&b, []kit.Device{{Kind: kit.KindMicrophone, Label: "Discard all samples", Key: "null", OnlyNamed: true}}, nil)
	if !strings.Contains(b.String(), "no microphone found (only the ones above, used when named)") {
		t.Errorf("only a placeholder:\n%s", b.String())
	}
	b.Reset()
	printDevices(&b, nil, kit.ErrNoDevice)
	if !strings.Contains(b.String(), "no microphone found (device not found)") || !strings.Contains(b.String(), "no speaker found") {
		t.Errorf("no devices:\n%s", b.String())
	}
}
