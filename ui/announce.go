package ui

// announce.go: the experimenter's announcement, a banner over every screen
// (where the participant looks, not only in a chat tab) until dismissed.

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/widget"

	"github.com/parley-lab/parley/signaling/participant"
)

type announcement struct {
	k    *Kiosk
	obj  *fyne.Container
	body *widget.Label
	id   string // the message shown
}

func (k *Kiosk) newAnnouncement() *announcement {
	a := &announcement{k: k}
	title := widget.NewLabel(k.t(kAnnouncement))
	title.TextStyle.Bold = true
	a.body = widget.NewLabel("")
	a.body.Wrapping = fyne.TextWrapWord
	ok := widget.NewButton(k.t(kDismiss), func() {
		if a.id != "" {
			k.eng.Dismiss(a.id)
		}
	})
	ok.Importance = widget.HighImportance
	row := container.NewBorder(nil, nil, title, container.NewCenter(ok), a.body)
	a.obj = container.NewStack(canvas.NewRectangle(withAlpha(k.theme.primary, 0x30)), container.NewPadded(row))
	a.obj.Hide()
	return a
}

// update shows m, or hides the banner when m is nil. UI goroutine only.
func (a *announcement) update(m *participant.Message) {
	if m == nil {
		if a.obj.Visible() {
			a.id = ""
			a.obj.Hide()
		}
		return
	}
	if m.ID != a.id {
		a.id = m.ID
		a.body.SetText(m.Body)
	}
	if !a.obj.Visible() {
		a.obj.Show()
	}
}
