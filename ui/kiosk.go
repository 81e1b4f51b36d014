// Package ui is the kiosk's screens: a fullscreen Fyne front end that renders
// a participant.Engine's State (welcome, device check, waiting, discussion
// with video and chat, end) and forwards the participant's intents (Join,
// SendChat, SetMute, Leave). It holds no logic of its own about the call.
//
// Threading: only the UI goroutine touches widgets. Engine change
// notifications, the countdown/meter ticker and the video tickers each keep
// at most one fyne.Do pending. The package does not import fyne/v2/app, so
// it is tested headless with fyne.io/fyne/v2/test.
package ui

// kiosk.go: the Kiosk: New, building its screens, Start, ShowAndRun and
// Close, and what the demo and tests read of it (Screen, VideoAreas).

import (
	"image"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/widget"

	"github.com/parley-lab/parley/signaling/participant"
	"github.com/parley-lab/parley/ui/internal/xvideo"
)

// Kiosk is the kiosk UI bound to one window and one engine. Create it with
// New, then call ShowAndRun (or Start and run the app yourself).
type Kiosk struct {
	app fyne.App
	win fyne.Window
	eng participant.Engine
	cfg Config
	tr  translator
	now func() time.Time
	loc *time.Location // time zone of chat times; time.Local

	exitShortcut *desktop.CustomShortcut
	theme        *kioskTheme

	// manual disables every goroutine (tests drive apply, tick and Poll).
	manual bool
	// do runs a func on the UI goroutine: fyne.Do (replaceable in tests,
	// whose driver runs it on the calling goroutine).
	do              func(func())
	frameInterval   time.Duration // self-view polls
	partnerInterval time.Duration // partner video polls

	// UI-goroutine state.
	state        participant.State
	screen       screenID
	endHandled   bool
	endTimer     *time.Timer
	endWaiting   bool      // the end action is due and waits for uploads (recording.go)
	endDueAt     time.Time // when it fell due
	exitDialog   dialog.Dialog
	pinEntry     *kioskEntry
	pinError     *widget.Label
	started      bool
	closeHandled bool
	exitCode     int
	pinFailures  int
	pinLocked    time.Time // PINs refused until then

	// The X11 windows the videos show on (see attachVideoWindows).
	xv      *xvideo.Display
	xvWins  []*xvideo.Window
	xvTried bool

	root   *fyne.Container
	body   *fyne.Container
	banner *fyne.Container
	// announce shows an experimenter's message over every screen.
	announce *announcement
	top      *fyne.Container // banner and announce

	welcome *welcomeScreen
	device  *deviceScreen
	waiting *waitingScreen
	call    *callScreen
	ended   *endScreen

	consent  *consentScreen
	declined *declinedScreen

	applyPending atomic.Bool
	tickPending  atomic.Bool
	closed       atomic.Bool // set by Close; late fyne.Do funcs then do nothing
	stopCh       chan struct{}
	wg           sync.WaitGroup
	closeOnce    sync.Once
}

// New builds the kiosk for win, rendering eng. cfg should have passed
// Validate; invalid colours or exit keys fall back to the defaults. New sets
// the app's theme but does not show the window: call ShowAndRun or Start.
func New(app fyne.App, win fyne.Window, eng participant.Engine, cfg Config) *Kiosk {
	return newKiosk(app, win, eng, cfg, false)
}

func newKiosk(app fyne.App, win fyne.Window, eng participant.Engine, cfg Config, manual bool) *Kiosk {
	def := DefaultConfig()
	if cfg.LabName == "" {
		cfg.LabName = def.LabName
	}
	primary, err := parseHexColor(cfg.PrimaryColor)
	if err != nil {
		primary, _ = parseHexColor(def.PrimaryColor)
	}
	accent, err := parseHexColor(cfg.AccentColor)
	if err != nil {
		accent, _ = parseHexColor(def.AccentColor)
	}
	sc, err := ParseShortcut(cfg.ExitKeys)
	if err != nil {
		sc, _ = ParseShortcut(def.ExitKeys)
	}
	k := &Kiosk{
		app: app, win: win, eng: eng, cfg: cfg,
		tr:              translator{lang: resolveLanguage(cfg.Language, os.Getenv)},
		now:             cfg.Clock,
		loc:             time.Local,
		exitShortcut:    sc,
		theme:           &kioskTheme{primary: primary, accent: accent},
		manual:          manual,
		frameInterval:   VideoFrameInterval,
		partnerInterval: PartnerPollInterval,
		stopCh:          make(chan struct{}),
		do:              fyne.Do,
	}
	if k.now == nil {
		k.now = time.Now
	}
	if manual {
		k.frameInterval, k.partnerInterval = 0, 0
	}
	app.Settings().SetTheme(k.theme)
	k.build()
	return k
}

