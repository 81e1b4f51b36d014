package ui

import (
	"testing"
	"time"

	"fyne.io/fyne/v2"

	"github.com/parley-lab/parley/signaling/participant"
	"github.com/parley-lab/parley/signaling/protocol"
)

// TestRecordingIndicator: the indicator follows State.Recording, not the
// session's record setting.
func TestRecordingIndicator(t *testing.T) {
	s := inCallState()
	s.Record, s.Consent = protocol.RecordAudioVideo, protocol.ConsentGiven
	s.Deadline = t0.Add(7*time.Minute + 40*time.Second)
	s.SelfView = true
	h := newHarness(t, s, nil)
	rec := h.k.call.rec.obj
	if rec.Visible() {
		t.Fatal("indicator shown before a segment is written")
	}
	h.set(func(s *participant.State) { s.Recording = true })
	if !rec.Visible() {
		t.Fatal("indicator not shown while recording")
	}
	assertGolden(t, h, "33_in_call_recording.png")
	// The call drops: the segment ends; the session still records.
	h.set(func(s *participant.State) { s.Recording, s.Reconnecting = false, true })
	if rec.Visible() {
		t.Error("indicator shown while reconnecting and not recording")
	}
	h.set(func(s *participant.State) { s.Recording, s.Reconnecting = true, false })
	if !rec.Visible() {
		t.Error("indicator not back with the new segment")
	}
	h.set(func(s *participant.State) { s.Phase = participant.PhaseEnded; s.Recording = false })
	h.set(func(s *participant.State) { s.Phase = participant.PhaseInCall })
	if rec.Visible() {
		t.Error("indicator left on")
	}
}

func TestEndScreenUploadsGolden(t *testing.T) {
	h := newHarness(t, baseState(), nil)
	h.set(func(s *participant.State) {
		s.Phase, s.EndReason = participant.PhaseEnded, protocol.EndDeadline
		s.Record, s.Uploads = protocol.RecordAudioVideo, 3
	})
	up := h.k.ended.uploads
	if !up.Visible() || up.Text != "Saving the recording to the lab server… (3 left). Please leave this computer on." {
		t.Fatalf("uploads line %v %q", up.Visible(), up.Text)
	}
	assertGolden(t, h, "34_ended_uploads.png")
	h.set(func(s *participant.State) { s.Uploads = 0 })
	if up.Visible() {
		t.Error("uploads line shown with nothing left")
	}
}

// TestEndActionWaitsForUploads: quit and URL wait while uploads remain and
// run when they reach 0, or after UploadWaitLimit.
func TestEndActionWaitsForUploads(t *testing.T) {
	ended := func(uploads int) func(*participant.State) {
		return func(s *participant.State) {
			s.Phase, s.Record, s.Uploads = participant.PhaseEnded, protocol.RecordAudio, uploads
		}
	}
	t.Run("quit after the uploads", func(t *testing.T) {
		h := newHarness(t, baseState(), func(c *Config) { c.EndAction = EndQuit })
		h.set(ended(2))
		h.set(func(s *participant.State) { s.Uploads = 1 })
		h.clock.Add(UploadWaitLimit / 2)
		h.k.tick()
		if len(h.quits) != 0 || len(h.eng.CallsOf("Leave")) != 0 {
			t.Fatal("quit with uploads left")
		}
		if got := h.k.ended.uploads.Text; got != "Saving the recording to the lab server… (1 left). Please leave this computer on." {
			t.Errorf("uploads line %q", got)
		}
		h.set(func(s *participant.State) { s.Uploads = 0 })
		if len(h.quits) != 1 || h.quits[0] != ExitCodeEnded {
			t.Fatalf("quits = %v after the uploads", h.quits)
		}
		h.set(func(s *participant.State) { s.Uploads = 0 })
		h.k.tick()
		if len(h.quits) != 1 {
			t.Error("end action ran twice")
		}
	})
	t.Run("url after the limit", func(t *testing.T) {
		h := newHarness(t, baseState(), func(c *Config) {
			c.EndAction, c.EndURL = EndURL, "https://survey.example.org/s?p={pseudonym}"
		})
		h.set(ended(4))
		h.clock.Add(UploadWaitLimit - time.Second)
		h.k.tick()
		if len(h.app.urls) != 0 {
			t.Fatal("URL opened with uploads left before the limit")
		}
		h.clock.Add(time.Second)
		h.k.tick()
		if len(h.app.urls) != 1 {
			t.Fatalf("URL not opened at the limit: %v", h.app.urls)
		}
		h.k.tick()
		if len(h.app.urls) != 1 {
			t.Error("URL opened twice")
		}
	})
	t.Run("the limit counts from the end of the delay", func(t *testing.T) {
		h := newHarness(t, baseState(), func(c *Config) { c.EndAction = EndQuit; c.EndActionDelay = 20 * time.Millisecond })
		queued := make(chan func(), 1)
		for _, v := range h.k.videos() {
			v.do = fyne.Do
		}
		h.k.do = func(f func()) { queued <- f }
		h.set(ended(1))
		h.clock.Add(UploadWaitLimit) // spent on the end screen before the action is due
		select {
		case f := <-queued:
			f()
		case <-time.After(5 * time.Second):
			t.Fatal("end action never fell due")
		}
		h.k.tick()
		if len(h.quits) != 0 {
			t.Fatal("quit with an upload left")
		}
		h.set(func(s *participant.State) { s.Uploads = 0 })
		if len(h.quits) != 1 {
			t.Fatalf("quits = %v after the upload", h.quits)
		}
	})
	t.Run("stay", func(t *testing.T) {
		h := newHarness(t, baseState(), nil)
		h.set(ended(1))
		h.clock.Add(2 * UploadWaitLimit)
		h.set(func(s *participant.State) { s.Uploads = 0 })
		if len(h.quits) != 0 || len(h.app.urls) != 0 {
			t.Error("stay ran an action")
		}
	})
}
