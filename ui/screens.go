package ui

import (
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/parley-lab/parley/signaling/participant"
	"github.com/parley-lab/parley/signaling/protocol"
)

// Sizes of screen elements.
const (
	columnWidth       = 640 // welcome/waiting/end text column
	deviceViewWidth   = 480 // device check self-view
	deviceColumnWidth = 1000
	logoSize          = 72
	chatShare         = 0.36 // chat panel's share of the discussion screen's width
)

// header returns the lab's name (and logo) as a bar.
func (k *Kiosk) header(trailing fyne.CanvasObject) fyne.CanvasObject {
	name := widget.NewLabel(k.cfg.LabName)
	name.TextStyle.Bold = true
	name.SizeName = theme.SizeNameSubHeadingText
	left := []fyne.CanvasObject{}
	if k.cfg.LogoPath != "" {
		logo := canvas.NewImageFromFile(k.cfg.LogoPath)
		logo.FillMode = canvas.ImageFillContain
		logo.SetMinSize(fyne.NewSize(logoSize*0.6, logoSize*0.6))
		left = append(left, logo)
	}
	left = append(left, name)
	if trailing != nil {
		trailing = container.NewPadded(trailing)
	}
	bar := container.NewBorder(nil, nil, container.NewHBox(left...), trailing)
	return container.NewVBox(container.NewPadded(bar), widget.NewSeparator())
}

func heading(text string) *widget.Label {
	l := widget.NewLabel(text)
	l.SizeName = theme.SizeNameHeadingText
	l.TextStyle.Bold = true
	l.Alignment = fyne.TextAlignCenter
	l.Wrapping = fyne.TextWrapWord
	return l
}

func paragraph(text string) *widget.Label {
	l := widget.NewLabel(text)
	l.Wrapping = fyne.TextWrapWord
	l.Alignment = fyne.TextAlignCenter
	return l
}

func setVisible(o fyne.CanvasObject, v bool) {
	if v == o.Visible() {
		return
	}
	if v {
		o.Show()
	} else {
		o.Hide()
	}
}

// noticeText is a Notice in plain words in the kiosk's language: the
// catalogue's text for its code (the engine's texts are English fallbacks),
// else the engine's sentence, else a generic sentence naming the code.
func (k *Kiosk) noticeText(n *participant.Notice) string {
	if n == nil {
		return ""
	}
	if key, ok := codeTexts[n.Code]; ok {
		return k.t(key)
	}
	if strings.TrimSpace(n.Text) != "" {
		return n.Text
	}
	return k.t(kErrGeneric, n.Code)
}

// joinRefusal is a refused join in plain words, after "not accepted". The
// server's cap on joins from one address is not about the pseudonym, and the
// catalogue's rate_limited text speaks of chat messages: it gets a sentence
// of its own.
func (k *Kiosk) joinRefusal(n *participant.Notice) string {
	if n.Code == protocol.CodeRateLimited {
		return k.t(kJoinRateLimited)
	}
	return k.t(kPseudonymRefused, k.noticeText(n))
}

// codeTexts are the catalogue's fallbacks for protocol error codes.
var codeTexts = map[string]msgKey{
	"bad_pseudonym":             kErrBadPseudonym,
	"seat_taken":                kErrSeatTaken,
	"no_session":                kErrNoSession,
	"too_long":                  kErrTooLong,
	"empty":                     kErrEmpty,
	"rate_limited":              kErrRateLimited,
	"read_only":                 kErrReadOnly,
	"chat_closed":               kErrChatClosed,
	"call_failed":               kErrCallFailed,
	protocol.CodePseudonymTaken: kErrPseudonymTaken,
}

// ---- 1. Welcome ---------------------------------------------------------

type welcomeScreen struct {
	k      *Kiosk
	obj    fyne.CanvasObject
	entry  *kioskEntry
	join   *widget.Button
	status *widget.Label
	errMsg *widget.Label
	hint   *widget.Label
	noPIN  *widget.Label // a kiosk without an exit PIN says IT must set one
	col    *fyne.Container
}

