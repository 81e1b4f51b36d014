package ui

import (
	"fmt"
	"image/color"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/parley-lab/parley/media/participant"
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
		w.errMsg.SetText(w.k.t(kPseudonymRefused, w.k.noticeText(s.LastError)))
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
	required  *widget.Label
	cont      *widget.Button
	col       *fyne.Container
}

func (k *Kiosk) newDeviceScreen() *deviceScreen {
	d := &deviceScreen{k: k}
	d.self = NewVideoView(k.eng.Local(), k.frameInterval, true)
	icon := widget.NewIcon(theme.NewErrorThemedResource(theme.MediaVideoIcon()))
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
	hint := widget.NewLabel(k.t(kDeviceHint))
	hint.Wrapping = fyne.TextWrapWord
	right := container.NewVBox(hint, micLabel, d.meter, d.noCamText, d.noMic, d.noOut, d.required, cont)
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
	if noPicture {
		d.self.Stop()
	} else if d.k.screen == scrDevice {
		d.self.Start()
	}
	setVisible(d.noMic, s.NoMicrophone)
	setVisible(d.noOut, s.NoAudioOutput)
	// A required check lets the participant on only with both devices.
	blocked := s.DeviceCheck == protocol.DeviceCheckRequired && (s.NoCamera || s.NoMicrophone)
	setVisible(d.required, blocked)
	if blocked {
		d.cont.Disable()
	} else {
		d.cont.Enable()
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

// ---- 4. Discussion ------------------------------------------------------

type callScreen struct {
	k        *Kiosk
	obj      fyne.CanvasObject
	remote   *VideoView
	self     *VideoView
	overlay  *fyne.Container
	overMsg  *canvas.Text
	plate    *fyne.Container
	plateTxt *canvas.Text
	clock    *canvas.Text
	clockCap *canvas.Text
	controls *fyne.Container
	muteMic  *widget.Button
	muteCam  *widget.Button
	notice   *widget.Label
	bottom   *fyne.Container
	left     *fyne.Container
	chat     *chatPanel
	rec      *recIndicator

	showVideo, showSelf bool
}

func (k *Kiosk) newCallScreen() *callScreen {
	c := &callScreen{k: k}
	c.remote = NewVideoView(k.eng.Remote(), k.partnerInterval, false)
	c.self = NewVideoView(k.eng.Local(), k.frameInterval, true)
	c.remote.Carry(c.self)
	c.self.Hide()

	c.overMsg = canvas.NewText("", colOverlayText)
	c.overMsg.TextSize = themeSubHeadingSize
	c.overMsg.TextStyle.Bold = true
	c.overMsg.Alignment = fyne.TextAlignCenter
	c.overlay = container.NewStack(canvas.NewRectangle(colVideoBG), container.NewCenter(c.overMsg))

	c.plateTxt = canvas.NewText("", colOverlayText)
	c.plateTxt.TextSize = themeSubHeadingSize
	c.plateTxt.TextStyle.Bold = true
	plateBG := canvas.NewRectangle(colNameplate)
	plateBG.CornerRadius = 6
	c.plate = container.NewStack(plateBG, container.NewPadded(c.plateTxt))

	video := container.New(videoLayout{}, c.remote, c.overlay, c.plate, c.self)

	c.muteMic = widget.NewButtonWithIcon("", theme.VolumeUpIcon(), func() {
		s := k.state
		k.eng.SetMute(!s.AudioMuted, s.VideoMuted)
	})
	c.muteCam = widget.NewButtonWithIcon("", theme.MediaVideoIcon(), func() {
		s := k.state
		k.eng.SetMute(s.AudioMuted, !s.VideoMuted)
	})
	c.controls = container.NewHBox()
	c.notice = widget.NewLabel("")
	c.notice.Importance = widget.DangerImportance
	c.notice.Wrapping = fyne.TextWrapWord
	c.notice.Hide()
	c.bottom = container.NewVBox(c.notice, c.controls)
	c.left = container.NewBorder(nil, c.bottom, nil, nil, video)
	left := c.left

	c.clock = canvas.NewText("", colForeground)
	c.clock.TextStyle = fyne.TextStyle{Bold: true, Monospace: true}
	c.clock.TextSize = countdownSize
	c.clock.Alignment = fyne.TextAlignTrailing
	c.clockCap = canvas.NewText(k.t(kTimeLeft), colMuted)
	c.clockCap.TextSize = themeCaptionSize
	// The clock's box fits the largest countdown so nothing moves when it grows.
	clockMax := fyne.MeasureText("00:00", countdownFinalSize, c.clock.TextStyle)
	clockBox := container.NewHBox(container.NewCenter(c.clockCap),
		container.New(layout.NewGridWrapLayout(clockMax.AddWidthHeight(theme.Padding(), 0)), c.clock))

	c.chat = k.newChatPanel()
	c.rec = k.newRecIndicator()
	main := container.New(&fracLayout{frac: 1 - chatShare}, container.NewPadded(left), container.NewPadded(c.chat.obj))
	c.rec.header = k.header(container.NewHBox(c.rec.obj, clockBox))
	c.obj = container.NewBorder(c.rec.header, nil, nil, nil, main)
	return c
}

// startVideos starts the tickers of the videos that are shown.
func (c *callScreen) startVideos() {
	if c.showVideo {
		c.remote.Start()
	}
	if c.showSelf {
		c.self.Start()
	}
}

func (c *callScreen) update(s participant.State) {
	k := c.k
	active := k.screen == scrCall

	// Connection state over the partner's video instead of a frozen picture.
	var over string
	switch {
	case s.Reconnecting || (!s.PartnerOnline && s.Phase >= participant.PhasePaired):
		over = k.t(kPartnerReconnecting)
	case s.Phase == participant.PhasePaired || !s.MediaConnected:
		over = k.t(kConnecting)
	case s.PartnerVideoStopped:
		over = k.t(kPartnerCameraOff) // not a frozen picture
	}
	c.showVideo = over == ""
	if c.overMsg.Text != over {
		c.overMsg.Text = over
		c.overMsg.Refresh()
	}
	setVisible(c.overlay, !c.showVideo)
	if c.showVideo != c.remote.Visible() {
		if c.showVideo {
			c.remote.Show()
			if active {
				c.remote.Start()
			}
		} else {
			c.remote.Hide()
			c.remote.Clear()
		}
	}

	partner := strings.Join(s.Partners, ", ")
	if partner == "" {
		partner = k.t(kPartnerDefault)
	}
	if c.plateTxt.Text != partner {
		c.plateTxt.Text = partner
		c.plateTxt.Refresh()
		c.plate.Refresh()
	}

	// No self-view while the camera is off: it would freeze on the last frame.
	c.showSelf = s.SelfView && !s.NoCamera && !s.VideoMuted
	if c.showSelf != c.self.Visible() {
		if c.showSelf {
			c.self.Show()
			if active {
				c.self.Start()
			}
		} else {
			c.self.Hide()
			c.self.Clear()
		}
	}

	// Mute buttons only where the experimenter allows them.
	if s.AudioMuted {
		c.muteMic.SetText(k.t(kUnmuteMic))
		c.muteMic.SetIcon(theme.VolumeMuteIcon())
		c.muteMic.Importance = widget.WarningImportance
	} else {
		c.muteMic.SetText(k.t(kMuteMic))
		c.muteMic.SetIcon(theme.VolumeUpIcon())
		c.muteMic.Importance = widget.MediumImportance
	}
	if s.VideoMuted {
		c.muteCam.SetText(k.t(kCameraOn))
		c.muteCam.Importance = widget.WarningImportance
	} else {
		c.muteCam.SetText(k.t(kCameraOff))
		c.muteCam.Importance = widget.MediumImportance
	}
	var ctl []fyne.CanvasObject
	if s.AllowMuteAudio {
		ctl = append(ctl, c.muteMic)
	}
	if s.AllowMuteVideo {
		ctl = append(ctl, c.muteCam)
	}
	c.controls.Objects = ctl
	c.controls.Refresh()

	// A problem that is not about a chat message.
	general := s.LastError != nil && s.LastError.ClientMsgID == ""
	if general {
		c.notice.SetText(k.noticeText(s.LastError))
	}
	setVisible(c.notice, general)
	c.bottom.Refresh()
	c.left.Refresh()

	c.chat.update(s)
	c.rec.update(s)
	c.updateClock()
}

// formatClock renders d as mm:ss (minutes may exceed 59), rounding up so
// 00:00 shows only at the very end.
func formatClock(d time.Duration) string {
	secs := int((d + time.Second - 1) / time.Second)
	if secs < 0 {
		secs = 0
	}
	return fmt.Sprintf("%02d:%02d", secs/60, secs%60)
}

func (c *callScreen) updateClock() {
	s := c.k.state
	text, size, col := "", float32(countdownSize), color.Color(colForeground)
	caption := c.k.t(kTimeLeft)
	switch {
	case s.Paused:
		text, col = formatClock(s.PausedLeft), colMuted
		caption = c.k.t(kPaused)
	case !s.Deadline.IsZero():
		rem := s.Remaining(c.k.now())
		text = formatClock(rem)
		if rem <= finalCountdown {
			size, col = countdownFinalSize, colDanger
		}
	case s.Duration > 0:
		text = formatClock(s.Duration)
	default:
		text = c.k.t(kStarting)
	}
	if c.clock.Text != text || c.clock.TextSize != size || c.clock.Color != col {
		c.clock.Text, c.clock.TextSize, c.clock.Color = text, size, col
		c.clock.Refresh()
	}
	if c.clockCap.Text != caption {
		c.clockCap.Text = caption
		c.clockCap.Refresh()
	}
}

// ---- 5. End -------------------------------------------------------------

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
