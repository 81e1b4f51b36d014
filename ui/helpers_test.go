package ui

import (
	"bytes"
	"image"
	"image/draw"
	"image/png"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"

	"github.com/parley-lab/parley/signaling/participant"
	"github.com/parley-lab/parley/signaling/protocol"
	"github.com/parley-lab/parley/ui/internal/scripted"
)

// goldenSize is the window size of the golden images (a common lab screen).
var goldenSize = fyne.NewSize(1280, 720)

// t0 is the fixed "now" of the tests.
var t0 = time.Date(2026, 11, 22, 14, 0, 0, 0, time.UTC)

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Set(t time.Time)     { c.mu.Lock(); c.now = t; c.mu.Unlock() }
func (c *fakeClock) Add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

// recWindow records what a real window driver would act on.
type recWindow struct {
	fyne.Window
	intercept func()
}

func (w *recWindow) SetCloseIntercept(f func()) { w.intercept = f; w.Window.SetCloseIntercept(f) }

// recApp records OpenURL.
type recApp struct {
	fyne.App
	mu   sync.Mutex
	urls []*url.URL
}

func (a *recApp) OpenURL(u *url.URL) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.urls = append(a.urls, u)
	return nil
}

type harness struct {
	k     *Kiosk
	eng   *scripted.Engine
	win   *recWindow
	app   *recApp
	clock *fakeClock
	quits []int
}

// testConfig is a valid config with deterministic time and no end delay.
func testConfig() Config {
	c := DefaultConfig()
	c.LabName = "Decision Lab"
	c.ExitPINHash = testPINHash
	c.Language = "en"
	c.EndActionDelay = 0
	return c
}

func baseState() participant.State {
	return participant.State{
		Phase:           participant.PhaseIdle,
		ServerOnline:    true,
		Seat:            "A3",
		Session:         "S-17",
		MaxMessageRunes: 200,
	}
}

// newHarness builds a started kiosk in manual mode (no goroutines): the test
// calls h.sync() after changing the engine's state.
func newHarness(t *testing.T, s participant.State, mod func(*Config)) *harness {
	t.Helper()
	a := &recApp{App: test.NewTempApp(t)}
	w := &recWindow{Window: a.NewWindow("Parley")}
	w.Resize(goldenSize)
	eng := scripted.New(s, 320, 240)
	h := &harness{eng: eng, win: w, app: a, clock: &fakeClock{now: t0}}
	cfg := testConfig()
	cfg.Clock = h.clock.Now
	cfg.OnQuit = func(code int) { h.quits = append(h.quits, code) }
	if mod != nil {
		mod(&cfg)
	}
	h.k = newKiosk(a, w, eng, cfg, true)
	h.k.loc = time.UTC
	h.k.Start()
	w.Resize(goldenSize)
	t.Cleanup(h.k.Close)
	return h
}

// sync applies the engine's state and pulls a new frame into every shown video.
func (h *harness) sync() {
	h.eng.RemoteFrames().Advance()
	h.eng.LocalFrames().Advance()
	h.k.apply()
	h.k.tick()
	for _, v := range h.k.videos() {
		if v.Visible() {
			v.Poll()
		}
	}
}

func (h *harness) set(f func(*participant.State)) {
	h.eng.Update(f)
	h.sync()
}

// assertGolden compares the window with testdata/name. A missing or
// different master writes testdata/failed/name and fails (without
// testify's slow diff of megabytes of pixels).
func assertGolden(t *testing.T, h *harness, name string) {
	t.Helper()
	img := h.win.Canvas().Capture()
	master, err := os.ReadFile(filepath.Join("testdata", name))
	if err == nil {
		if m, err := png.Decode(bytes.NewReader(master)); err == nil && bytes.Equal(rgbaPix(m), rgbaPix(img)) {
			test.AssertImageMatches(t, name, img) // records the match the Fyne way
			return
		}
	}
	failed := filepath.Join("testdata", "failed", name)
	if err := os.MkdirAll(filepath.Dir(failed), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(failed)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
	t.Errorf("%s does not match testdata/%s; the rendering is in %s", t.Name(), name, failed)
}

func rgbaPix(img image.Image) []byte {
	r := image.NewNRGBA(img.Bounds())
	draw.Draw(r, r.Bounds(), img, img.Bounds().Min, draw.Src)
	return r.Pix
}

// Chat fixtures.
var (
	groupChannel = participant.Channel{Name: "g-1", Kind: protocol.ChannelGroup, Writable: true}
	sessChannel  = participant.Channel{Name: "session", Kind: protocol.ChannelSession, Writable: true}
	annChannel   = participant.Channel{Name: "announcements", Kind: protocol.ChannelExperimenter, Writable: false}
)

func msg(id, ch, who, role, body string, at time.Duration, own bool) participant.Message {
	return participant.Message{ID: id, Channel: ch, Pseudonym: who, Role: role, Body: body, Time: t0.Add(at), Own: own}
}

// testPINHash is HashPIN("2468"), made once for all tests (hashing is slow on purpose).
var testPINHash = func() string {
	h, err := HashPIN("2468")
	if err != nil {
		panic(err)
	}
	return h
}()
