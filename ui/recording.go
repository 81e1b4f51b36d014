package ui

// recording.go: what the kiosk shows of a recording under way, and how its
// end waits for it: the indicator on the discussion screen while a segment
// is written (State.Recording), the end screen's line while segments are
// still uploaded (State.Uploads), and the end action (quit, URL) held back
// until the uploads are done, for at most UploadWaitLimit.

import (
	"fmt"
	"image/color"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/widget"

	"github.com/parley-lab/parley/signaling/participant"
)

// UploadWaitLimit bounds how long the end action waits, once due, for the
// recording's uploads to finish. After it the action runs anyway: the
// kiosk uploads what is left at its next start.
const UploadWaitLimit = 2 * time.Minute

// recDotSize is the diameter of the recording indicator's dot; recGap the
// room between it and the countdown.
const (
	recDotSize = 18
	recGap     = 28
)

// recIndicator is the red dot and "Recording" in the discussion's header.
type recIndicator struct {
	obj    *fyne.Container
	header fyne.CanvasObject // laid out afresh when the indicator comes or goes
}

func (k *Kiosk) newRecIndicator() *recIndicator {
	dot := canvas.NewCircle(colDanger)
	label := canvas.NewText(k.t(kRecording), colDanger)
	label.TextStyle.Bold = true
	label.TextSize = themeTextSize
	dotBox := container.NewGridWrap(fyne.NewSize(recDotSize, recDotSize), dot)
	gap := canvas.NewRectangle(color.Transparent) // keeps it apart from the countdown's caption
	gap.SetMinSize(fyne.NewSize(recGap, 1))
	r := &recIndicator{obj: container.NewHBox(container.NewCenter(dotBox), container.NewCenter(label), gap)}
	r.obj.Hide()
	return r
}

// update shows the indicator exactly while a segment is being written: not
// while the session merely records (reconnecting, before the call).
func (r *recIndicator) update(s participant.State) {
	if s.Recording == r.obj.Visible() {
		return
	}
	setVisible(r.obj, s.Recording)
	r.header.Refresh()
}

// newUploadsLine is the end screen's line about uploads still to go.
func (k *Kiosk) newUploadsLine() *widget.Label {
	l := paragraph("")
	l.TextStyle.Bold = true
	l.Hide()
	return l
}

func (e *endScreen) updateUploads(s participant.State) {
	if s.Uploads > 0 {
		if text := e.k.t(kUploadsLeft, s.Uploads); e.uploads.Text != text {
			e.uploads.SetText(text)
		}
	}
	setVisible(e.uploads, s.Uploads > 0)
}

// endActionDue runs when the end screen has shown for EndActionDelay: the
// end action runs now, or once the uploads are done.
func (k *Kiosk) endActionDue() {
	if k.closed.Load() {
		return
	}
	k.endWaiting = true
	k.endDueAt = k.now()
	k.maybeRunEndAction()
}

// maybeRunEndAction runs a due end action unless uploads remain and
// UploadWaitLimit has not passed since it was due. Called when it falls
// due, on every state change and on every tick.
func (k *Kiosk) maybeRunEndAction() {
	if !k.endWaiting {
		return
	}
	if n := k.state.Uploads; n > 0 {
		if k.now().Sub(k.endDueAt) < UploadWaitLimit {
			return
		}
		fyne.LogError(fmt.Sprintf("%d recording segments not uploaded after %v; ending anyway (the kiosk uploads them at its next start)", n, UploadWaitLimit), nil)
	}
	k.endWaiting = false
	k.runEndAction()
}
