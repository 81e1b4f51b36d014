package ui

import (
	"errors"
	"fmt"
	"image/color"
	"maps"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/driver/desktop"
)

// End actions: what the kiosk does after the "The discussion has ended" screen.
const (
	EndStay = "stay" // keep showing the end screen
	EndQuit = "quit" // call Config.OnQuit(ExitCodeEnded)
	EndURL  = "url"  // open Config.EndURL (placeholders filled in) with fyne.App.OpenURL
)

// Exit codes passed to Config.OnQuit.
const (
	ExitCodeEnded        = 0 // the discussion ended and the end action is "quit"
	ExitCodeExperimenter = 0 // the experimenter left with the exit keys and PIN
)

// Defaults of Config (see DefaultConfig).
const (
	DefaultLabName        = "Parley"
	DefaultPrimaryColor   = "#1f5fa8"
	DefaultAccentColor    = "#c25400"
	DefaultExitKeys       = "Ctrl+Alt+Q"
	DefaultEndActionDelay = 5 * time.Second
	// MinPINDigits and MaxPINDigits bound the experimenter's exit PIN.
	MinPINDigits = 4
	MaxPINDigits = 12
)

// Config is the kiosk's configuration, meant to be loaded from
// /etc/parley/kiosk.toml. Start from DefaultConfig and decode the file over it,
// so keys missing from the file keep their defaults:
//
//	cfg := ui.DefaultConfig()
//	_, err := toml.DecodeFile("/etc/parley/kiosk.toml", &cfg)
//	cfg.OnQuit = func(code int) { os.Exit(code) }
//	err = cfg.Validate()
type Config struct {
	// LabName is shown at the top of every screen. Default DefaultLabName.
	LabName string `toml:"lab_name"`
	// WelcomeText is shown on the welcome screen above the pseudonym field.
	// Default "": a short instruction from the message catalogue in the kiosk's language.
	WelcomeText string `toml:"welcome_text"`
	// ConsentText is the lab's text on the consent screen, shown when the
	// session records (the screen adds what is recorded: audio only, or
	// audio and video). It is used for every language without an entry in
	// ConsentTexts. Default "": a sentence from the message catalogue in
	// the kiosk's language saying what is recorded, what for, where it is
	// kept, and that the participant may decline.
	ConsentText string `toml:"consent_text"`
	// ConsentTexts holds the consent text per language code, for a config
	// shared by kiosks in several languages (TOML: a [consent_texts] table,
	// `de = "..."`). Keys are the kiosk's languages ("en", "de"); an
	// entry must not be blank. The entry for the kiosk's language wins
	// over ConsentText. Default: none.
	ConsentTexts map[string]string `toml:"consent_texts"`
	// LogoPath is an optional PNG/JPEG/SVG file shown next to the lab name. Default "" (no logo).
	LogoPath string `toml:"logo_path"`
	// PrimaryColor (buttons, focus, headings) and AccentColor (own chat
	// messages, highlights) as "#rgb" or "#rrggbb". Defaults DefaultPrimaryColor, DefaultAccentColor.
	PrimaryColor string `toml:"primary_color"`
	AccentColor  string `toml:"accent_color"`
	// Language of every text the participant sees: "en", "de", or "" to take
	// it from the system locale (LC_ALL, LC_MESSAGES, LANG; English if none
	// is supported). Default "".
	Language string `toml:"language"`
	// DeviceCheck shows the camera/microphone check after joining. Default true.
	DeviceCheck bool `toml:"device_check"`
	// VideoWindows shows the videos in X11 windows of their own over the
	// kiosk's window (see Surface) instead of drawing them with the rest of
	// the window, 30 times a second, in OpenGL: without a GPU that costs
	// more than the call itself. Default true; false for a display where
	// the windows misbehave.
	VideoWindows bool `toml:"video_windows"`
	// EndAction is EndStay, EndQuit or EndURL. Default EndStay.
	EndAction string `toml:"end_action"`
	// EndURL is the address opened when EndAction is EndURL; {seat},
	// {session} and {pseudonym} are replaced by the URL-escaped values
	// (e.g. "https://survey.example.org/s?seat={seat}&p={pseudonym}"). Default "".
	EndURL string `toml:"end_url"`
	// EndActionDelay is how long the end screen shows before the end action
	// runs (TOML: a duration string such as "5s"; 0 = at once). While
	// recording segments are still uploaded, the action then waits for
	// them, at most UploadWaitLimit. Default DefaultEndActionDelay.
	EndActionDelay time.Duration `toml:"end_action_delay"`
	// Kiosk makes the window fullscreen without decorations and ignores the
	// window's close button; only the experimenter's ExitKeys + ExitPIN
	// leave. Default true.
	Kiosk bool `toml:"kiosk"`
	// ExitKeys is the experimenter's key combination, modifiers and one key
	// joined by "+": Ctrl, Alt, Shift, Super and a letter, digit, F1..F12,
	// Escape, Delete, Insert, Home, End. Default DefaultExitKeys.
	ExitKeys string `toml:"exit_keys"`
	// ExitPINHash is the experimenter's PIN (MinPINDigits..MaxPINDigits
	// digits) as HashPIN makes it; `parley kiosk set-pin` writes it. Without
	// one, a kiosk says on screen that IT must set one.
	ExitPINHash string `toml:"exit_pin_hash"`
	// ExitPIN is the legacy clear-text PIN: still honoured so an upgraded
	// kiosk keeps working, but `parley config check --kiosk` refuses it.
	ExitPIN string `toml:"exit_pin"`

	// OnQuit is called (on the UI goroutine) when the kiosk wants the program
	// to end: end action "quit", or the experimenter's exit. The engine has
	// already been told to Leave. Default: fyne.App.Quit. The lead wires os.Exit.
	OnQuit func(code int) `toml:"-"`
	// Clock returns the current time; injectable for tests. Default time.Now.
	Clock func() time.Time `toml:"-"`
}

