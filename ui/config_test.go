package ui

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"fyne.io/fyne/v2"
)

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	logo := filepath.Join(dir, "logo.png")
	if err := os.WriteFile(logo, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	ok := testConfig()
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	for _, tc := range []struct {
		name  string
		mod   func(*Config)
		field string // "" = valid
	}{
		{"defaults with pin", func(c *Config) {}, ""},
		{"windowed without pin", func(c *Config) { c.Kiosk = false; c.ExitPIN = "" }, ""},
		{"logo", func(c *Config) { c.LogoPath = logo }, ""},
		{"short colour", func(c *Config) { c.PrimaryColor = "#15a" }, ""},
		{"url", func(c *Config) { c.EndAction = EndURL; c.EndURL = "https://x.example/{seat}" }, ""},
		{"de", func(c *Config) { c.Language = "de" }, ""},
		{"empty lab name", func(c *Config) { c.LabName = " " }, "lab_name"},
		{"missing logo", func(c *Config) { c.LogoPath = filepath.Join(dir, "nope.png") }, "logo_path"},
		{"logo is dir", func(c *Config) { c.LogoPath = dir }, "logo_path"},
		{"primary no hash", func(c *Config) { c.PrimaryColor = "1f5fa8" }, "primary_color"},
		{"primary bad hex", func(c *Config) { c.PrimaryColor = "#1f5fzz" }, "primary_color"},
		{"accent named", func(c *Config) { c.AccentColor = "orange" }, "accent_color"},
		{"language", func(c *Config) { c.Language = "fr" }, "language"},
		{"end action", func(c *Config) { c.EndAction = "exit" }, "end_action"},
		{"url missing", func(c *Config) { c.EndAction = EndURL }, "end_url"},
		{"url scheme", func(c *Config) { c.EndAction = EndURL; c.EndURL = "ftp://x.example/" }, "end_url"},
		{"url placeholder", func(c *Config) { c.EndAction = EndURL; c.EndURL = "https://x.example/{seet}" }, "end_url"},
		{"delay", func(c *Config) { c.EndActionDelay = -1 }, "end_action_delay"},
		{"exit keys", func(c *Config) { c.ExitKeys = "Q" }, "exit_keys"},
		{"exit keys shift only", func(c *Config) { c.ExitKeys = "Shift+Q" }, "exit_keys"},
		{"pin missing: the kiosk still starts", func(c *Config) { c.ExitPIN = "" }, ""},
		{"pin short", func(c *Config) { c.ExitPIN = "123" }, "exit_pin"},
		{"pin hash damaged", func(c *Config) { c.ExitPINHash = "pbkdf2-sha256$1$x$y" }, "exit_pin_hash"},
		{"pin letters", func(c *Config) { c.ExitPIN = "12ab" }, "exit_pin"},
		{"consent text", func(c *Config) { c.ConsentText = "We record the discussion." }, ""},
		{"consent texts", func(c *Config) { c.ConsentTexts = map[string]string{"en": "We record.", "de": "Wir zeichnen auf."} }, ""},
		{"consent texts unknown language", func(c *Config) {
			c.ConsentTexts = map[string]string{"de": "Wir zeichnen auf.", "fr": "Nous enregistrons."}
		}, "consent_texts"},
		{"consent texts region code", func(c *Config) { c.ConsentTexts = map[string]string{"de_DE": "Wir zeichnen auf."} }, "consent_texts"},
		{"consent texts blank", func(c *Config) { c.ConsentTexts = map[string]string{"de": "  "} }, "consent_texts"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testConfig()
			tc.mod(&c)
			err := c.Validate()
			if tc.field == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want one naming %s", tc.field)
			}
			var fe *FieldError
			if !errors.Is(err, ErrConfig) || !errors.As(err, &fe) || fe.Field != tc.field || !strings.HasPrefix(err.Error(), tc.field+": ") {
				t.Errorf("error %q does not name %s", err, tc.field)
			}
		})
	}
}

