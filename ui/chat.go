package ui

import (
	"fmt"
	"image/color"
	"slices"
	"strings"
	"unicode/utf8"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/parley-lab/parley/signaling/participant"
	"github.com/parley-lab/parley/signaling/protocol"
)

// Chat presentation constants.
const (
	// counterFraction: the character counter appears once a draft reaches
	// this share of State.MaxMessageRunes.
	counterFraction = 0.8
	// bubbleShare is a chat bubble's share of the chat's width.
	bubbleShare  = 0.86
	bubbleRadius = 10
	// chatTimeFormat is how a message's time is shown.
	chatTimeFormat = "15:04"
)

// chatPanel is the text chat: one tab per channel (no tab bar with a single
// channel).
type chatPanel struct {
	k      *Kiosk
	obj    *fyne.Container
	tabs   *container.AppTabs
	views  []*chatView
	chKeys string // channel list the tabs were built for
}

func (k *Kiosk) newChatPanel() *chatPanel {
	return &chatPanel{k: k, obj: container.NewStack()}
}

func channelsKey(chs []participant.Channel) string {
	var b strings.Builder
	for _, c := range chs {
		b.WriteString(c.Name + "\x00" + c.Kind + "\x00")
		if c.Writable {
			b.WriteString("w")
		}
		b.WriteString("\x01")
	}
	return b.String()
}

func (p *chatPanel) channelTitle(c participant.Channel) string {
	switch c.Kind {
	case protocol.ChannelGroup:
		return p.k.t(kChanGroup)
	case protocol.ChannelSession:
		return p.k.t(kChanSession)
	case protocol.ChannelExperimenter:
		return p.k.t(kChanExperimenter)
	case protocol.ChannelPrivate:
		return p.k.t(kChanPrivate)
	}
	return c.Name
}

// shownChannels are the channels with a tab: a private channel with the
// experimenter only once the experimenter has written in it.
func shownChannels(s participant.State) []participant.Channel {
	var out []participant.Channel
	for _, c := range s.Channels {
		if c.Kind == protocol.ChannelPrivate && !slices.ContainsFunc(s.Messages, func(m participant.Message) bool { return m.Channel == c.Name }) {
			continue
		}
		out = append(out, c)
	}
	return out
}

func (p *chatPanel) update(s participant.State) {
	shown := shownChannels(s)
	if key := channelsKey(shown); key != p.chKeys || p.views == nil {
		p.chKeys = key
		p.views = nil
		for _, c := range shown {
			p.views = append(p.views, p.k.newChatView(c))
		}
		var obj fyne.CanvasObject
		switch len(p.views) {
		case 0:
			obj = widget.NewLabel("")
			p.tabs = nil
		case 1:
			obj = p.views[0].obj
			p.tabs = nil
		default:
			p.tabs = container.NewAppTabs()
			for i, v := range p.views {
				v.title = p.channelTitle(shown[i])
				v.tab = container.NewTabItem(v.title, v.obj)
				p.tabs.Append(v.tab)
			}
			p.tabs.OnSelected = func(*container.TabItem) {
				if v := p.current(); v != nil {
					v.setUnread(0)
					if v.entry != nil {
						p.k.win.Canvas().Focus(v.entry)
					}
				}
			}
			obj = p.tabs
		}
		p.obj.Objects = []fyne.CanvasObject{obj}
		p.obj.Refresh()
	}
	cur := p.current()
	for _, v := range p.views {
		added := v.update(s)
		if p.tabs != nil && v != cur && added > 0 {
			v.setUnread(v.unread + added)
		}
	}
}

// setUnread shows n unread messages in the view's tab title.
func (v *chatView) setUnread(n int) {
	if v.tab == nil || n == v.unread {
		return
	}
	v.unread = n
	if n > 0 {
		v.tab.Text = fmt.Sprintf("%s (%d)", v.title, n)
	} else {
		v.tab.Text = v.title
	}
	v.k.call.chat.tabs.Refresh()
}

// current is the chat view on show.
func (p *chatPanel) current() *chatView {
	if len(p.views) == 0 {
		return nil
	}
	if p.tabs != nil {
		if i := p.tabs.SelectedIndex(); i >= 0 && i < len(p.views) {
			return p.views[i]
		}
	}
	return p.views[0]
}

func (p *chatPanel) focusTarget() fyne.Focusable {
	if v := p.current(); v != nil && v.entry != nil {
		return v.entry
	}
	return nil
}