// DefaultConfig returns the configuration with every documented default.
func DefaultConfig() Config {
	return Config{
		LabName:        DefaultLabName,
		PrimaryColor:   DefaultPrimaryColor,
		AccentColor:    DefaultAccentColor,
		DeviceCheck:    true,
		VideoWindows:   true,
		EndAction:      EndStay,
		EndActionDelay: DefaultEndActionDelay,
		Kiosk:          true,
		ExitKeys:       DefaultExitKeys,
	}
}

// ErrConfig is matched (errors.Is) by every error of Config.Validate.
var ErrConfig = errors.New("kiosk ui config")

// FieldError is a Config.Validate error: its message starts with the TOML
// key that is wrong, e.g. "exit_pin: must be 4 to 12 digits ...".
type FieldError struct {
	Field   string // TOML key
	Problem string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Problem }

// Unwrap makes errors.Is(err, ErrConfig) true.
func (e *FieldError) Unwrap() error { return ErrConfig }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Problem: fmt.Sprintf(format, args...)}
}

var pinPattern = regexp.MustCompile(`^[0-9]+$`)

// Validate checks every field and returns the first problem, naming its TOML key.
func (c Config) Validate() error {
	if strings.TrimSpace(c.LabName) == "" {
		return fieldErr("lab_name", "must not be empty")
	}
	if c.LogoPath != "" {
		if st, err := os.Stat(c.LogoPath); err != nil {
			return fieldErr("logo_path", "cannot read %q: %v", c.LogoPath, err)
		} else if st.IsDir() {
			return fieldErr("logo_path", "%q is a directory, not an image file", c.LogoPath)
		}
	}
	if _, err := parseHexColor(c.PrimaryColor); err != nil {
		return fieldErr("primary_color", "%v", err)
	}
	if _, err := parseHexColor(c.AccentColor); err != nil {
		return fieldErr("accent_color", "%v", err)
	}
	switch c.Language {
	case "", "en", "de":
	default:
		return fieldErr("language", "%q is not supported (use \"en\", \"de\" or \"\" for the system locale)", c.Language)
	}
	for _, lang := range slices.Sorted(maps.Keys(c.ConsentTexts)) { // the same problem first every time
		if _, ok := catalogue[lang]; !ok {
			return fieldErr("consent_texts", "%q is not a supported language (use \"en\" or \"de\")", lang)
		}
		if strings.TrimSpace(c.ConsentTexts[lang]) == "" {
			return fieldErr("consent_texts", "the %q text is blank (leave the key out to use consent_text or the default)", lang)
		}
	}
	switch c.EndAction {
	case EndStay, EndQuit:
	case EndURL:
		if _, err := BuildEndURL(c.EndURL, "seat", "session", "pseudonym"); err != nil {
			return fieldErr("end_url", "%v", err)
		}
	default:
		return fieldErr("end_action", "%q is not one of \"stay\", \"quit\", \"url\"", c.EndAction)
	}
	if c.EndActionDelay < 0 {
		return fieldErr("end_action_delay", "must not be negative")
	}
	if _, err := ParseShortcut(c.ExitKeys); err != nil {
		return fieldErr("exit_keys", "%v", err)
	}
	if c.ExitPIN != "" && CheckPINFormat(c.ExitPIN) != nil {
		return fieldErr("exit_pin", "must be %d to %d digits", MinPINDigits, MaxPINDigits)
	}
	if c.ExitPINHash != "" {
		if _, err := parsePINHash(c.ExitPINHash); err != nil {
			return fieldErr("exit_pin_hash", "%v", err)
		}
	}
	return nil
}

// consentText is the lab's consent text for lang: its ConsentTexts entry,
// else ConsentText; "" when the lab gave none (the screen then shows the
// catalogue's).
func (c Config) consentText(lang string) string {
	if t := c.ConsentTexts[lang]; strings.TrimSpace(t) != "" {
		return t
	}
	if strings.TrimSpace(c.ConsentText) != "" {
		return c.ConsentText
	}
	return ""
}