// t is the kiosk's translation function.
func (k *Kiosk) t(key msgKey, args ...any) string { return k.tr.T(key, args...) }

func (k *Kiosk) build() {
	k.welcome = k.newWelcomeScreen()
	k.device = k.newDeviceScreen()
	k.waiting = k.newWaitingScreen()
	k.call = k.newCallScreen()
	k.ended = k.newEndScreen()
	k.consent = k.newConsentScreen()
	k.declined = k.newDeclinedScreen()
	for _, v := range k.videos() {
		v.do = func(f func()) { k.do(f) } // k.do as it is when a frame arrives
	}

	msg := canvas.NewText(k.t(kServerOffline), colOverlayText)
	msg.TextStyle.Bold = true
	msg.Alignment = fyne.TextAlignCenter
	k.banner = container.NewStack(canvas.NewRectangle(colDanger), container.NewPadded(msg))
	k.banner.Hide()
	k.announce = k.newAnnouncement()
	k.body = container.NewStack()
	// No background rectangle: the theme's background is the window's clear
	// colour, and a full-window rectangle costs a shaded pass on every
	// repaint (without a GPU, a large share of the kiosk's CPU).
	// The top holds the banners; hidden while both are, so it takes no room.
	k.top = container.NewVBox(k.banner, k.announce.obj)
	k.top.Hide()
	k.root = container.NewBorder(k.top, nil, nil, nil, k.body)
}

// Start configures the window (kiosk mode, exit keys), shows the current
// state and starts following the engine. Call it once, on the UI goroutine,
// before or while the app runs.
func (k *Kiosk) Start() {
	if k.started {
		return
	}
	k.started = true
	k.win.SetTitle(k.cfg.LabName)
	if k.cfg.Kiosk {
		k.win.SetFullScreen(true)
		k.win.SetPadded(false)
		k.win.SetCloseIntercept(func() {}) // participants cannot close the kiosk
	} else {
		k.win.SetCloseIntercept(func() {
			k.leaveAndQuit(ExitCodeExperimenter)
		})
	}
	k.win.Canvas().AddShortcut(k.exitShortcut, func(fyne.Shortcut) { k.RequestExit() })
	k.win.SetContent(k.root)
	k.apply()
	if !k.manual {
		k.wg.Add(2)
		go k.listen()
		go k.tickLoop()
	}
}

// ShowAndRun starts the kiosk, shows the window and runs the app until it
// quits, then stops the kiosk's goroutines and returns the exit code the
// kiosk quit with (ExitCodeEnded, ExitCodeExperimenter; 0 if the app was
// quit otherwise). With OnQuit unset the app quits, so a main can do:
//
//	os.Exit(ui.New(a, w, eng, cfg).ShowAndRun())
func (k *Kiosk) ShowAndRun() int {
	k.Start()
	k.win.ShowAndRun()
	k.Close()
	return k.exitCode
}

// Close stops every goroutine of the kiosk (engine listener, ticker, video
// tickers, a pending end action). It does not tell the engine anything.
// Safe to call more than once.
func (k *Kiosk) Close() {
	k.closeOnce.Do(func() {
		k.closed.Store(true)
		close(k.stopCh)
		k.wg.Wait()
		if k.endTimer != nil {
			k.endTimer.Stop()
		}
		for _, v := range k.videos() {
			v.Stop()
		}
		k.detachVideoWindows()
	})
}

// Screen names the screen the kiosk shows: "welcome", "consent",
// "declined", "device", "waiting", "call" or "ended". For the demo's checks and tests; call it on the UI
// goroutine.
func (k *Kiosk) Screen() string { return k.screen.String() }

// VideoAreas returns, in the window's canvas coordinates, where the
// partner's video and the self-view are drawn on the discussion screen
// (zero sizes when not shown). The demo checks that these areas move.
func (k *Kiosk) VideoAreas() (remote, self image.Rectangle) {
	rect := func(v *VideoView) image.Rectangle {
		if v == nil || !v.Visible() {
			return image.Rectangle{}
		}
		d := fyne.CurrentApp().Driver()
		pos := d.AbsolutePositionForObject(v)
		size := v.Size()
		return image.Rect(int(pos.X), int(pos.Y), int(pos.X+size.Width), int(pos.Y+size.Height))
	}
	return rect(k.call.remote), rect(k.call.self)
}

// OnPartnerFrameShown sets a function that sees each of the partner's
// frames as the discussion screen hands it to the canvas (on the UI
// goroutine). The demo uses it to measure capture to screen.
func (k *Kiosk) OnPartnerFrameShown(f func(img *image.RGBA, at time.Time)) { k.call.remote.OnShown(f) }
