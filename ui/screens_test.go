package ui

import (
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"

	"github.com/parley-lab/parley/signaling/participant"
	"github.com/parley-lab/parley/signaling/protocol"
)

// TestFlowGolden drives the kiosk through a whole discussion with the
// scripted engine and compares every screen with its golden image.
func TestFlowGolden(t *testing.T) {
	h := newHarness(t, baseState(), nil)
	eng := h.eng

	// 1. Welcome.
	assertGolden(t, h, "01_welcome.png")

	// Typing a pseudonym and Enter joins; the engine refuses it.
	test.Type(h.k.welcome.entry, "Alice")
	h.k.welcome.entry.TypedKey(&fyne.KeyEvent{Name: fyne.KeyReturn})
	if c := eng.CallsOf("Join"); len(c) != 1 || c[0].Args[0] != "Alice" {
		t.Fatalf("Join calls = %v", c)
	}
	h.set(func(s *participant.State) { s.Phase = participant.PhaseConnecting })
	assertGolden(t, h, "02_joining.png")
	h.set(func(s *participant.State) {
		s.Phase = participant.PhaseIdle
		s.LastError = &participant.Notice{Code: protocol.CodeBadPseudonym, Text: "Please choose another name: pseudonym not accepted: the pseudonym has 40 characters; at most 32 are allowed"}
	})
	assertGolden(t, h, "03_pseudonym_refused.png")

	// 2. Accepted: the device check, here without a camera.
	eng.SetMicLevel(0.62)
	h.set(func(s *participant.State) {
		s.Phase = participant.PhaseWaiting
		s.LastError = nil
		s.Pseudonym = "Alice"
		s.Present, s.Needed = 1, 2
		s.NoCamera = true
	})
	if h.k.screen != scrDevice {
		t.Fatalf("screen = %v, want device check", h.k.screen)
	}
	assertGolden(t, h, "04_device_check_no_camera.png")

	// 3. Continue: waiting for the partner.
	test.Tap(findButton(t, h.k.device.obj, "Continue"))
	h.sync()
	assertGolden(t, h, "05_waiting.png")

	// 4. Paired: the call is being set up.
	h.set(func(s *participant.State) {
		s.Phase = participant.PhasePaired
		s.NoCamera = false
		s.Present = 2
		s.Partners = []string{"Bob"}
		s.PartnerOnline = true
		s.Channels = []participant.Channel{groupChannel}
		s.SelfView = true
		s.AllowMuteAudio, s.AllowMuteVideo = true, true
		s.Duration = 10 * time.Minute
	})
	assertGolden(t, h, "06_paired_connecting.png")

	// In the call, chat in both directions and one message still sending.
	h.set(func(s *participant.State) {
		s.Phase = participant.PhaseInCall
		s.MediaConnected = true
		s.Deadline = t0.Add(8*time.Minute + 12*time.Second)
		s.Messages = []participant.Message{
			msg("m1", "g-1", "Bob", protocol.RoleParticipant, "Hi Alice! Shall we start with the first question?", -90*time.Second, false),
			msg("m2", "g-1", "Alice", protocol.RoleParticipant, "Hi Bob, yes. I would pick option B, it seems fairer to me.", -60*time.Second, true),
			msg("m3", "g-1", "Bob", protocol.RoleParticipant, "Interesting, why B?", -30*time.Second, false),
		}
		s.Pending = []participant.PendingMessage{{ID: "c-pending", Channel: groupChannel.Name, Body: "Because nobody gets less than half."}}
	})
	assertGolden(t, h, "07_in_call_chat.png")

	// The partner drops: no frozen picture, a plain message instead.
	h.set(func(s *participant.State) { s.PartnerOnline = false })
	assertGolden(t, h, "08_partner_reconnecting.png")

	// Back, and in the last 30 seconds: the countdown is large and red.
	h.clock.Set(t0.Add(8*time.Minute - 13*time.Second)) // 25 s left
	h.set(func(s *participant.State) { s.PartnerOnline = true; s.Pending = nil })
	if got := h.k.call.clock.Text; got != "00:25" {
		t.Errorf("countdown = %q, want 00:25", got)
	}
	assertGolden(t, h, "09_last_30s.png")

	// A refused chat message, with the reason.
	test.Type(h.k.call.chat.views[0].entry, "ok ok ok")
	h.k.call.chat.views[0].entry.TypedKey(&fyne.KeyEvent{Name: fyne.KeyReturn})
	sent := eng.CallsOf("SendChat")
	if len(sent) != 1 {
		t.Fatalf("SendChat calls = %v", sent)
	}
	id := sent[0].Args[2].(string)
	h.set(func(s *participant.State) {
		s.LastError = &participant.Notice{Code: protocol.CodeChatClosed, ClientMsgID: id, Channel: h.k.call.chat.views[0].ch.Name, Body: "ok ok ok"}
	})
	assertGolden(t, h, "10_chat_refused.png")

	// 5. The end.
	h.set(func(s *participant.State) {
		s.Phase = participant.PhaseEnded
		s.EndReason = "deadline"
		s.LastError = nil
	})
	assertGolden(t, h, "11_ended.png")
	for _, v := range h.k.videos() {
		if v.Running() {
			t.Error("a video ticker runs after the end")
		}
	}
}

