package ui

// callscreen.go: the discussion screen: the partner's video with their
// pseudonym, the self-view, the countdown, the chat, mute buttons, and what
// the participant is told while the call or the partner is away.

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

	"github.com/parley-lab/parley/signaling/participant"
)

// finalCountdown is the stretch at the end of the discussion in which the
// countdown is shown larger and in red.
const finalCountdown = 30 * time.Second

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
