package ui

import (
	"runtime"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/parley-lab/parley/signaling/participant"
	"github.com/parley-lab/parley/signaling/protocol"
	"github.com/parley-lab/parley/ui/internal/scripted"
)

// findButton returns the first button labelled text under o.
func findButton(t *testing.T, o fyne.CanvasObject, text string) *widget.Button {
	t.Helper()
	var found *widget.Button
	for _, c := range test.LaidOutObjects(o) {
		if kb, ok := c.(*keyButton); ok {
			c = &kb.Button
		}
		if b, ok := c.(*widget.Button); ok && b.Text == text && found == nil {
			found = b
		}
	}
	if found == nil {
		t.Fatalf("no button %q", text)
	}
	return found
}

func inCallState() participant.State {
	s := baseState()
	s.Phase = participant.PhaseInCall
	s.Ready = true
	s.Pseudonym = "Alice"
	s.Partners = []string{"Bob"}
	s.PartnerOnline, s.MediaConnected = true, true
	s.Channels = []participant.Channel{groupChannel, sessChannel}
	s.Deadline = t0.Add(5 * time.Minute)
	return s
}

func TestJoinWithEnterAndButton(t *testing.T) {
	h := newHarness(t, baseState(), nil)
	e := h.k.welcome.entry
	// Empty: no Join, a hint.
	e.TypedKey(&fyne.KeyEvent{Name: fyne.KeyReturn})
	if len(h.eng.CallsOf("Join")) != 0 || !h.k.welcome.hint.Visible() {
		t.Fatal("empty pseudonym must not join and must show a hint")
	}
	test.Type(e, "  Alice ")
	e.TypedKey(&fyne.KeyEvent{Name: fyne.KeyReturn})
	calls := h.eng.CallsOf("Join")
	if len(calls) != 1 || calls[0].Args[0] != "Alice" {
		t.Fatalf("Join calls = %v, want one with Alice", calls)
	}
	// While connecting, neither Enter nor the button joins again.
	h.set(func(s *participant.State) { s.Phase = participant.PhaseConnecting })
	test.Tap(h.k.welcome.join)
	e.TypedKey(&fyne.KeyEvent{Name: fyne.KeyReturn})
	if n := len(h.eng.CallsOf("Join")); n != 1 {
		t.Fatalf("Join called %d times while connecting", n)
	}
	// Refused: back to idle with the reason; the button joins again.
	h.set(func(s *participant.State) {
		s.Phase = participant.PhaseIdle
		s.LastError = &participant.Notice{Code: protocol.CodeSeatTaken}
	})
	if !h.k.welcome.errMsg.Visible() || !strings.Contains(h.k.welcome.errMsg.Text, "someone else is already using this seat") {
		t.Errorf("refusal shown as %q", h.k.welcome.errMsg.Text)
	}
	test.Tap(h.k.welcome.join)
	if n := len(h.eng.CallsOf("Join")); n != 2 {
		t.Fatalf("Join calls after button = %d, want 2", n)
	}
	// Too many joins from this address: about joining, not about messages.
	h.set(func(s *participant.State) {
		s.LastError = &participant.Notice{Code: protocol.CodeRateLimited, Text: "You are sending messages too quickly."}
	})
	if got := h.k.welcome.errMsg.Text; !strings.Contains(got, "Too many attempts to join") || strings.Contains(got, "message") {
		t.Errorf("join refused as rate-limited shown as %q", got)
	}
}

func TestChatEnterSendsAndClears(t *testing.T) {
	h := newHarness(t, inCallState(), nil)
	v := h.k.call.chat.view("session")
	test.Type(v.entry, "Hello everyone")
	v.entry.TypedKey(&fyne.KeyEvent{Name: fyne.KeyReturn})
	calls := h.eng.CallsOf("SendChat")
	if len(calls) != 1 || calls[0].Args[0] != "session" || calls[0].Args[1] != "Hello everyone" {
		t.Fatalf("SendChat calls = %v", calls)
	}
	if v.entry.Text != "" {
		t.Errorf("entry not cleared: %q", v.entry.Text)
	}
	// Blank text is not sent.
	test.Type(v.entry, "   ")
	v.entry.TypedKey(&fyne.KeyEvent{Name: fyne.KeyReturn})
	if n := len(h.eng.CallsOf("SendChat")); n != 1 {
		t.Errorf("blank message sent (%d calls)", n)
	}
}

