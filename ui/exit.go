package ui

// exit.go: leaving the kiosk: the experimenter's exit keys and PIN dialog,
// the end action once the discussion ended (quit or open a URL; recording.go
// holds it back while segments upload), leaving the engine within a bound,
// and quitting.

import (
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/widget"
)

// Experimenter PIN: after pinMaxAttempts wrong PINs in a row the dialog
// refuses PINs for pinLockout (participants might try to guess).
const (
	pinMaxAttempts = 3
	pinLockout     = time.Minute
)

// LeaveLimit bounds how long leaving waits for the engine (devices, the
// network) before the kiosk quits anyway. The engine's state file stops
// naming the participant for resuming first, and keeps what the server has
// not yet taken for the next start, so nothing is lost by not waiting longer.
const LeaveLimit = 1500 * time.Millisecond

// leaveAndQuit ends participation and quits within LeaveLimit.
func (k *Kiosk) leaveAndQuit(code int) {
	done := make(chan struct{})
	go func() { k.eng.Leave(); close(done) }()
	select {
	case <-done:
	case <-time.After(LeaveLimit):
		fyne.LogError("leaving took longer than "+LeaveLimit.String()+"; quitting anyway", nil)
	}
	k.quit(code)
}

// quit stops the kiosk and hands over to OnQuit (default: the app quits).
func (k *Kiosk) quit(code int) {
	if k.closeHandled {
		return
	}
	k.closeHandled = true
	k.exitCode = code
	// Close waits for our goroutines; they never block on the UI goroutine.
	k.Close()
	if k.cfg.OnQuit != nil {
		k.cfg.OnQuit(code)
		return
	}
	k.app.Quit()
}

// RequestExit opens the experimenter's PIN dialog (bound to the exit keys).
// With no PIN configured (only allowed outside kiosk mode) it leaves at once.
func (k *Kiosk) RequestExit() {
	if !k.cfg.HasPIN() {
		if !k.cfg.Kiosk {
			k.leaveAndQuit(ExitCodeExperimenter)
			return
		}
		// A kiosk without a PIN cannot be left from its keyboard: say why.
		dialog.ShowInformation(k.t(kExitTitle), k.t(kNoPINSet), k.win)
		return
	}
	if k.exitDialog != nil || k.closeHandled {
		return
	}
	k.pinEntry = newKioskEntry(k)
	k.pinEntry.Password = true
	k.pinEntry.SetPlaceHolder(k.t(kExitPIN))
	k.pinError = widget.NewLabel("")
	k.pinError.Importance = widget.DangerImportance
	k.pinError.Hide()
	cancel := widget.NewButton(k.t(kCancel), k.closeExitDialog)
	leave := widget.NewButton(k.t(kExitLeave), func() { k.submitPIN(k.pinEntry.Text) })
	leave.Importance = widget.DangerImportance
	k.pinEntry.OnSubmitted = k.submitPIN
	content := container.New(&columnLayout{width: 360},
		k.pinEntry, k.pinError, container.NewGridWithColumns(2, cancel, leave))
	d := dialog.NewCustomWithoutButtons(k.t(kExitTitle), content, k.win)
	k.exitDialog = d
	d.Show()
	k.placeVideos() // video windows would cover the dialog
	k.win.Canvas().Focus(k.pinEntry)
}

func (k *Kiosk) closeExitDialog() {
	if k.exitDialog != nil {
		k.exitDialog.Hide()
		k.exitDialog = nil
		k.placeVideos()
	}
}

// submitPIN leaves if pin is the experimenter's PIN; otherwise it says so
// and stays.
func (k *Kiosk) submitPIN(pin string) {
	now := k.now()
	if now.Before(k.pinLocked) {
		k.pinError.SetText(k.t(kExitLocked))
		k.pinError.Show()
		k.pinEntry.SetText("")
		return
	}
	if !k.cfg.pinMatches(pin) {
		k.pinFailures++
		msg := k.t(kExitWrong)
		if k.pinFailures >= pinMaxAttempts {
			k.pinFailures = 0
			k.pinLocked = now.Add(pinLockout)
			msg = k.t(kExitLocked)
		}
		k.pinError.SetText(msg)
		k.pinError.Show()
		k.pinEntry.SetText("")
		return
	}
	k.pinFailures = 0
	k.closeExitDialog()
	k.leaveAndQuit(ExitCodeExperimenter)
}

// isExitShortcut reports whether s is the experimenter's exit combination.
func (k *Kiosk) isExitShortcut(s fyne.Shortcut) bool {
	cs, ok := s.(*desktop.CustomShortcut)
	return ok && cs.KeyName == k.exitShortcut.KeyName && cs.Modifier == k.exitShortcut.Modifier
}

// kioskEntry is an Entry that hands the exit combination to the kiosk: a
// focused Entry receives shortcuts before the canvas does.
type kioskEntry struct {
	widget.Entry
	k *Kiosk
}

func newKioskEntry(k *Kiosk) *kioskEntry {
	e := &kioskEntry{k: k}
	e.ExtendBaseWidget(e)
	return e
}

func (e *kioskEntry) TypedShortcut(s fyne.Shortcut) {
	if e.k.isExitShortcut(s) {
		e.k.RequestExit()
		return
	}
	e.Entry.TypedShortcut(s)
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
