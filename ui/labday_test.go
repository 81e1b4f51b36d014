package ui

import (
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"

	"github.com/parley-lab/parley/signaling/participant"
	"github.com/parley-lab/parley/signaling/protocol"
)

// TestLabDayGolden renders every screen of a lab day off the happy path:
// a server that cannot be reached, a session not yet open, a name already
// taken, a device check that cannot be passed, a participant without a
// partner, and an experimenter's announcement over the discussion.
func TestLabDayGolden(t *testing.T) {
	h := newHarness(t, baseState(), nil)
	h.set(func(s *participant.State) {
		s.Phase = participant.PhaseConnecting
		s.ServerOnline = false
		s.ServerUnreachable = true
	})
	assertGolden(t, h, "20_server_unreachable.png")
	h.set(func(s *participant.State) {
		s.ServerOnline, s.ServerUnreachable, s.WaitingForSession = true, false, true
	})
	assertGolden(t, h, "21_waiting_for_session.png")
	h.set(func(s *participant.State) {
		s.Phase, s.WaitingForSession = participant.PhaseIdle, false
		s.LastError = &participant.Notice{Code: protocol.CodePseudonymTaken}
	})
	assertGolden(t, h, "22_pseudonym_taken.png")
	h.set(func(s *participant.State) {
		s.Phase, s.LastError, s.Pseudonym = participant.PhaseWaiting, nil, "Alice"
		s.DeviceCheck, s.NoMicrophone = protocol.DeviceCheckRequired, true
	})
	assertGolden(t, h, "23_device_check_required_no_mic.png")
	// "Try again" looks for the microphone at once; found, the button goes.
	if !h.k.device.retry.Visible() {
		t.Fatal("no Try again with the microphone missing")
	}
	test.Tap(h.k.device.retry)
	if calls := h.eng.CallsOf("RetryDevices"); len(calls) != 1 {
		t.Fatalf("RetryDevices calls %v", calls)
	}
	h.set(func(s *participant.State) { s.NoMicrophone = false })
	if h.k.device.retry.Visible() {
		t.Fatal("Try again shown with every device working")
	}
	test.Tap(h.k.device.cont)
	h.set(func(s *participant.State) { s.Present, s.Needed, s.NoPartner = 1, 2, true })
	assertGolden(t, h, "24_no_partner.png")
	h.set(func(s *participant.State) { s.Phase, s.EndReason = participant.PhaseEnded, protocol.EndSession })
	assertGolden(t, h, "25_ended_no_partner.png")
}

func TestAnnouncementOverTheCallUntilDismissed(t *testing.T) {
	s := inCallState()
	s.Announcement = &participant.Message{ID: "x1", Channel: protocol.ChannelExperimenter, Role: protocol.RoleExperimenter,
		Body: "Please move on to the second question now.", Time: t0.Add(-time.Second)}
	h := newHarness(t, s, nil)
	h.sync()
	if !h.k.announce.obj.Visible() {
		t.Fatal("announcement not shown")
	}
	assertGolden(t, h, "26_announcement_in_call.png")
	test.Tap(findButton(t, h.k.announce.obj, "OK"))
	h.sync()
	if calls := h.eng.CallsOf("Dismiss"); len(calls) != 1 || calls[0].Args[0] != "x1" {
		t.Fatalf("Dismiss calls %v", calls)
	}
	if h.k.announce.obj.Visible() || h.k.top.Visible() {
		t.Fatal("announcement still shown after OK")
	}
}

func TestPausedClockAndRemovedParticipant(t *testing.T) {
	s := inCallState()
	s.Paused, s.PausedLeft = true, 2*time.Minute+7*time.Second
	h := newHarness(t, s, nil)
	h.sync()
	if h.k.call.clock.Text != "02:07" || h.k.call.clockCap.Text != "Paused by the experimenter" {
		t.Fatalf("paused clock shows %q, %q", h.k.call.clock.Text, h.k.call.clockCap.Text)
	}
	h.clock.Add(time.Minute) // time passes; a paused clock does not move
	h.k.call.updateClock()
	if h.k.call.clock.Text != "02:07" {
		t.Fatalf("paused clock moved to %q", h.k.call.clock.Text)
	}
	assertGolden(t, h, "27_paused.png")
	h.set(func(s *participant.State) { s.Phase, s.EndReason = participant.PhaseEnded, protocol.EndRemoved })
	if !strings.Contains(h.k.ended.reason.Text, "ended your participation") {
		t.Fatalf("end screen says %q", h.k.ended.reason.Text)
	}
}

