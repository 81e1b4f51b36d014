package ui

// consent.go: the consent screens of a recorded session. After joining, a
// participant whose session records (State.Record) answers the consent
// screen before the device check and pairing; the answer goes to the engine
// (Engine.Consent), which keeps the first one. A participant who declined
// sees a calm screen until the experimenter comes. The UI only shows what
// State says: whether to ask, and what the answer was, are the engine's.

import (
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/parley-lab/parley/signaling/participant"
	"github.com/parley-lab/parley/signaling/protocol"
)

// recordsSession reports whether the session's record setting records
// anything ("" is off).
func recordsSession(s participant.State) bool {
	return s.Record == protocol.RecordAudio || s.Record == protocol.RecordAudioVideo
}

// consentScreenFor is the consent screen a joined, unpaired participant
// sees (scrConsent or scrDeclined), or scrNone when the session does not
// record or consent was given.
func consentScreenFor(s participant.State) screenID {
	if s.Phase != participant.PhaseWaiting || !recordsSession(s) {
		return scrNone
	}
	switch s.Consent {
	case "":
		return scrConsent
	case protocol.ConsentDeclined:
		return scrDeclined
	}
	return scrNone
}

// keyButton is a Button that Enter and Return press too, not only Space,
// so a participant can answer with Tab and Enter.
type keyButton struct {
	widget.Button
}

func newKeyButton(label string, tapped func()) *keyButton {
	b := &keyButton{}
	b.Text, b.OnTapped = label, tapped
	b.ExtendBaseWidget(b)
	return b
}

func (b *keyButton) TypedKey(ev *fyne.KeyEvent) {
	if ev.Name == fyne.KeyReturn || ev.Name == fyne.KeyEnter {
		if !b.Disabled() {
			b.Tapped(nil)
		}
		return
	}
	b.Button.TypedKey(ev)
}

// ---- Consent ------------------------------------------------------------

type consentScreen struct {
	k       *Kiosk
	obj     fyne.CanvasObject
	text    *widget.Label
	what    *widget.Label
	agree   *keyButton
	decline *keyButton
	col     *fyne.Container
	// answered: a button was pressed; both stay disabled so a second press
	// cannot look like a changed answer (the engine keeps the first).
	answered bool
}

func (k *Kiosk) newConsentScreen() *consentScreen {
	c := &consentScreen{k: k}
	c.text = paragraph("")
	c.text.Alignment = fyne.TextAlignLeading // a lab's text may be long: it reads better from the left
	c.what = paragraph("")
	c.what.TextStyle.Bold = true
	c.what.Alignment = fyne.TextAlignLeading
	// Both answers look the same: neither is the expected one.
	c.agree = newKeyButton(k.t(kConsentAgree), func() { c.answer(true) })
	c.agree.Importance = widget.HighImportance
	c.decline = newKeyButton(k.t(kConsentDecline), func() { c.answer(false) })
	c.decline.Importance = widget.HighImportance
	c.col = container.New(&columnLayout{width: columnWidth},
		heading(k.t(kConsentTitle)),
		c.text,
		c.what,
		layout.NewSpacer(),
		// One above the other, full width: a long answer in any language fits.
		container.NewVBox(c.agree, c.decline),
	)
	// A long text of the lab's scrolls instead of pushing the buttons off screen.
	c.obj = container.NewBorder(k.header(nil), nil, nil, nil, container.NewVScroll(c.col))
	return c
}

// answer tells the engine, in the language the text was shown in.
func (c *consentScreen) answer(given bool) {
	if c.answered {
		return
	}
	c.answered = true
	c.agree.Disable()
	c.decline.Disable()
	c.k.eng.Consent(given, c.k.tr.lang)
}

// reset makes the buttons answer again (the screen is shown afresh).
func (c *consentScreen) reset() {
	c.answered = false
	c.agree.Enable()
	c.decline.Enable()
}

func (c *consentScreen) update(s participant.State) {
	k := c.k
	text := k.cfg.consentText(k.tr.lang)
	what := k.t(kConsentWhatAudio)
	if s.Record == protocol.RecordAudioVideo {
		what = k.t(kConsentWhatVideo)
		if text == "" {
			text = k.t(kConsentAudioVideo)
		}
	} else if text == "" {
		text = k.t(kConsentAudio)
	}
	text = strings.TrimSpace(text)
	if c.text.Text != text {
		c.text.SetText(text)
	}
	if c.what.Text != what {
		c.what.SetText(what)
	}
	c.col.Refresh()
}

// ---- Declined -----------------------------------------------------------

type declinedScreen struct {
	obj fyne.CanvasObject
}

func (k *Kiosk) newDeclinedScreen() *declinedScreen {
	text := paragraph(k.t(kDeclinedText))
	text.SizeName = theme.SizeNameSubHeadingText
	col := container.New(&columnLayout{width: columnWidth},
		heading(k.t(kDeclinedTitle)),
		text,
	)
	return &declinedScreen{obj: container.NewBorder(k.header(nil), nil, nil, nil, col)}
}
