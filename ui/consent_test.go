package ui

import (
	"strings"
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"

	"github.com/parley-lab/parley/signaling/participant"
	"github.com/parley-lab/parley/signaling/protocol"
)

// joinedRecorded is a participant just joined to a session that records.
func joinedRecorded(record string) func(*participant.State) {
	return func(s *participant.State) {
		s.Phase = participant.PhaseWaiting
		s.Pseudonym = "Alice"
		s.Present, s.Needed = 1, 2
		s.Record = record
	}
}

// TestConsentGolden renders the consent screen for both record settings
// and the screen after declining.
func TestConsentGolden(t *testing.T) {
	h := newHarness(t, baseState(), nil)
	h.set(joinedRecorded(protocol.RecordAudioVideo))
	if h.k.screen != scrConsent {
		t.Fatalf("screen = %v, want consent", h.k.screen)
	}
	assertGolden(t, h, "30_consent_audio_video.png")
	h.set(func(s *participant.State) { s.Record = protocol.RecordAudio })
	assertGolden(t, h, "31_consent_audio.png")
	test.Tap(findButton(t, h.k.consent.obj, "I do not agree"))
	h.sync()
	if h.k.screen != scrDeclined {
		t.Fatalf("screen = %v after declining, want declined", h.k.screen)
	}
	assertGolden(t, h, "32_declined.png")
}

// TestConsentGermanLabText shows a lab's own text in the kiosk's language.
func TestConsentGermanLabText(t *testing.T) {
	h := newHarness(t, baseState(), func(c *Config) {
		c.Language = "de"
		c.ConsentText = "This text is for languages without their own."
		c.ConsentTexts = map[string]string{"de": "Wir zeichnen das Gespräch für die Studie „Gemeinsam entscheiden“ auf. " +
			"Die Aufnahmen werden pseudonymisiert auf dem Server des Instituts gespeichert und nach Abschluss der Studie gelöscht. " +
			"Ihre Teilnahme an der Aufzeichnung ist freiwillig."}
	})
	h.set(joinedRecorded(protocol.RecordAudioVideo))
	if !strings.HasPrefix(h.k.consent.text.Text, "Wir zeichnen") {
		t.Fatalf("consent text = %q", h.k.consent.text.Text)
	}
	assertGolden(t, h, "de_05_consent_lab_text.png")
	test.Tap(findButton(t, h.k.consent.obj, "Ich bin mit der Aufzeichnung einverstanden"))
	if c := h.eng.CallsOf("Consent"); len(c) != 1 || c[0].Args[0] != true || c[0].Args[1] != "de" {
		t.Fatalf("Consent calls = %v, want one (true, de)", c)
	}
}

func TestConsentButtons(t *testing.T) {
	for _, tc := range []struct {
		button string
		given  bool
		next   screenID
	}{
		{"I agree to be recorded", true, scrDevice},
		{"I do not agree", false, scrDeclined},
	} {
		t.Run(tc.button, func(t *testing.T) {
			h := newHarness(t, baseState(), nil)
			h.set(joinedRecorded(protocol.RecordAudio))
			b := findButton(t, h.k.consent.obj, tc.button)
			test.Tap(b)
			test.Tap(b) // a second press is not a second answer
			test.Tap(findButton(t, h.k.consent.obj, map[bool]string{true: "I do not agree", false: "I agree to be recorded"}[tc.given]))
			c := h.eng.CallsOf("Consent")
			if len(c) != 1 || c[0].Args[0] != tc.given || c[0].Args[1] != "en" {
				t.Fatalf("Consent calls = %v, want one (%v, en)", c, tc.given)
			}
			h.sync()
			if h.k.screen != tc.next {
				t.Errorf("screen = %v, want %v", h.k.screen, tc.next)
			}
		})
	}
}

// TestConsentKeyboard: Tab reaches both answers, none is preselected, and
// Enter answers.
func TestConsentKeyboard(t *testing.T) {
	h := newHarness(t, baseState(), nil)
	test.Type(h.k.welcome.entry, "Alice")
	h.k.welcome.entry.TypedKey(&fyne.KeyEvent{Name: fyne.KeyReturn})
	h.set(joinedRecorded(protocol.RecordAudioVideo))
	c := h.win.Canvas()
	if f := c.Focused(); f != nil {
		t.Fatalf("focused on the consent screen before any key: %T", f)
	}
	c.FocusNext()
	if c.Focused() != h.k.consent.agree {
		t.Fatalf("Tab focused %T, want the agree button", c.Focused())
	}
	c.FocusNext()
	if c.Focused() != h.k.consent.decline {
		t.Fatalf("second Tab focused %T, want the decline button", c.Focused())
	}
	c.Focused().TypedKey(&fyne.KeyEvent{Name: fyne.KeyReturn})
	if calls := h.eng.CallsOf("Consent"); len(calls) != 1 || calls[0].Args[0] != false {
		t.Fatalf("Consent calls = %v, want one declining", calls)
	}
}

