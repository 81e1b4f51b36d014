package kit

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/parley-lab/parley/media/capture"
	"github.com/parley-lab/parley/media/testsrc"
	"github.com/parley-lab/parley/signaling/testkit"
)

// flakyMic stands in for a microphone: missing at first, then delivering
// a tone, then failing (unplugged), then back.
type flakyMic struct {
	mu      sync.Mutex
	present bool
	opened  int
}

var errMicUnplugged = errors.New("microphone unplugged")

func (f *flakyMic) set(present bool) { f.mu.Lock(); f.present = present; f.mu.Unlock() }
func (f *flakyMic) opens() int       { f.mu.Lock(); defer f.mu.Unlock(); return f.opened }

func (f *flakyMic) open(*Kit) (micDevice, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.present {
		return nil, capture.ErrNoDevice
	}
	f.opened++
	return &testMic{f: f, tone: testsrc.NewTone(DefaultToneHz, capture.SampleRate), closed: make(chan struct{})}, nil
}

// testMic is one opened flakyMic: 20 ms of tone per read, in real time.
type testMic struct {
	f         *flakyMic
	tone      *testsrc.Tone
	closeOnce sync.Once
	closed    chan struct{}
}

func (m *testMic) Read(pcm []int16) error {
	select {
	case <-m.closed:
		return capture.ErrClosed
	case <-time.After(20 * time.Millisecond):
	}
	m.f.mu.Lock()
	ok := m.f.present
	m.f.mu.Unlock()
	if !ok {
		return errMicUnplugged
	}
	m.tone.Fill(pcm)
	return nil
}
func (m *testMic) Close() error  { m.closeOnce.Do(func() { close(m.closed) }); return nil }
func (m *testMic) Label() string { return "test microphone" }
func (m *testMic) Lost() uint64  { return 0 }

func withMic(t *testing.T, f *flakyMic) {
	was := openMic
	openMic = f.open
	t.Cleanup(func() { openMic = was })
}

// TestMicrophonePluggedInLaterAndBackAfterAFailure: a kiosk started
// without its microphone says so, picks the microphone up when it is
// plugged in, says so again when its reads fail, and takes it back when
// it returns; the call's audio track is there all along.
func TestMicrophonePluggedInLaterAndBackAfterAFailure(t *testing.T) {
	mic := &flakyMic{}
	withMic(t, mic)
	k, err := Open(Options{VideoSource: SourceNone, AudioSource: SourceMicrophone, MicrophoneOptional: true, Log: quiet})
	if err != nil {
		t.Fatalf("a missing optional microphone failed Open: %v", err)
	}
	defer closeWithin(t, k)
	m := k.Media()
	if !m.NoMicrophone() || k.audioTrack == nil {
		t.Fatalf("no microphone %v, audio track %v: want the microphone reported missing and a track for it", m.NoMicrophone(), k.audioTrack)
	}
	if _, audio, _, _ := k.Sends(); !audio {
		t.Fatal("a recording would have no audio track for a microphone plugged in later")
	}
	mic.set(true)
	testkit.Eventually(t, "the microphone picked up", func() bool { return !m.NoMicrophone() })
	testkit.Eventually(t, "its level", func() bool { return m.MicLevel() > 0.05 })
	mic.set(false)
	testkit.Eventually(t, "the failure reported", func() bool { return m.NoMicrophone() && m.MicLevel() == 0 })
	mic.set(true)
	testkit.Eventually(t, "the microphone back", func() bool { return !m.NoMicrophone() && m.MicLevel() > 0.05 })
	if n := mic.opens(); n < 2 {
		t.Fatalf("the microphone was opened %d times, want again after the failure", n)
	}
}

// TestRetryDevicesTriesAtOnce: with retries an hour apart, RetryDevices
// (the device check's "Try again") picks up a microphone and a camera
// plugged in meanwhile.
func TestRetryDevicesTriesAtOnce(t *testing.T) {
	mic, cam := &flakyMic{}, &flakyCamera{}
	withMic(t, mic)
	was := openCamera
	openCamera = cam.open
	defer func() { openCamera = was }()
	k, err := Open(Options{VideoSource: SourceCamera, CameraOptional: true, AudioSource: SourceMicrophone, MicrophoneOptional: true,
		Width: 64, Height: 48, FPS: 30, RetryInterval: time.Hour, Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer closeWithin(t, k)
	m := k.Media()
	if !m.NoMicrophone() || !m.NoCamera() {
		t.Fatalf("no microphone %v, no camera %v", m.NoMicrophone(), m.NoCamera())
	}
	mic.set(true)
	cam.set(true)
	k.RetryDevices()
	testkit.Eventually(t, "both devices found after Try again", func() bool { return !m.NoMicrophone() && !m.NoCamera() })
}

// A microphone that is missing and stays so is not an error for Close:
// the retry loop stops with the kit.
func TestMissingMicrophoneRetryStopsWithTheKit(t *testing.T) {
	withMic(t, &flakyMic{})
	k, err := Open(Options{VideoSource: SourceNone, AudioSource: SourceMicrophone, MicrophoneOptional: true, RetryInterval: time.Millisecond, Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	closeWithin(t, k)
}
