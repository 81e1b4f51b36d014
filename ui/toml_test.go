package ui

import (
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

// TestTOMLExample decodes the example kiosk.toml over the defaults, as the
// lead's loader does, and checks every key lands in its field.
func TestTOMLExample(t *testing.T) {
	cfg := DefaultConfig()
	md, err := toml.DecodeFile("testdata/kiosk.example.toml", &cfg)
	if err != nil {
		t.Fatal(err)
	}
	if un := md.Undecoded(); len(un) > 0 {
		t.Fatalf("keys without a field: %v", un)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.LabName != "Decision Lab" || cfg.Language != "de" || cfg.EndAction != EndURL ||
		cfg.EndActionDelay != 8*time.Second || !cfg.Kiosk || !VerifyPIN(cfg.ExitPINHash, "2468") || !cfg.DeviceCheck {
		t.Errorf("decoded %+v", cfg)
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