// TestConsentBeforeDeviceCheck: neither the device check nor Ready (which
// lets the server pair) comes before the answer; without recording there
// is no consent screen.
func TestConsentBeforeDeviceCheck(t *testing.T) {
	h := newHarness(t, baseState(), nil)
	h.set(joinedRecorded(protocol.RecordAudioVideo))
	h.set(func(s *participant.State) { s.DeviceCheck = protocol.DeviceCheckRequired })
	if h.k.screen != scrConsent || len(h.eng.CallsOf("Ready")) != 0 {
		t.Fatalf("screen %v, Ready calls %d: want consent and none", h.k.screen, len(h.eng.CallsOf("Ready")))
	}
	test.Tap(h.k.consent.agree)
	h.sync()
	if h.k.screen != scrDevice {
		t.Fatalf("screen %v after consenting, want the device check", h.k.screen)
	}

	// A session without a device check: Ready only after consenting.
	h2 := newHarness(t, baseState(), nil)
	h2.set(joinedRecorded(protocol.RecordAudio))
	h2.set(func(s *participant.State) { s.DeviceCheck = protocol.DeviceCheckOff })
	if h2.k.screen != scrConsent || len(h2.eng.CallsOf("Ready")) != 0 {
		t.Fatalf("screen %v, Ready calls %d: want consent and none", h2.k.screen, len(h2.eng.CallsOf("Ready")))
	}
	test.Tap(h2.k.consent.agree)
	h2.sync()
	h2.sync()
	if h2.k.screen != scrWaiting || len(h2.eng.CallsOf("Ready")) != 1 {
		t.Fatalf("screen %v, Ready calls %d: want waiting and one", h2.k.screen, len(h2.eng.CallsOf("Ready")))
	}

	for _, record := range []string{"", protocol.RecordOff} {
		h3 := newHarness(t, baseState(), nil)
		h3.set(joinedRecorded(record))
		if h3.k.screen != scrDevice {
			t.Errorf("record %q: screen %v, want the device check", record, h3.k.screen)
		}
	}

	// Declined, then paired after all (the experimenter's choice): the call shows.
	h4 := newHarness(t, baseState(), nil)
	h4.set(joinedRecorded(protocol.RecordAudio))
	test.Tap(h4.k.consent.decline)
	h4.sync()
	h4.set(func(s *participant.State) {
		s.Phase, s.Ready, s.Partners, s.PartnerOnline = participant.PhasePaired, true, []string{"Bob"}, true
	})
	if h4.k.screen != scrCall {
		t.Errorf("declined and paired: screen %v, want call", h4.k.screen)
	}
}

func TestConsentTextChoice(t *testing.T) {
	lab := Config{ConsentText: "Lab text.", ConsentTexts: map[string]string{"de": "Labortext."}}
	for _, tc := range []struct {
		cfg          Config
		lang, record string
		want         string
	}{
		{lab, "de", protocol.RecordAudio, "Labortext."},
		{lab, "en", protocol.RecordAudio, "Lab text."},
		{Config{ConsentTexts: map[string]string{"de": "Labortext."}}, "en", protocol.RecordAudioVideo, catalogue["en"][kConsentAudioVideo]},
		{Config{}, "de", protocol.RecordAudio, catalogue["de"][kConsentAudio]},
		{Config{}, "de", protocol.RecordAudioVideo, catalogue["de"][kConsentAudioVideo]},
		{Config{ConsentText: "  "}, "en", protocol.RecordAudio, catalogue["en"][kConsentAudio]},
	} {
		h := newHarness(t, baseState(), func(c *Config) {
			c.Language = tc.lang
			c.ConsentText, c.ConsentTexts = tc.cfg.ConsentText, tc.cfg.ConsentTexts
		})
		h.set(joinedRecorded(tc.record))
		if got := h.k.consent.text.Text; got != tc.want {
			t.Errorf("%s %s %+v: text %q, want %q", tc.lang, tc.record, tc.cfg, got, tc.want)
		}
		wantWhat := map[string]msgKey{protocol.RecordAudio: kConsentWhatAudio, protocol.RecordAudioVideo: kConsentWhatVideo}[tc.record]
		if got := h.k.consent.what.Text; got != catalogue[tc.lang][wantWhat] {
			t.Errorf("%s %s: what is recorded = %q", tc.lang, tc.record, got)
		}
	}
}
