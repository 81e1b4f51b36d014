package kit

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/gen2brain/malgo"

	"github.com/parley-lab/parley/media/capture"
	"github.com/parley-lab/parley/media/capture/pulsetest"
	"github.com/parley-lab/parley/signaling/testkit"
)

// levelLimit bounds how long a test waits for the microphone level to show.
const levelLimit = 10 * time.Second

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// closeWithin closes k and fails if that takes longer than Close promises.
func closeWithin(t *testing.T, k *Kit) {
	t.Helper()
	start := time.Now()
	if err := k.Media().Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	t.Logf("closed in %v", time.Since(start))
	if d := time.Since(start); d > CloseLimit+DeviceCloseLimit {
		t.Fatalf("close took %v", d)
	}
}

// A kit with a microphone on miniaudio's null backend (no sound card)
// opens, runs its capture loop and closes within its bound.
func TestMicrophoneNullBackendCloses(t *testing.T) {
	k, err := Open(Options{AudioSource: SourceMicrophone, PlayAudio: true, AudioBackends: []malgo.Backend{NullBackend}, Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if k.Media().NoMicrophone() || k.Media().NoAudioOutput() {
		t.Fatalf("no microphone %v, no output %v", k.Media().NoMicrophone(), k.Media().NoAudioOutput())
	}
	closeWithin(t, k)
	k.Close() // idempotent
}

// Through a real PulseAudio: with no microphone named the kit takes the
// default one (not the default source, a monitor), hears what it records,
// and closes within the bound while its capture loop waits on the device.
func TestMicrophonePulseDefault(t *testing.T) {
	_, mics := pulsetest.Start(t, []string{"micA"}, []string{"spkA"}, "spkA.monitor")
	mics["micA"].Feed(t, pulsetest.Tone(440))
	k, err := Open(Options{AudioSource: SourceMicrophone, PlayAudio: true, AudioBackends: []malgo.Backend{malgo.BackendPulseaudio}, Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if k.player == nil || k.player.device != "spkA" {
		t.Fatalf("player %+v", k.player)
	}
	deadline := time.Now().Add(levelLimit)
	for k.Media().MicLevel() < 0.05 {
		if time.Now().After(deadline) {
			t.Fatalf("microphone level %v after %v", k.Media().MicLevel(), levelLimit)
		}
		time.Sleep(capture.PeriodMS * time.Millisecond)
	}
	closeWithin(t, k)
}

// A named microphone that does not exist is an error, not another device.
func TestMicrophoneNamedMissing(t *testing.T) {
	_, err := Open(Options{AudioSource: SourceMicrophone, Microphone: "no such mic", AudioBackends: []malgo.Backend{NullBackend}, Log: quiet})
	if err == nil {
		t.Fatal("opened a microphone that does not exist")
	}
	k, err := Open(Options{AudioSource: SourceMicrophone, Microphone: "no such mic", FallbackToTest: true, AudioBackends: []malgo.Backend{NullBackend}, Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if !k.Media().NoMicrophone() {
		t.Fatal("fallback to the test tone not reported as no microphone")
	}
	closeWithin(t, k)
	// The kiosk's setting: no microphone is reported; the audio track
	// waits for one to be plugged in (micretry_test.go).
	k, err = Open(Options{AudioSource: SourceMicrophone, Microphone: "no such mic", MicrophoneOptional: true, AudioBackends: []malgo.Backend{NullBackend}, Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if !k.Media().NoMicrophone() || k.audioTrack == nil {
		t.Fatalf("no microphone %v, audio track %v", k.Media().NoMicrophone(), k.audioTrack)
	}
	closeWithin(t, k)
}

// waitFor polls cond (every capture period) up to limit.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", limit, what)
		}
		time.Sleep(capture.PeriodMS * time.Millisecond)
	}
}

// A microphone that stops delivering in the middle (its PulseAudio source
// loses its writer) is reported, the call gets silence meanwhile, and when
// it delivers again the kit says so and sends it.
func TestMicrophoneStopsAndResumes(t *testing.T) {
	_, mics := pulsetest.Start(t, []string{"micA"}, nil, "micA")
	stop := mics["micA"].Feed(t, pulsetest.Tone(440))
	var logs testkit.Log
	k, err := Open(Options{AudioSource: SourceMicrophone, AudioBackends: []malgo.Backend{malgo.BackendPulseaudio},
		Log: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer closeWithin(t, k)
	loud := func() bool { return k.Media().MicLevel() > 0.05 }
	waitFor(t, levelLimit, "the tone is heard", loud)
	stop()
	waitFor(t, levelLimit, "the silence is reported", func() bool { return logs.Contains("sending silence until it delivers again") })
	waitFor(t, levelLimit, "the level drops", func() bool { return !loud() })
	mics["micA"].Feed(t, pulsetest.Tone(440))
	waitFor(t, levelLimit, "the microphone is back", func() bool { return logs.Contains("the microphone delivers again") })
	waitFor(t, levelLimit, "the tone is heard again", loud)
}