func TestChatCounterAndLimit(t *testing.T) {
	s := inCallState()
	s.MaxMessageRunes = 10
	h := newHarness(t, s, nil)
	v := h.k.call.chat.view("g-1")
	test.Type(v.entry, "1234567")
	if v.counter.Visible() {
		t.Error("counter visible at 7 of 10")
	}
	test.Type(v.entry, "8")
	if !v.counter.Visible() || v.counter.Text != "8 / 10 characters" {
		t.Errorf("counter = %q visible=%v", v.counter.Text, v.counter.Visible())
	}
	test.Type(v.entry, "901")
	v.entry.TypedKey(&fyne.KeyEvent{Name: fyne.KeyReturn})
	if n := len(h.eng.CallsOf("SendChat")); n != 0 {
		t.Error("over-long message sent")
	}
	if v.counter.Importance != widget.DangerImportance {
		t.Error("counter not marked over the limit")
	}
}

func TestPendingAndRefusedMessages(t *testing.T) {
	h := newHarness(t, inCallState(), nil)
	v := h.k.call.chat.view("session")
	test.Type(v.entry, "hi all")
	v.entry.TypedKey(&fyne.KeyEvent{Name: fyne.KeyReturn})
	id := h.eng.CallsOf("SendChat")[0].Args[2].(string)
	h.set(func(s *participant.State) {
		s.Pending = []participant.PendingMessage{{ID: id, Channel: "session", Body: "hi all"}}
	})
	if len(v.tail.Objects) != 1 || len(h.k.call.chat.view("g-1").tail.Objects) != 0 {
		t.Fatal("pending message not shown in its own channel")
	}
	h.set(func(s *participant.State) {
		s.Pending = nil
		s.LastError = &participant.Notice{Code: protocol.CodeReadOnly, Text: "You cannot write here.", ClientMsgID: id, Channel: "session", Body: "hi all"}
	})
	if len(v.tail.Objects) != 1 || h.k.call.notice.Visible() {
		t.Fatal("refused message not shown in its channel (or shown as a general notice)")
	}
}

func TestMuteButtons(t *testing.T) {
	h := newHarness(t, inCallState(), nil)
	if len(h.k.call.controls.Objects) != 0 {
		t.Fatal("mute buttons present although not allowed")
	}
	h.set(func(s *participant.State) { s.AllowMuteAudio = true })
	if len(h.k.call.controls.Objects) != 1 || h.k.call.controls.Objects[0] != h.k.call.muteMic {
		t.Fatal("only the microphone button should be present")
	}
	test.Tap(h.k.call.muteMic)
	h.set(func(s *participant.State) { s.AllowMuteVideo = true; s.AudioMuted = true })
	if len(h.k.call.controls.Objects) != 2 {
		t.Fatal("both buttons should be present")
	}
	if h.k.call.muteMic.Text != "Unmute microphone" {
		t.Errorf("mic button = %q", h.k.call.muteMic.Text)
	}
	test.Tap(h.k.call.muteCam)
	calls := h.eng.CallsOf("SetMute")
	if len(calls) != 2 {
		t.Fatalf("SetMute calls = %v", calls)
	}
	if calls[0].Args[0] != true || calls[0].Args[1] != false {
		t.Errorf("mic toggle sent %v", calls[0].Args)
	}
	if calls[1].Args[0] != true || calls[1].Args[1] != true {
		t.Errorf("camera toggle sent %v", calls[1].Args)
	}
}