// parseHexColor parses "#rgb" or "#rrggbb".
func parseHexColor(s string) (color.NRGBA, error) {
	h := strings.TrimPrefix(strings.TrimSpace(s), "#")
	if !strings.HasPrefix(strings.TrimSpace(s), "#") || (len(h) != 3 && len(h) != 6) {
		return color.NRGBA{}, fmt.Errorf("%q is not a colour like \"#1f5fa8\" or \"#15a\"", s)
	}
	if len(h) == 3 {
		h = string([]byte{h[0], h[0], h[1], h[1], h[2], h[2]})
	}
	var v [3]uint8
	for i := range v {
		var b uint8
		if _, err := fmt.Sscanf(h[2*i:2*i+2], "%02x", &b); err != nil {
			return color.NRGBA{}, fmt.Errorf("%q is not a colour like \"#1f5fa8\" or \"#15a\"", s)
		}
		v[i] = b
	}
	return color.NRGBA{R: v[0], G: v[1], B: v[2], A: 0xff}, nil
}

var placeholderPattern = regexp.MustCompile(`\{[^{}]*\}`)

// BuildEndURL fills {seat}, {session} and {pseudonym} in tmpl with the
// URL-escaped values (safe in a path segment and in a query value) and checks
// that the result is an absolute http(s) URL with no unknown placeholders.
func BuildEndURL(tmpl, seat, session, pseudonym string) (*url.URL, error) {
	if strings.TrimSpace(tmpl) == "" {
		return nil, errors.New("must be set when end_action is \"url\"")
	}
	if bad := placeholderPattern.FindAllString(strings.NewReplacer("{seat}", "", "{session}", "", "{pseudonym}", "").Replace(tmpl), -1); len(bad) > 0 {
		return nil, fmt.Errorf("unknown placeholder %s (use {seat}, {session}, {pseudonym})", bad[0])
	}
	s := strings.NewReplacer(
		"{seat}", escapeValue(seat),
		"{session}", escapeValue(session),
		"{pseudonym}", escapeValue(pseudonym),
	).Replace(tmpl)
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("not a URL: %v", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("%q must start with http:// or https://", tmpl)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("%q has no host", tmpl)
	}
	return u, nil
}

// escapeValue escapes everything but unreserved characters; spaces become %20
// so the value reads the same in a path and in a query.
func escapeValue(v string) string {
	return strings.ReplaceAll(url.QueryEscape(v), "+", "%20")
}

var modifierNames = map[string]fyne.KeyModifier{
	"ctrl": fyne.KeyModifierControl, "control": fyne.KeyModifierControl,
	"alt": fyne.KeyModifierAlt, "shift": fyne.KeyModifierShift,
	"super": fyne.KeyModifierSuper, "meta": fyne.KeyModifierSuper, "win": fyne.KeyModifierSuper,
}

var namedKeys = map[string]fyne.KeyName{
	"escape": fyne.KeyEscape, "esc": fyne.KeyEscape, "delete": fyne.KeyDelete,
	"insert": fyne.KeyInsert, "home": fyne.KeyHome, "end": fyne.KeyEnd,
}

// ParseShortcut parses a key combination such as "Ctrl+Alt+Q" into the
// shortcut Fyne reports for it. It needs at least one modifier other than Shift.
func ParseShortcut(s string) (*desktop.CustomShortcut, error) {
	parts := strings.Split(strings.TrimSpace(s), "+")
	if len(parts) < 2 {
		return nil, fmt.Errorf("%q: want modifiers and a key, like \"Ctrl+Alt+Q\"", s)
	}
	var mod fyne.KeyModifier
	for _, p := range parts[:len(parts)-1] {
		m, ok := modifierNames[strings.ToLower(strings.TrimSpace(p))]
		if !ok {
			return nil, fmt.Errorf("%q: unknown modifier %q (use Ctrl, Alt, Shift, Super)", s, p)
		}
		mod |= m
	}
	if mod&^fyne.KeyModifierShift == 0 {
		return nil, fmt.Errorf("%q: needs Ctrl, Alt or Super", s)
	}
	k := strings.TrimSpace(parts[len(parts)-1])
	var key fyne.KeyName
	switch {
	case len(k) == 1 && (k[0] >= 'a' && k[0] <= 'z' || k[0] >= 'A' && k[0] <= 'Z' || k[0] >= '0' && k[0] <= '9'):
		key = fyne.KeyName(strings.ToUpper(k))
	case len(k) >= 2 && (k[0] == 'F' || k[0] == 'f'):
		var n int
		if _, err := fmt.Sscanf(k[1:], "%d", &n); err != nil || n < 1 || n > 12 || fmt.Sprint(n) != k[1:] {
			return nil, fmt.Errorf("%q: unknown key %q", s, k)
		}
		key = fyne.KeyName(fmt.Sprintf("F%d", n))
	default:
		named, ok := namedKeys[strings.ToLower(k)]
		if !ok {
			return nil, fmt.Errorf("%q: unknown key %q", s, k)
		}
		key = named
	}
	return &desktop.CustomShortcut{KeyName: key, Modifier: mod}, nil
}