// TestChannelsGolden shows several channels as tabs, an experimenter
// announcement and a read-only channel without an entry.
func TestChannelsGolden(t *testing.T) {
	s := baseState()
	s.Phase = participant.PhaseInCall
	s.Pseudonym = "Alice"
	s.Partners = []string{"Bob"}
	s.PartnerOnline, s.MediaConnected = true, true
	s.Deadline = t0.Add(4*time.Minute + 5*time.Second)
	s.Channels = []participant.Channel{groupChannel, sessChannel, annChannel}
	s.Messages = []participant.Message{
		msg("a1", "announcements", "", protocol.RoleExperimenter, "Please discuss question 2 next.", -10*time.Second, false),
		msg("g1", "g-1", "Bob", protocol.RoleParticipant, "Ready when you are.", -20*time.Second, false),
		msg("g2", "g-1", "", protocol.RoleExperimenter, "Five minutes left.", -5*time.Second, false),
	}
	h := newHarness(t, s, func(c *Config) { c.DeviceCheck = false })
	h.sync()
	if h.k.call.chat.tabs == nil || len(h.k.call.chat.tabs.Items) != 3 {
		t.Fatal("want three tabs")
	}
	if h.k.call.chat.view("announcements").entry != nil {
		t.Error("read-only channel has an entry")
	}
	if h.k.call.chat.view("session").entry == nil {
		t.Error("writable channel has no entry")
	}
	if len(h.k.call.controls.Objects) != 0 {
		t.Error("mute buttons shown although not allowed")
	}
	assertGolden(t, h, "12_channels_group.png")
	h.k.call.chat.tabs.SelectIndex(2)
	h.sync()
	assertGolden(t, h, "13_channels_announcements.png")
}

// TestGermanGolden renders screens in German.
func TestGermanGolden(t *testing.T) {
	h := newHarness(t, baseState(), func(c *Config) { c.Language = "de" })
	assertGolden(t, h, "de_01_welcome.png")
	h.set(func(s *participant.State) {
		s.Phase = participant.PhaseWaiting
		s.Pseudonym = "Anna"
		s.Present, s.Needed = 1, 2
		s.NoMicrophone = true
	})
	assertGolden(t, h, "de_02_device_check_no_mic.png")
	h.k.deviceContinue()
	h.set(func(s *participant.State) {
		s.Phase = participant.PhaseInCall
		s.Partners = []string{"Ben"}
		s.PartnerOnline, s.MediaConnected, s.SelfView = true, true, true
		s.AllowMuteAudio = true
		s.AudioMuted = true
		s.Channels = []participant.Channel{groupChannel}
		s.Deadline = t0.Add(2 * time.Minute)
		s.Messages = []participant.Message{
			msg("m1", "g-1", "Ben", protocol.RoleParticipant, "Hallo Anna!", -20*time.Second, false),
			msg("m2", "g-1", "Anna", protocol.RoleParticipant, "Hallo Ben, fangen wir an.", -10*time.Second, true),
		}
	})
	assertGolden(t, h, "de_03_in_call.png")
	h.set(func(s *participant.State) { s.Phase = participant.PhaseEnded; s.EndReason = "experimenter" })
	assertGolden(t, h, "de_04_ended.png")
}