func TestKioskModeInterceptsClose(t *testing.T) {
	h := newHarness(t, baseState(), nil)
	if !h.win.FullScreen() || h.win.Padded() {
		t.Error("kiosk mode: want fullscreen and unpadded")
	}
	if h.win.intercept == nil {
		t.Fatal("close not intercepted")
	}
	h.win.intercept() // the window manager's close button
	if len(h.eng.CallsOf("Leave")) != 0 || len(h.quits) != 0 {
		t.Error("closing the window left the kiosk")
	}
}

func TestWindowedModeCloseLeaves(t *testing.T) {
	h := newHarness(t, baseState(), func(c *Config) { c.Kiosk = false })
	if h.win.FullScreen() {
		t.Error("windowed mode is fullscreen")
	}
	h.win.intercept()
	if len(h.eng.CallsOf("Leave")) != 1 || len(h.quits) != 1 {
		t.Error("closing the window should leave and quit")
	}
}

func exitKeys() *desktop.CustomShortcut {
	return &desktop.CustomShortcut{KeyName: fyne.KeyQ, Modifier: fyne.KeyModifierControl | fyne.KeyModifierAlt}
}

func TestExitPIN(t *testing.T) {
	h := newHarness(t, inCallState(), nil)
	// Another combination does nothing.
	h.win.Canvas().(fyne.Shortcutable).TypedShortcut(&desktop.CustomShortcut{KeyName: fyne.KeyQ, Modifier: fyne.KeyModifierControl})
	if h.k.exitDialog != nil {
		t.Fatal("wrong combination opened the PIN dialog")
	}
	// The focused chat entry passes the exit keys on.
	h.k.call.chat.view("g-1").entry.TypedShortcut(exitKeys())
	if h.k.exitDialog == nil {
		t.Fatal("exit keys did not open the PIN dialog")
	}
	test.Type(h.k.pinEntry, "1111")
	h.k.pinEntry.TypedKey(&fyne.KeyEvent{Name: fyne.KeyReturn})
	if len(h.eng.CallsOf("Leave")) != 0 || len(h.quits) != 0 {
		t.Fatal("wrong PIN left")
	}
	if !h.k.pinError.Visible() || h.k.pinError.Text != "Wrong PIN." || h.k.pinEntry.Text != "" {
		t.Error("wrong PIN not reported")
	}
	test.Type(h.k.pinEntry, "2468")
	h.k.pinEntry.TypedKey(&fyne.KeyEvent{Name: fyne.KeyReturn})
	if len(h.eng.CallsOf("Leave")) != 1 {
		t.Fatal("right PIN did not leave")
	}
	if len(h.quits) != 1 || h.quits[0] != ExitCodeExperimenter {
		t.Fatalf("OnQuit calls = %v", h.quits)
	}
}

func TestExitKeysOnCanvasAndCancel(t *testing.T) {
	h := newHarness(t, baseState(), nil)
	h.win.Canvas().Unfocus()
	h.win.Canvas().(fyne.Shortcutable).TypedShortcut(exitKeys())
	if h.k.exitDialog == nil {
		t.Fatal("exit keys on the canvas did not open the PIN dialog")
	}
	test.Tap(findButton(t, h.win.Canvas().Overlays().Top(), "Cancel"))
	if h.k.exitDialog != nil || len(h.eng.CallsOf("Leave")) != 0 {
		t.Fatal("cancel should close the dialog and stay")
	}
}