func TestDefaultConfigNeedsOnlyPIN(t *testing.T) {
	c := DefaultConfig()
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults: %v", err) // a kiosk without a PIN starts and says so
	}
	if err := c.CheckForInstall(); err == nil || !strings.Contains(err.Error(), "exit_pin_hash") {
		t.Fatalf("install check without a PIN: %v", err)
	}
	c.ExitPIN = "0000"
	if err := c.CheckForInstall(); err == nil || !strings.Contains(err.Error(), "clear text") {
		t.Fatalf("install check with a clear-text PIN: %v", err)
	}
	c.ExitPIN = ""
	h, err := HashPIN("0000")
	if err != nil {
		t.Fatal(err)
	}
	c.ExitPINHash = h
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := c.CheckForInstall(); err != nil {
		t.Fatal(err)
	}
	if !VerifyPIN(h, "0000") || VerifyPIN(h, "0001") || VerifyPIN(h, "") {
		t.Fatal("VerifyPIN does not tell the PIN from others")
	}
	if h2, _ := HashPIN("0000"); h2 == h {
		t.Fatal("two hashes of one PIN are equal: no salt")
	}
	if _, err := HashPIN("12a4"); err == nil {
		t.Fatal("a PIN with a letter was hashed")
	}
	if !c.Kiosk || !c.DeviceCheck || c.EndAction != EndStay || c.ExitKeys != "Ctrl+Alt+Q" {
		t.Errorf("defaults changed: %+v", c)
	}
}

func TestBuildEndURL(t *testing.T) {
	for _, tc := range []struct {
		tmpl, seat, session, pseudonym, want string
	}{
		{"https://s.example/?p={pseudonym}", "A1", "S1", "Alice", "https://s.example/?p=Alice"},
		{"https://s.example/{session}/{seat}?p={pseudonym}", "A 1", "S/1", "Bob", "https://s.example/S%2F1/A%201?p=Bob"},
		{"https://s.example/?p={pseudonym}&x=1", "", "", "Zoë & Co=1?#", "https://s.example/?p=Zo%C3%AB%20%26%20Co%3D1%3F%23&x=1"},
		{"https://s.example/?p={pseudonym}", "", "", "a+b", "https://s.example/?p=a%2Bb"},
		{"http://10.0.0.5:8080/end?seat={seat}&seat2={seat}", "B2", "", "", "http://10.0.0.5:8080/end?seat=B2&seat2=B2"},
	} {
		u, err := BuildEndURL(tc.tmpl, tc.seat, tc.session, tc.pseudonym)
		if err != nil {
			t.Errorf("%s: %v", tc.tmpl, err)
			continue
		}
		if got := u.String(); got != tc.want {
			t.Errorf("BuildEndURL(%q, %q, %q, %q) = %s, want %s", tc.tmpl, tc.seat, tc.session, tc.pseudonym, got, tc.want)
		}
		if tc.pseudonym != "" && u.Query().Get("p") != tc.pseudonym {
			t.Errorf("pseudonym reads back as %q", u.Query().Get("p"))
		}
	}
	for _, bad := range []string{"", "x.example/{seat}", "https://x.example/{name}", "mailto:a@b"} {
		if _, err := BuildEndURL(bad, "s", "s", "p"); err == nil {
			t.Errorf("BuildEndURL(%q) accepted", bad)
		}
	}
}

func TestParseShortcut(t *testing.T) {
	for in, want := range map[string]struct {
		key fyne.KeyName
		mod fyne.KeyModifier
	}{
		"Ctrl+Alt+Q":          {fyne.KeyQ, fyne.KeyModifierControl | fyne.KeyModifierAlt},
		"ctrl+shift+x":        {fyne.KeyX, fyne.KeyModifierControl | fyne.KeyModifierShift},
		"Super+F12":           {fyne.KeyF12, fyne.KeyModifierSuper},
		"Control + Alt + End": {fyne.KeyEnd, fyne.KeyModifierControl | fyne.KeyModifierAlt},
		"Alt+Escape":          {fyne.KeyEscape, fyne.KeyModifierAlt},
		"Ctrl+Alt+7":          {fyne.Key7, fyne.KeyModifierControl | fyne.KeyModifierAlt},
	} {
		sc, err := ParseShortcut(in)
		if err != nil {
			t.Errorf("%q: %v", in, err)
			continue
		}
		if sc.KeyName != want.key || sc.Modifier != want.mod {
			t.Errorf("%q = %v+%v, want %v+%v", in, sc.Modifier, sc.KeyName, want.mod, want.key)
		}
	}
	for _, bad := range []string{"", "Q", "Ctrl+", "Hyper+Q", "Shift+Q", "Ctrl+F13", "Ctrl+F01", "Ctrl+Alt+QQ"} {
		if _, err := ParseShortcut(bad); err == nil {
			t.Errorf("ParseShortcut(%q) accepted", bad)
		}
	}
}