// view returns the view of channel name.
func (p *chatPanel) view(name string) *chatView {
	for _, v := range p.views {
		if v.ch.Name == name {
			return v
		}
	}
	return nil
}

// chatView shows one channel: its messages, then pending and refused ones,
// then the entry (writable channels only).
type chatView struct {
	k       *Kiosk
	ch      participant.Channel
	obj     fyne.CanvasObject
	list    *fyne.Container // message bubbles
	tail    *fyne.Container // pending and refused messages
	content *fyne.Container // list and tail
	scroll  *container.Scroll
	entry   *kioskEntry
	send    *widget.Button
	counter *widget.Label

	ids     []string // ids of the rendered messages, in order
	tailKey string
	max     int

	tab    *container.TabItem // nil without tabs
	title  string
	unread int
}

func (k *Kiosk) newChatView(ch participant.Channel) *chatView {
	v := &chatView{k: k, ch: ch}
	v.list = container.NewVBox()
	v.tail = container.NewVBox()
	v.content = container.NewVBox(v.list, v.tail)
	v.scroll = container.NewVScroll(v.content)
	var bottom fyne.CanvasObject
	if ch.Writable {
		v.entry = newKioskEntry(k)
		v.entry.SetPlaceHolder(k.t(kChatPlaceholder))
		v.entry.OnSubmitted = func(string) { v.submit() }
		v.entry.OnChanged = func(string) { v.updateCounter() }
		v.send = widget.NewButtonWithIcon("", theme.MailSendIcon(), v.submit)
		v.send.Importance = widget.HighImportance
		v.counter = widget.NewLabel("")
		v.counter.Alignment = fyne.TextAlignTrailing
		v.counter.Hide()
		bottom = container.NewVBox(v.counter, container.NewBorder(nil, nil, nil, v.send, v.entry))
	} else {
		ro := widget.NewLabel(k.t(kReadOnly))
		ro.TextStyle.Italic = true
		ro.Wrapping = fyne.TextWrapWord
		bottom = ro
	}
	v.obj = container.NewBorder(nil, bottom, nil, nil, v.scroll)
	return v
}

func (v *chatView) submit() {
	if v.entry == nil {
		return
	}
	body := v.entry.Text
	// The server's check, applied early: what it would refuse is not sent.
	if _, err := protocol.CheckChatBody(body, v.max); err != nil {
		v.updateCounter()
		return
	}
	v.k.eng.SendChat(v.ch.Name, body)
	v.entry.SetText("")
	v.updateCounter()
}

func (v *chatView) updateCounter() {
	if v.counter == nil {
		return
	}
	n := utf8.RuneCountInString(v.entry.Text)
	show := v.max > 0 && float64(n) >= counterFraction*float64(v.max)
	if show {
		v.counter.SetText(v.k.t(kCharCount, n, v.max))
		if n > v.max {
			v.counter.Importance = widget.DangerImportance
		} else {
			v.counter.Importance = widget.WarningImportance
		}
		v.counter.Refresh()
	}
	setVisible(v.counter, show)
}

// update renders s and returns how many committed messages it added.
func (v *chatView) update(s participant.State) (added int) {
	v.max = s.MaxMessageRunes
	v.updateCounter()
	var msgs []participant.Message
	for _, m := range s.Messages {
		if m.Channel == v.ch.Name {
			msgs = append(msgs, m)
		}
	}
	grew := false
	prefixOK := len(msgs) >= len(v.ids)
	for i := 0; prefixOK && i < len(v.ids); i++ {
		prefixOK = msgs[i].ID == v.ids[i]
	}
	if !prefixOK { // history replaced (e.g. replay after a reconnect): rebuild
		v.list.Objects = nil
		v.ids = nil
	}
	for _, m := range msgs[len(v.ids):] {
		v.list.Add(v.k.bubble(m))
		v.ids = append(v.ids, m.ID)
		grew = true
		if prefixOK {
			added++
		}
	}
	if !prefixOK {
		v.list.Refresh()
	}

	// Pending messages of this channel and a refused one, as the engine
	// reports them.
	var pend []participant.PendingMessage
	for _, p := range s.Pending {
		if p.Channel == v.ch.Name {
			pend = append(pend, p)
		}
	}
	var refused *participant.Notice
	if n := s.LastError; n != nil && n.ClientMsgID != "" && n.Channel == v.ch.Name {
		refused = n
	}
	ids := make([]string, len(pend))
	for i, p := range pend {
		ids[i] = p.ID
	}
	key := strings.Join(ids, "\x00")
	if refused != nil {
		key += "\x01" + refused.ClientMsgID + refused.Code + refused.Text
	}
	if key != v.tailKey {
		v.tailKey = key
		var objs []fyne.CanvasObject
		for _, p := range pend {
			objs = append(objs, v.k.pendingBubble(p.Body))
		}
		if refused != nil {
			objs = append(objs, v.k.refusedBubble(refused.Body, v.k.noticeText(refused)))
		}
		v.tail.Objects = objs
		v.tail.Refresh()
		grew = true
	}
	if grew {
		v.content.Refresh()
		v.scroll.ScrollToBottom()
	}
	return added
}