func TestEndActions(t *testing.T) {
	ended := func(s *participant.State) {
		s.Phase = participant.PhaseEnded
		s.Pseudonym = "Zoë & Co"
	}
	t.Run("quit", func(t *testing.T) {
		h := newHarness(t, baseState(), func(c *Config) { c.EndAction = EndQuit })
		h.set(ended)
		if len(h.quits) != 1 || h.quits[0] != ExitCodeEnded || len(h.eng.CallsOf("Leave")) != 1 {
			t.Fatalf("quits = %v, leave = %v", h.quits, h.eng.CallsOf("Leave"))
		}
		h.set(func(s *participant.State) { s.EndReason = "deadline" })
		if len(h.quits) != 1 {
			t.Error("end action ran twice")
		}
	})
	t.Run("url", func(t *testing.T) {
		h := newHarness(t, baseState(), func(c *Config) {
			c.EndAction = EndURL
			c.EndURL = "https://survey.example.org/s/{session}?seat={seat}&p={pseudonym}"
		})
		h.set(ended)
		if len(h.app.urls) != 1 {
			t.Fatalf("OpenURL calls = %v", h.app.urls)
		}
		if got, want := h.app.urls[0].String(), "https://survey.example.org/s/S-17?seat=A3&p=Zo%C3%AB%20%26%20Co"; got != want {
			t.Errorf("url = %s, want %s", got, want)
		}
		if len(h.quits) != 0 {
			t.Error("url end action quit")
		}
	})
	t.Run("stay", func(t *testing.T) {
		h := newHarness(t, baseState(), nil)
		h.set(ended)
		if len(h.quits) != 0 || len(h.app.urls) != 0 || h.k.screen != scrEnded {
			t.Error("stay should only show the end screen")
		}
	})
}

func TestCountdown(t *testing.T) {
	s := inCallState()
	s.Deadline = time.Time{}
	h := newHarness(t, s, func(c *Config) { c.DeviceCheck = false })
	c := h.k.call.clock
	if c.Text != "Starting…" {
		t.Errorf("before the clock and without a duration: %q", c.Text)
	}
	h.set(func(s *participant.State) { s.Duration = 15 * time.Minute })
	if c.Text != "15:00" {
		t.Errorf("before the clock: %q", c.Text)
	}
	h.set(func(s *participant.State) { s.Deadline = t0.Add(90 * time.Second) })
	for _, tc := range []struct {
		at    time.Duration
		text  string
		final bool
	}{
		{0, "01:30", false},
		{59*time.Second + 500*time.Millisecond, "00:31", false},
		{60 * time.Second, "00:30", true},
		{89 * time.Second, "00:01", true},
		{90 * time.Second, "00:00", true},
		{200 * time.Second, "00:00", true},
	} {
		h.clock.Set(t0.Add(tc.at))
		h.k.tick()
		if c.Text != tc.text || (c.TextSize == countdownFinalSize) != tc.final || (c.Color == colDanger) != tc.final {
			t.Errorf("at %v: %q size %v colour %v, want %q final=%v", tc.at, c.Text, c.TextSize, c.Color, tc.text, tc.final)
		}
	}
}