func (k *Kiosk) newWelcomeScreen() *welcomeScreen {
	w := &welcomeScreen{k: k}
	text := k.cfg.WelcomeText
	if strings.TrimSpace(text) == "" {
		text = k.t(kWelcomeDefault)
	}
	w.entry = newKioskEntry(k)
	w.entry.SetPlaceHolder(k.t(kPseudonymHint))
	w.entry.OnSubmitted = func(string) { w.submit() }
	w.join = widget.NewButton(k.t(kJoin), w.submit)
	w.join.Importance = widget.HighImportance
	w.status = paragraph(k.t(kJoining))
	w.status.Hide()
	w.errMsg = paragraph("")
	w.errMsg.Importance = widget.DangerImportance
	w.errMsg.TextStyle.Bold = true
	w.errMsg.Hide()
	w.hint = paragraph(k.t(kPseudonymEmpty))
	w.hint.Importance = widget.WarningImportance
	w.hint.Hide()
	w.noPIN = paragraph(k.t(kNoPINSet))
	w.noPIN.Importance = widget.DangerImportance
	setVisible(w.noPIN, k.cfg.Kiosk && !k.cfg.HasPIN())
	label := widget.NewLabel(k.t(kPseudonymLabel))
	label.TextStyle.Bold = true
	col := container.New(&columnLayout{width: columnWidth},
		heading(k.t(kWelcomeTitle)),
		paragraph(text),
		layout.NewSpacer(),
		label,
		w.entry,
		w.join,
		w.status,
		w.errMsg,
		w.hint,
		w.noPIN,
	)
	w.col = col
	w.obj = container.NewBorder(k.header(nil), nil, nil, nil, col)
	return w
}

func (w *welcomeScreen) submit() {
	if w.k.state.Phase != participant.PhaseIdle {
		return // already joining
	}
	p := strings.TrimSpace(w.entry.Text)
	if p == "" {
		setVisible(w.hint, true)
		w.col.Refresh()
		return
	}
	setVisible(w.hint, false)
	w.col.Refresh()
	w.k.eng.Join(p)
}

func (w *welcomeScreen) update(s participant.State) {
	joining := s.Phase == participant.PhaseConnecting
	setVisible(w.status, joining)
	switch {
	case s.ServerUnreachable:
		w.status.SetText(w.k.t(kServerUnreachable))
	case s.WaitingForSession:
		w.status.SetText(w.k.t(kWaitingForSession))
	default:
		w.status.SetText(w.k.t(kJoining))
	}
	if joining {
		w.entry.Disable()
		w.join.Disable()
		setVisible(w.hint, false)
	} else {
		w.entry.Enable()
		w.join.Enable()
	}
	refused := s.Phase == participant.PhaseIdle && s.LastError != nil && s.LastError.ClientMsgID == ""
	if refused {
		w.errMsg.SetText(w.k.joinRefusal(s.LastError))
	}
	setVisible(w.errMsg, refused)
	w.col.Refresh()
}

// ---- 2. Device check ----------------------------------------------------

type deviceScreen struct {
	k         *Kiosk
	obj       fyne.CanvasObject
	self      *VideoView
	noCam     *fyne.Container
	meter     *fyne.Container
	meterLay  *meterLayout
	noMic     *widget.Label
	noOut     *widget.Label
	noCamText *widget.Label
	camIcon   *widget.Icon  // red for a camera that is missing, grey for none by the lab's choice
	micLabel  *widget.Label // hidden with no microphone by the lab's choice
	hint      *widget.Label
	required  *widget.Label
	retry     *widget.Button // "Try again": looks for a missing camera or microphone at once
	cont      *widget.Button
	col       *fyne.Container
}

