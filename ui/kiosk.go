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
	"github.com/parley-lab/parley/signaling/protocol"
	"github.com/parley-lab/parley/ui/internal/xvideo"
)

// Experimenter PIN: after pinMaxAttempts wrong PINs in a row the dialog
// refuses PINs for pinLockout (participants might try to guess).
const (
	pinMaxAttempts = 3
	pinLockout     = time.Minute
)

// uiTickInterval is how often the countdown and the microphone meter are
// refreshed.
const uiTickInterval = 100 * time.Millisecond

// finalCountdown is the stretch at the end of the discussion in which the
// countdown is shown larger and in red.
const finalCountdown = 30 * time.Second

// screenID names the screen on show.
type screenID int

const (
	scrNone screenID = iota
	scrWelcome
	scrDevice
	scrWaiting
	scrCall
	scrEnded
	scrConsent  // consent to recording (consent.go)
	scrDeclined // declined to be recorded
)

var screenNames = [...]string{"", "welcome", "device", "waiting", "call", "ended", "consent", "declined"}

func (s screenID) String() string { return screenNames[s] }

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

func (k *Kiosk) listen() {
	defer k.wg.Done()
	ch := k.eng.Changed()
	for {
		select {
		case <-k.stopCh:
			return
		case <-ch:
			k.scheduleApply()
		}
	}
}

// scheduleApply queues one apply unless one is pending; the pending one reads
// the newest State when it runs, so no change is lost.
func (k *Kiosk) scheduleApply() {
	if !k.applyPending.CompareAndSwap(false, true) {
		return
	}
	k.do(func() {
		k.applyPending.Store(false)
		k.apply()
	})
}

func (k *Kiosk) tickLoop() {
	defer k.wg.Done()
	t := time.NewTicker(uiTickInterval)
	defer t.Stop()
	for {
		select {
		case <-k.stopCh:
			return
		case <-t.C:
			if k.tickPending.CompareAndSwap(false, true) {
				k.do(func() {
					k.tickPending.Store(false)
					k.tick()
				})
			}
		}
	}
}

// tick refreshes what changes with time: the countdown and the mic meter.
func (k *Kiosk) tick() {
	if k.closed.Load() {
		return
	}
	switch k.screen {
	case scrCall:
		k.call.updateClock()
	case scrDevice:
		k.device.updateMeter()
	}
	k.maybeRunEndAction() // the upload wait is bounded in time
}

// apply renders the engine's current State. UI goroutine only.
func (k *Kiosk) apply() {
	if k.closed.Load() {
		return
	}
	s := k.eng.State()
	k.state = s

	showBanner := !s.ServerOnline && s.Phase >= participant.PhaseWaiting && s.Phase < participant.PhaseEnded
	if showBanner != k.banner.Visible() {
		if showBanner {
			k.banner.Show()
		} else {
			k.banner.Hide()
		}
	}

	k.announce.update(s.Announcement)
	if showTop := k.banner.Visible() || k.announce.obj.Visible(); showTop != k.top.Visible() {
		setVisible(k.top, showTop)
		k.root.Refresh()
	}
	target := k.screenFor(s)
	switch target {
	case scrWelcome:
		k.welcome.update(s)
	case scrDevice:
		k.device.update(s)
	case scrWaiting:
		k.waiting.update(s)
	case scrCall:
		k.call.update(s)
	case scrEnded:
		k.ended.update(s)
	case scrConsent:
		k.consent.update(s)
	}
	if target != k.screen {
		k.switchTo(target)
	}
	if s.Phase == participant.PhaseEnded && !k.endHandled {
		k.endHandled = true
		k.scheduleEndAction()
	} else {
		k.maybeRunEndAction() // it may wait for the uploads
	}
}

// screenFor maps a State to a screen. In a recorded session, consent comes
// first after a successful join; then the device check, which is skipped
// once the discussion clock runs, so nobody loses discussion time on it.
func (k *Kiosk) screenFor(s participant.State) screenID {
	switch s.Phase {
	case participant.PhaseIdle, participant.PhaseConnecting:
		return scrWelcome
	case participant.PhaseEnded:
		return scrEnded
	}
	if id := consentScreenFor(s); id != scrNone {
		return id // not Ready yet either: the server pairs only who consented
	}
	if !s.Ready {
		// The server pairs only ready participants: the check comes first,
		// unless the session or this workstation has none.
		if s.DeviceCheck != protocol.DeviceCheckOff && k.cfg.DeviceCheck {
			return scrDevice
		}
		k.deviceContinue()
	}
	if s.Phase == participant.PhaseWaiting {
		return scrWaiting
	}
	return scrCall
}

func (k *Kiosk) switchTo(id screenID) {
	// Stop the videos of the screen we leave.
	switch k.screen {
	case scrDevice:
		k.device.self.Stop()
	case scrCall:
		k.call.remote.Stop()
		k.call.self.Stop()
	}
	k.screen = id
	k.attachVideoWindows()
	var obj fyne.CanvasObject
	var focus fyne.Focusable
	switch id {
	case scrWelcome:
		obj, focus = k.welcome.obj, k.welcome.entry
	case scrDevice:
		obj = k.device.obj
		k.device.self.Start()
		k.device.updateMeter()
	case scrWaiting:
		obj = k.waiting.obj
	case scrCall:
		obj = k.call.obj
		k.call.startVideos()
		k.call.updateClock()
		focus = k.call.chat.focusTarget()
	case scrEnded:
		obj = k.ended.obj
	case scrConsent:
		obj = k.consent.obj
		k.consent.reset()
		k.win.Canvas().Unfocus() // no answer is preselected: Tab reaches the first
	case scrDeclined:
		obj = k.declined.obj
	}
	k.body.Objects = []fyne.CanvasObject{obj}
	k.body.Refresh()
	if focus != nil {
		k.win.Canvas().Focus(focus)
	}
}

// deviceContinue leaves the device check: the participant is ready.
func (k *Kiosk) deviceContinue() {
	k.eng.Ready()
}

func (k *Kiosk) scheduleEndAction() {
	if k.cfg.EndAction == EndStay || k.cfg.EndAction == "" {
		return
	}
	if k.cfg.EndActionDelay <= 0 {
		k.endActionDue()
		return
	}
	k.endTimer = time.AfterFunc(k.cfg.EndActionDelay, func() { k.do(k.endActionDue) })
}

func (k *Kiosk) runEndAction() {
	if k.closed.Load() {
		return
	}
	switch k.cfg.EndAction {
	case EndQuit:
		k.leaveAndQuit(ExitCodeEnded)
	case EndURL:
		u, err := BuildEndURL(k.cfg.EndURL, k.state.Seat, k.state.Session, k.state.Pseudonym)
		if err != nil {
			fyne.LogError("end_url", err)
			return
		}
		if err := k.app.OpenURL(u); err != nil {
			fyne.LogError("opening end_url", err)
		}
	}
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