func TestFormatClock(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "00:00", time.Millisecond: "00:01", time.Second: "00:01", 61 * time.Second: "01:01",
		10 * time.Minute: "10:00", 75 * time.Minute: "75:00", -time.Second: "00:00",
	} {
		if got := formatClock(d); got != want {
			t.Errorf("formatClock(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestConnectionOverlay(t *testing.T) {
	s := inCallState()
	s.MediaConnected = false
	h := newHarness(t, s, nil)
	c := h.k.call
	check := func(want string) {
		t.Helper()
		if want == "" {
			if c.overlay.Visible() || !c.remote.Visible() {
				t.Error("video should be shown")
			}
			return
		}
		if !c.overlay.Visible() || c.overMsg.Text != want || c.remote.Visible() {
			t.Errorf("overlay %v %q, video visible %v; want %q", c.overlay.Visible(), c.overMsg.Text, c.remote.Visible(), want)
		}
	}
	check("Connecting…")
	h.set(func(s *participant.State) { s.MediaConnected = true })
	check("")
	h.set(func(s *participant.State) { s.Reconnecting = true })
	check("Your partner is reconnecting…")
	h.set(func(s *participant.State) { s.Reconnecting = false; s.PartnerOnline = false })
	check("Your partner is reconnecting…")
	h.set(func(s *participant.State) { s.PartnerOnline = true })
	check("")
}

func TestServerOfflineBanner(t *testing.T) {
	h := newHarness(t, inCallState(), nil)
	if h.k.banner.Visible() {
		t.Fatal("banner shown while online")
	}
	h.set(func(s *participant.State) { s.ServerOnline = false })
	if !h.k.banner.Visible() {
		t.Fatal("banner not shown while the server is offline")
	}
}

func TestDeviceCheckComesBeforePairing(t *testing.T) {
	h := newHarness(t, baseState(), nil)
	h.set(func(s *participant.State) {
		s.Phase = participant.PhaseWaiting
		s.DeviceCheck = protocol.DeviceCheckRequired
		s.NoCamera = true
	})
	if h.k.screen != scrDevice {
		t.Fatal("device check not shown after joining")
	}
	// Required, and the camera is missing: no way on, and it says why.
	if !h.k.device.cont.Disabled() || !h.k.device.required.Visible() {
		t.Fatal("a required check let the participant on without a camera")
	}
	h.set(func(s *participant.State) { s.NoCamera = false })
	test.Tap(h.k.device.cont)
	h.sync()
	if n := len(h.eng.CallsOf("Ready")); n != 1 {
		t.Fatalf("Ready called %d times, want once", n)
	}
	if h.k.screen != scrWaiting {
		t.Fatalf("screen %v after the check, want waiting", h.k.screen)
	}
	// A session without a check: ready at once, no check shown.
	h2 := newHarness(t, baseState(), nil)
	h2.set(func(s *participant.State) {
		s.Phase = participant.PhaseWaiting
		s.DeviceCheck = protocol.DeviceCheckOff
	})
	h2.sync()
	if len(h2.eng.CallsOf("Ready")) != 1 || h2.k.screen != scrWaiting {
		t.Fatalf("no-check session: Ready calls %d, screen %v", len(h2.eng.CallsOf("Ready")), h2.k.screen)
	}
}

// TestLiveGoroutines runs the kiosk with its goroutines: engine changes
// arrive through Changed, and Close leaves no goroutine behind.
func TestLiveGoroutines(t *testing.T) {
	a := test.NewTempApp(t)
	w := a.NewWindow("Parley")
	before := runtime.NumGoroutine()
	h := &harness{clock: &fakeClock{now: t0}}
	eng := scripted.New(inCallState(), 64, 48)
	cfg := testConfig()
	cfg.Clock = h.clock.Now
	k := New(a, w, eng, cfg)
	// The test driver runs fyne.Do on the caller's goroutine; stand in a
	// single UI goroutine as the real driver has.
	uiq := make(chan func(), 64)
	uiDone := make(chan struct{})
	go func() {
		defer close(uiDone)
		for f := range uiq {
			f()
		}
	}()
	k.do = func(f func()) { uiq <- f }
	k.frameInterval = time.Millisecond
	k.call.remote.interval = time.Millisecond
	k.call.self.interval = time.Millisecond
	started := make(chan screenID)
	k.do(func() { k.Start(); started <- k.screen })
	if s := <-started; s != scrCall {
		t.Fatalf("screen = %v", s)
	}
	eng.Update(func(s *participant.State) { s.Present = 2 })
	deadline := time.Now().Add(5 * time.Second)
	for eng.RemoteFrames().RenderCalls() < 3 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if eng.RemoteFrames().RenderCalls() < 3 {
		t.Error("the remote video is not polled")
	}
	done := make(chan struct{})
	k.do(func() { k.Close(); k.Close(); close(done) })
	<-done
	close(uiq)
	<-uiDone
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("goroutines: %d before, %d after Close", before, n)
	}
}

func TestUnreadInTabTitle(t *testing.T) {
	h := newHarness(t, inCallState(), nil)
	p := h.k.call.chat
	h.set(func(s *participant.State) {
		s.Messages = append(s.Messages,
			msg("s1", "session", "Carol", protocol.RoleParticipant, "hi", 0, false),
			msg("s2", "session", "Dan", protocol.RoleParticipant, "hey", 0, false),
			msg("g1", "g-1", "Bob", protocol.RoleParticipant, "yo", 0, false))
	})
	if got := p.tabs.Items[1].Text; got != "Everyone (2)" {
		t.Errorf("unread tab title = %q", got)
	}
	if got := p.tabs.Items[0].Text; got != "Chat" {
		t.Errorf("selected tab title = %q", got)
	}
	p.tabs.SelectIndex(1)
	if got := p.tabs.Items[1].Text; got != "Everyone" {
		t.Errorf("after selecting: %q", got)
	}
}

func TestNoticeText(t *testing.T) {
	h := newHarness(t, baseState(), func(c *Config) { c.Language = "de" })
	for _, tc := range []struct {
		n    participant.Notice
		want string
	}{
		{participant.Notice{Code: protocol.CodeRateLimited, Text: "You are sending messages too quickly."}, "Zu viele Nachrichten in kurzer Zeit. Bitte warten Sie einen Moment."},
		{participant.Notice{Code: "disk_full", Text: "Der Server hat keinen Platz."}, "Der Server hat keinen Platz."},
		{participant.Notice{Code: "disk_full"}, "Etwas ist schiefgegangen (disk_full). Bitte wenden Sie sich an die Versuchsleitung."},
	} {
		if got := h.k.noticeText(&tc.n); got != tc.want {
			t.Errorf("noticeText(%+v) = %q, want %q", tc.n, got, tc.want)
		}
	}
}

func TestExitPINLockout(t *testing.T) {
	h := newHarness(t, inCallState(), nil)
	h.k.RequestExit()
	try := func(pin string) {
		test.Type(h.k.pinEntry, pin)
		h.k.pinEntry.TypedKey(&fyne.KeyEvent{Name: fyne.KeyReturn})
	}
	for i := 0; i < pinMaxAttempts; i++ {
		try("0000")
	}
	if h.k.pinError.Text != "Too many wrong PINs. Please wait a minute." {
		t.Fatalf("after %d wrong PINs: %q", pinMaxAttempts, h.k.pinError.Text)
	}
	try("2468") // right, but locked
	if len(h.eng.CallsOf("Leave")) != 0 {
		t.Fatal("left during the lockout")
	}
	h.clock.Add(pinLockout)
	try("2468")
	if len(h.eng.CallsOf("Leave")) != 1 || len(h.quits) != 1 {
		t.Fatal("right PIN after the lockout did not leave")
	}
	h.k.RequestExit()
	if h.k.exitDialog != nil {
		t.Error("PIN dialog opened after quitting")
	}
}

func TestEndActionDelay(t *testing.T) {
	h := newHarness(t, baseState(), func(c *Config) { c.EndAction = EndQuit; c.EndActionDelay = 20 * time.Millisecond })
	queued := make(chan func(), 1)
	for _, v := range h.k.videos() {
		v.do = fyne.Do // frames: not what this test waits for
	}
	h.k.do = func(f func()) { queued <- f }
	h.set(func(s *participant.State) { s.Phase = participant.PhaseEnded })
	if len(h.quits) != 0 {
		t.Fatal("quit before the delay")
	}
	select {
	case f := <-queued:
		f() // on the test goroutine, as the UI goroutine would
	case <-time.After(5 * time.Second):
		t.Fatal("end action never ran")
	}
	if len(h.quits) != 1 || h.quits[0] != ExitCodeEnded {
		t.Fatalf("quits = %v", h.quits)
	}
}

// TestLongMessagesWrap: a long word or a long pseudonym must not widen the chat.
func TestLongMessagesWrap(t *testing.T) {
	s := inCallState()
	s.Channels = []participant.Channel{groupChannel}
	s.Messages = []participant.Message{
		msg("l1", "g-1", strings.Repeat("W", 32), protocol.RoleParticipant, strings.Repeat("x", 600), 0, false),
		msg("l2", "g-1", "Alice", protocol.RoleParticipant, strings.Repeat("https://example.org/", 30), 0, true),
	}
	h := newHarness(t, s, nil)
	if w := h.k.call.chat.obj.MinSize().Width; w > goldenSize.Width*chatShare {
		t.Errorf("chat min width %v exceeds its share of the window", w)
	}
	if w := h.win.Content().MinSize().Width; w > goldenSize.Width {
		t.Errorf("content min width %v exceeds the window", w)
	}
}