func (k *Kiosk) newDeviceScreen() *deviceScreen {
	d := &deviceScreen{k: k}
	d.self = NewVideoView(k.eng.Local(), k.frameInterval, true)
	icon := widget.NewIcon(theme.NewErrorThemedResource(theme.MediaVideoIcon()))
	d.camIcon = icon
	d.noCam = container.NewStack(canvas.NewRectangle(colMeterBG),
		container.NewCenter(container.NewGridWrap(fyne.NewSize(96, 96), icon)))
	d.noCam.Hide()
	view := container.NewGridWrap(fyne.NewSize(deviceViewWidth, deviceViewWidth*3/4), container.NewStack(d.self, d.noCam))
	d.meterLay = &meterLayout{height: 28}
	bar := canvas.NewRectangle(k.theme.primary)
	track := canvas.NewRectangle(colMeterBG)
	track.CornerRadius = 4
	d.meter = container.New(d.meterLay, track, bar)
	micLabel := widget.NewLabel(k.t(kMicLevel))
	micLabel.TextStyle.Bold = true
	d.micLabel = micLabel
	problem := func(key msgKey) *widget.Label {
		l := widget.NewLabel(k.t(key))
		l.Wrapping = fyne.TextWrapWord
		l.Importance = widget.DangerImportance
		l.TextStyle.Bold = true
		l.Hide()
		return l
	}
	d.noCamText = problem(kNoCamera)
	d.noMic = problem(kNoMicrophone)
	d.noOut = problem(kNoAudioOutput)
	d.required = problem(kDeviceRequired)
	cont := widget.NewButton(k.t(kContinue), k.deviceContinue)
	cont.Importance = widget.HighImportance
	d.cont = cont
	d.retry = widget.NewButtonWithIcon(k.t(kTryAgain), theme.ViewRefreshIcon(), k.eng.RetryDevices)
	d.retry.Hide()
	hint := widget.NewLabel(k.t(kDeviceHint))
	hint.Wrapping = fyne.TextWrapWord
	d.hint = hint
	right := container.NewVBox(hint, micLabel, d.meter, d.noCamText, d.noMic, d.noOut, d.required, d.retry, cont)
	title := heading(k.t(kDeviceTitle))
	row := container.NewBorder(nil, nil, view, nil, container.NewPadded(right))
	col := container.New(&columnLayout{width: deviceColumnWidth}, title, row)
	d.col = col
	d.obj = container.NewBorder(k.header(nil), nil, nil, nil, col)
	return d
}

func (d *deviceScreen) update(s participant.State) {
	// A camera the lab chose not to use shows no picture and no error.
	noPicture := s.NoCamera || s.CameraOff
	setVisible(d.noCam, noPicture)
	setVisible(d.noCamText, s.NoCamera)
	setVisible(d.self, !noPicture)
	setVisible(d.meter, !s.MicrophoneOff)
	setVisible(d.micLabel, !s.MicrophoneOff)
	var icon fyne.Resource = theme.NewErrorThemedResource(theme.MediaVideoIcon())
	if !s.NoCamera {
		icon = theme.NewDisabledResource(theme.MediaVideoIcon()) // none by the lab's choice: no error
	}
	if d.camIcon.Resource.Name() != icon.Name() {
		d.camIcon.SetResource(icon)
	}
	// The hint asks only for what this workstation uses.
	hint := map[[2]bool]msgKey{{false, false}: kDeviceHint, {true, false}: kDeviceHintMic, {false, true}: kDeviceHintCamera,
		{true, true}: kDeviceHintNone}[[2]bool{s.CameraOff, s.MicrophoneOff}]
	if text := d.k.t(hint); d.hint.Text != text {
		d.hint.SetText(text)
	}
	if noPicture {
		d.self.Stop()
	} else if d.k.screen == scrDevice {
		d.self.Start()
	}
	setVisible(d.noMic, s.NoMicrophone)
	setVisible(d.noOut, s.NoAudioOutput)
	// A camera or microphone plugged in now is found at once.
	setVisible(d.retry, s.NoCamera || s.NoMicrophone)
	// A required check lets the participant on only with both devices.
	blocked := s.DeviceCheck == protocol.DeviceCheckRequired && (s.NoCamera || s.NoMicrophone)
	setVisible(d.required, blocked)
	if blocked {
		d.cont.Disable()
	} else {
		d.cont.Enable()
	}
	// With Continue disabled, Try again is what the participant can press.
	if imp := map[bool]widget.Importance{true: widget.HighImportance, false: widget.MediumImportance}[blocked]; d.retry.Importance != imp {
		d.retry.Importance = imp
		d.retry.Refresh()
	}
	d.col.Refresh()
}