// TestLeavingNeverHangs: with an engine whose Leave never returns (a
// device read or the network blocks), the PIN exit still quits.
func TestLeavingNeverHangs(t *testing.T) {
	h := newHarness(t, inCallState(), nil)
	block := make(chan struct{})
	defer close(block)
	h.eng.OnLeave = func() { <-block }
	h.k.RequestExit()
	test.Type(h.k.pinEntry, "2468")
	h.k.pinEntry.TypedKey(&fyne.KeyEvent{Name: fyne.KeyReturn})
	if len(h.quits) != 1 || h.quits[0] != ExitCodeExperimenter {
		t.Fatalf("a blocked Leave kept the kiosk from quitting: OnQuit calls %v", h.quits)
	}
}

// TestQuitAtTheEndNeverHangs: with end_action = "quit" and an engine
// whose Leave never returns, the kiosk still quits at the end, within
// LeaveLimit.
func TestQuitAtTheEndNeverHangs(t *testing.T) {
	h := newHarness(t, inCallState(), func(c *Config) { c.EndAction = EndQuit })
	block := make(chan struct{})
	defer close(block)
	h.eng.OnLeave = func() { <-block }
	h.sync()
	start := time.Now()
	h.set(func(s *participant.State) { s.Phase, s.EndReason = participant.PhaseEnded, protocol.EndDeadline })
	if len(h.quits) != 1 || h.quits[0] != ExitCodeEnded {
		t.Fatalf("a blocked Leave kept the kiosk from quitting at the end: OnQuit calls %v", h.quits)
	}
	if d := time.Since(start); d > 2*LeaveLimit {
		t.Fatalf("quitting took %v (leave limit %v)", d, LeaveLimit)
	}
}

func TestPartnerCameraStoppedInsteadOfAFrozenPicture(t *testing.T) {
	s := inCallState()
	s.PartnerVideoStopped = true
	h := newHarness(t, s, nil)
	h.sync()
	if !h.k.call.overlay.Visible() || !strings.Contains(h.k.call.overMsg.Text, "camera is off or has stopped") {
		t.Fatalf("overlay %v %q", h.k.call.overlay.Visible(), h.k.call.overMsg.Text)
	}
	assertGolden(t, h, "35_partner_camera_stopped.png")
	h.set(func(s *participant.State) { s.PartnerVideoStopped = false })
	if h.k.call.overlay.Visible() {
		t.Fatal("overlay still shown with the partner's video back")
	}
}

// TestNoPINNoticeGolden: a kiosk without an exit PIN says on its welcome
// screen that IT must set one.
func TestNoPINNoticeGolden(t *testing.T) {
	h := newHarness(t, baseState(), func(c *Config) { c.ExitPINHash, c.Kiosk = "", true })
	h.sync()
	if !h.k.welcome.noPIN.Visible() {
		t.Fatal("no notice without a PIN")
	}
	assertGolden(t, h, "28_no_pin.png")
}

// TestJoinRateLimitedGolden: too many joins from one workstation are
// refused on the welcome screen in a sentence about joining, not about
// chat messages.
func TestJoinRateLimitedGolden(t *testing.T) {
	h := newHarness(t, baseState(), nil)
	h.set(func(s *participant.State) {
		s.Phase = participant.PhaseIdle
		s.LastError = &participant.Notice{Code: protocol.CodeRateLimited, Text: "You are sending messages too quickly."}
	})
	assertGolden(t, h, "36_join_rate_limited.png")
}

// TestDevicesSetToNoneGolden: a workstation where the lab chose no camera
// and no microphone shows no red error on the device check, and the
// participant may go on.
func TestDevicesSetToNoneGolden(t *testing.T) {
	s := baseState()
	s.Phase, s.Pseudonym, s.DeviceCheck = participant.PhaseWaiting, "Alice", protocol.DeviceCheckRequired
	s.CameraOff, s.MicrophoneOff = true, true
	h := newHarness(t, s, nil)
	h.sync()
	d := h.k.device
	for name, o := range map[string]fyne.CanvasObject{"no camera": d.noCamText, "no microphone": d.noMic, "required": d.required, "try again": d.retry} {
		if o.Visible() {
			t.Errorf("%s shown for devices the lab chose not to use", name)
		}
	}
	if d.cont.Disabled() {
		t.Error("Continue disabled for devices set to none")
	}
	assertGolden(t, h, "29_devices_none.png")
}
