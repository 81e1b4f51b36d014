package ui

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

// TestTOMLExample decodes the [ui] table of the example kiosk.toml over
// the defaults, as the kiosk's loader (cmd/cli) does, and checks every key
// lands in its field (the workstation's own keys are cmd/cli's to check).
func TestTOMLExample(t *testing.T) {
	file := struct {
		UI Config `toml:"ui"`
	}{UI: DefaultConfig()}
	md, err := toml.DecodeFile("testdata/kiosk.example.toml", &file)
	if err != nil {
		t.Fatal(err)
	}
	if !md.IsDefined("ui", "lab_name") {
		t.Fatal("the example has no [ui] table")
	}
	for _, k := range md.Undecoded() {
		if len(k) > 1 && k[0] == "ui" {
			t.Errorf("[ui] key without a field: %v", k)
		}
	}
	cfg := file.UI
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.LabName != "Decision Lab" || cfg.Language != "de" || cfg.EndAction != EndURL ||
		cfg.EndActionDelay != 8*time.Second || !cfg.Kiosk || !VerifyPIN(cfg.ExitPINHash, "2468") || !cfg.DeviceCheck {
		t.Errorf("decoded %+v", cfg)
	}
	if !strings.HasPrefix(cfg.ConsentText, "We record this discussion") || !strings.HasPrefix(cfg.ConsentTexts["de"], "Wir zeichnen") ||
		cfg.consentText("de") != cfg.ConsentTexts["de"] || cfg.consentText("en") != cfg.ConsentText {
		t.Errorf("consent texts decoded as %q, %v", cfg.ConsentText, cfg.ConsentTexts)
	}
	// Keys left out keep their defaults.
	cfg = DefaultConfig()
	if _, err := toml.Decode(`exit_pin = "1234"`, &cfg); err != nil {
		t.Fatal(err)
	}
	if !cfg.DeviceCheck || !cfg.Kiosk || cfg.EndActionDelay != DefaultEndActionDelay || cfg.PrimaryColor != DefaultPrimaryColor {
		t.Errorf("defaults lost: %+v", cfg)
	}
}

// TestTOMLConsentTexts: the per-language consent texts as a lab writes
// them, and a clear error naming the table for a language the kiosk lacks.
func TestTOMLConsentTexts(t *testing.T) {
	cfg := DefaultConfig()
	cfg.ExitPINHash = testPINHash
	if _, err := toml.Decode(`
consent_text = "Fallback."
[consent_texts]
en = "English."
de = "Deutsch."
`, &cfg); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.consentText("en") != "English." || cfg.consentText("de") != "Deutsch." || cfg.ConsentText != "Fallback." {
		t.Errorf("decoded %q %v", cfg.ConsentText, cfg.ConsentTexts)
	}

	cfg = DefaultConfig()
	if _, err := toml.Decode("[consent_texts]\nfr = \"Nous enregistrons.\"\n", &cfg); err != nil {
		t.Fatal(err)
	}
	err := cfg.Validate()
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "consent_texts" || !strings.Contains(err.Error(), `"fr"`) {
		t.Fatalf("unknown language: error %v, want one naming consent_texts and \"fr\"", err)
	}
	t.Log(err)

	// A table where a string belongs is a decoding error naming the key.
	cfg = DefaultConfig()
	if _, err := toml.Decode("consent_text = 3\n", &cfg); err == nil || !strings.Contains(err.Error(), "consent_text") {
		t.Errorf("consent_text = 3: error %v, want one naming consent_text", err)
	}
}