func (d *deviceScreen) updateMeter() {
	lv := d.k.eng.MicLevel()
	if d.k.state.NoMicrophone {
		lv = 0
	}
	if lv != d.meterLay.level {
		d.meterLay.level = lv
		d.meter.Refresh()
	}
}

// ---- 3. Waiting ---------------------------------------------------------

type waitingScreen struct {
	k         *Kiosk
	obj       fyne.CanvasObject
	count     *widget.Label
	you       *widget.Label
	noPartner *widget.Label
	col       *fyne.Container
}

func (k *Kiosk) newWaitingScreen() *waitingScreen {
	w := &waitingScreen{k: k}
	w.count = paragraph("")
	w.count.SizeName = theme.SizeNameSubHeadingText
	w.you = paragraph("")
	w.noPartner = paragraph(k.t(kNoPartner))
	w.noPartner.Importance = widget.WarningImportance
	w.noPartner.TextStyle.Bold = true
	w.noPartner.Hide()
	col := container.New(&columnLayout{width: columnWidth},
		heading(k.t(kWaitingTitle)),
		w.count,
		w.you,
		w.noPartner,
	)
	w.col = col
	w.obj = container.NewBorder(k.header(nil), nil, nil, nil, col)
	return w
}

func (w *waitingScreen) update(s participant.State) {
	if s.Needed > 0 {
		w.count.SetText(w.k.t(kWaitingCount, s.Present, s.Needed))
	} else {
		w.count.SetText("")
	}
	if s.Pseudonym != "" {
		w.you.SetText(w.k.t(kYouAre, s.Pseudonym))
	}
	setVisible(w.noPartner, s.NoPartner)
	w.col.Refresh()
}

type endScreen struct {
	k       *Kiosk
	obj     fyne.CanvasObject
	reason  *widget.Label
	uploads *widget.Label // recording.go
	col     *fyne.Container
}

func (k *Kiosk) newEndScreen() *endScreen {
	e := &endScreen{k: k}
	e.reason = paragraph("")
	e.reason.SizeName = theme.SizeNameSubHeadingText
	e.reason.Hide()
	e.uploads = k.newUploadsLine()
	col := container.New(&columnLayout{width: columnWidth},
		heading(k.t(kEndedTitle)),
		e.reason,
		paragraph(k.t(kEndedThanks)),
		e.uploads,
	)
	e.col = col
	e.obj = container.NewBorder(k.header(nil), nil, nil, nil, col)
	return e
}

// endReasons maps the protocol's end reasons to catalogue texts; others are not shown.
var endReasons = map[string]msgKey{
	protocol.EndDeadline:     kEndDeadline,
	protocol.EndExperimenter: kEndExperimenter,
	protocol.EndSession:      kEndSession,
	protocol.EndRemoved:      kEndRemoved,
}

func (e *endScreen) update(s participant.State) {
	key, ok := endReasons[s.EndReason]
	if s.EndReason == protocol.EndSession && s.NoPartner {
		key = kEndNoPartner // say what happened: there was no discussion
	}
	if ok {
		e.reason.SetText(e.k.t(key))
	}
	setVisible(e.reason, ok)
	e.updateUploads(s)
	e.col.Refresh()
}
