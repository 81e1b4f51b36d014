package ui

// flow.go: which screen when: following the engine (its change signal, and a
// tick for the countdown and the meter) and showing the screen its State
// calls for, starting and stopping the videos of the screens switched.

import (
	"time"

	"fyne.io/fyne/v2"

	"github.com/parley-lab/parley/signaling/participant"
	"github.com/parley-lab/parley/signaling/protocol"
)

// uiTickInterval is how often the countdown and the microphone meter are
// refreshed.
const uiTickInterval = 100 * time.Millisecond

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