func (p *chatPanel) firstWritable() *chatView {
	for _, v := range p.views {
		if v.ch.Writable {
			return v
		}
	}
	return nil
}

// bubble renders one committed message: own messages on the right in the
// accent colour with "(You)", the partner's on the left, the experimenter's
// framed in the primary colour and labelled.
func (k *Kiosk) bubble(m participant.Message) fyne.CanvasObject {
	when := ""
	if !m.Time.IsZero() {
		when = m.Time.In(k.loc).Format(chatTimeFormat)
	}
	var who string
	var fill, stroke color.Color = colPartnerMsg, nil
	headCol := colorNameMuted
	switch {
	case m.Own:
		who = strings.TrimSpace(m.Pseudonym + " " + k.t(kYou))
		fill = withAlpha(k.theme.accent, 0x2e)
		headCol = colorNameOwn
	case m.Role == protocol.RoleExperimenter:
		who = k.t(kExperimenter)
		fill = withAlpha(k.theme.primary, 0x1c)
		stroke = k.theme.primary
		headCol = theme.ColorNamePrimary
	case m.Role == protocol.RoleSystem:
		who = k.t(kSystem)
		fill = colBackground
		stroke = colMeterBG
	default:
		who = m.Pseudonym
	}
	return k.bubbleBox(who, when, m.Body, m.Own, fill, stroke, headCol, false, "")
}

func (k *Kiosk) pendingBubble(body string) fyne.CanvasObject {
	return k.bubbleBox(k.t(kYou), k.t(kSending), body, true, withAlpha(k.theme.accent, 0x14), nil, colorNameMuted, true, "")
}

func (k *Kiosk) refusedBubble(body, reason string) fyne.CanvasObject {
	return k.bubbleBox(k.t(kYou), "", body, true, withAlpha(colDanger, 0x14), colDanger, theme.ColorNameError, false, k.t(kMessageRefused, reason))
}

// bubbleBox draws a chat bubble; note, if set, is a wrapped warning under the body.
func (k *Kiosk) bubbleBox(who, when, body string, own bool, fill, stroke color.Color, headCol fyne.ThemeColorName, italic bool, note string) fyne.CanvasObject {
	headText := who
	if when != "" {
		headText += " · " + when
	}
	// A RichText header truncates a long pseudonym instead of widening the chat.
	headSeg := &widget.TextSegment{Text: headText, Style: widget.RichTextStyle{
		ColorName: headCol, SizeName: theme.SizeNameCaptionText, TextStyle: fyne.TextStyle{Bold: true}}}
	head := widget.NewRichText(headSeg)
	head.Truncation = fyne.TextTruncateEllipsis
	text := widget.NewLabel(body)
	text.Wrapping = fyne.TextWrapWord
	text.TextStyle.Italic = italic
	if own {
		headSeg.Style.Alignment = fyne.TextAlignTrailing
		text.Alignment = fyne.TextAlignTrailing
	}
	bg := canvas.NewRectangle(fill)
	bg.CornerRadius = bubbleRadius
	if stroke != nil {
		bg.StrokeColor = stroke
		bg.StrokeWidth = 2
	}
	inner := container.NewVBox(head, text)
	if note != "" {
		n := widget.NewLabel(note)
		n.Wrapping = fyne.TextWrapWord
		n.Importance = widget.DangerImportance
		n.TextStyle.Bold = true
		if own {
			n.Alignment = fyne.TextAlignTrailing
		}
		inner.Add(n)
	}
	box := container.NewStack(bg, inner)
	return container.New(&sideLayout{right: own, frac: bubbleShare}, box)
}

// darken returns c at two thirds brightness (readable text in the accent colour).
func darken(c color.NRGBA) color.NRGBA {
	return color.NRGBA{R: uint8(int(c.R) * 2 / 3), G: uint8(int(c.G) * 2 / 3), B: uint8(int(c.B) * 2 / 3), A: 0xff}
}
