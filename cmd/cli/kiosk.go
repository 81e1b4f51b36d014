package cli

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/parley-lab/parley/media/kit"
	"github.com/parley-lab/parley/ui"
)

// Kiosk defaults.
const (
	// DefaultKioskConfig is where a workstation keeps its kiosk settings.
	DefaultKioskConfig = "/etc/parley/kiosk.toml"
	// DefaultServerURL suits the demo and a server on the same machine.
	DefaultServerURL = "ws://127.0.0.1:8480/ws"
	// KioskGroup: with --autostart the kiosk runs only for members of this
	// group, so one system-wide autostart entry serves the kiosk user alone.
	KioskGroup = "parley-kiosk"
)

// Media source names: the kit's (one home for them).
const (
	SourceCamera     = kit.SourceCamera
	SourceMicrophone = kit.SourceMicrophone
	SourceTest       = kit.SourceTest
	SourceNone       = kit.SourceNone
)

// KioskConfig is kiosk.toml's shape.
type KioskConfig struct {
	// Server is the rendezvous server's websocket URL.
	Server string `toml:"server"`
	Room   string `toml:"room"`
	// Seat labels this workstation; default: the host name.
	Seat string `toml:"seat"`
	// VideoSource is camera, test or none; AudioSource microphone, test or none.
	VideoSource string `toml:"video_source"`
	AudioSource string `toml:"audio_source"`
	// Camera, Microphone and Speaker pick a device by a part of its label
	// or name, in any case (`parley devices` lists them); empty: the first
	// camera, the system's default microphone (never a monitor of an
	// output) and speaker.
	Camera     string `toml:"camera"`
	Microphone string `toml:"microphone"`
	Speaker    string `toml:"speaker"`
	// Width, Height and FPS of the video sent (cameras give the nearest
	// they support); VideoBitrate in bit/s; ToneHz for the test audio source.
	Width        int     `toml:"width"`
	Height       int     `toml:"height"`
	FPS          int     `toml:"fps"`
	VideoBitrate int     `toml:"video_bitrate"`
	ToneHz       float64 `toml:"tone_hz"`
	// StateFile keeps the resume token; empty: StatePath's default, one file
	// per server, room and seat in the user's state directory.
	StateFile string `toml:"state_file"`
	// RecordingsDir keeps this workstation's recordings until the server
	// has them; empty: RecordingsPath's default in the user's data directory.
	RecordingsDir string `toml:"recordings_dir"`
	// UI is the [ui] table: texts, colours, language, end action, exit PIN.
	UI ui.Config `toml:"ui"`
}

// DefaultKioskConfigValues returns the kiosk defaults.
func DefaultKioskConfigValues() KioskConfig {
	host, _ := os.Hostname()
	return KioskConfig{Server: DefaultServerURL, Room: "lab", Seat: host, VideoSource: SourceCamera,
		AudioSource: SourceMicrophone, Width: kit.DefaultWidth, Height: kit.DefaultHeight, FPS: kit.DefaultFPS,
		VideoBitrate: kit.DefaultVideoBitrate, ToneHz: kit.DefaultToneHz, UI: ui.DefaultConfig()}
}

// StatePath is the kiosk's state file: StateFile if set, else one named
// after the server, room and seat, so two kiosks under one account (or a
// network home directory) never take each other's place.
func (c KioskConfig) StatePath() string {
	if c.StateFile != "" {
		return c.StateFile
	}
	dir := xdgDir("XDG_STATE_HOME", ".local", "state")
	sum := sha256.Sum256([]byte(c.Server + "\x00" + c.Room + "\x00" + c.Seat))
	return filepath.Join(dir, "parley", "kiosk-"+hex.EncodeToString(sum[:6])+".json")
}

// RecordingsPath is where the kiosk keeps recordings until they are
// uploaded: RecordingsDir if set, else $XDG_DATA_HOME/parley/recordings
// (~/.local/share/parley/recordings).
func (c KioskConfig) RecordingsPath() string {
	if c.RecordingsDir != "" {
		return c.RecordingsDir
	}
	return filepath.Join(xdgDir("XDG_DATA_HOME", ".local", "share"), "parley", "recordings")
}

// xdgDir is the XDG base directory named by env, or its default under the
// home directory (the temporary directory without a home).
func xdgDir(env string, underHome ...string) string {
	if dir := os.Getenv(env); dir != "" {
		return dir
	}
	home, err := os.UserHomeDir()
	if err != nil {
		home = os.TempDir()
	}
	return filepath.Join(append([]string{home}, underHome...)...)
}

// ErrKioskConfig wraps kiosk configuration errors; the message names the key.
var ErrKioskConfig = errors.New("kiosk config")

// Validate checks the kiosk settings and names the wrong key.
func (k KioskConfig) Validate() error {
	u, err := url.Parse(k.Server)
	if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
		return fmt.Errorf("%w: server: %q is not a ws:// or wss:// URL like %q", ErrKioskConfig, k.Server, DefaultServerURL)
	}
	if strings.TrimSpace(k.Room) == "" {
		return fmt.Errorf("%w: room: must not be empty", ErrKioskConfig)
	}
	if strings.TrimSpace(k.Seat) == "" {
		return fmt.Errorf("%w: seat: must not be empty (default: the host name)", ErrKioskConfig)
	}
	switch k.VideoSource {
	case SourceCamera, SourceTest, SourceNone:
	default:
		return fmt.Errorf("%w: video_source: %q is not camera, test or none", ErrKioskConfig, k.VideoSource)
	}
	switch k.AudioSource {
	case SourceMicrophone, SourceTest, SourceNone:
	default:
		return fmt.Errorf("%w: audio_source: %q is not microphone, test or none", ErrKioskConfig, k.AudioSource)
	}
	if k.Width < 160 || k.Width > 1920 || k.Height < 120 || k.Height > 1080 || k.Width%2 != 0 || k.Height%2 != 0 {
		return fmt.Errorf("%w: width, height: %dx%d is not an even size from 160x120 to 1920x1080", ErrKioskConfig, k.Width, k.Height)
	}
	if k.FPS < 1 || k.FPS > 60 {
		return fmt.Errorf("%w: fps: %d is not 1 to 60", ErrKioskConfig, k.FPS)
	}
	if k.VideoBitrate < 50_000 || k.VideoBitrate > 20_000_000 {
		return fmt.Errorf("%w: video_bitrate: %d is not 50000 to 20000000 bit/s", ErrKioskConfig, k.VideoBitrate)
	}
	if k.ToneHz < 50 || k.ToneHz > 8000 {
		return fmt.Errorf("%w: tone_hz: %v is not 50 to 8000", ErrKioskConfig, k.ToneHz)
	}
	if err := k.UI.Validate(); err != nil {
		return fmt.Errorf("ui.%w", err)
	}
	return nil
}

// loadKioskConfig reads a kiosk file over the defaults; optional: a missing
// file is no error.
func loadKioskConfig(path string, optional bool) (KioskConfig, error) {
	cfg := DefaultKioskConfigValues()
	b, err := os.ReadFile(path)
	if err != nil {
		if optional && errors.Is(err, os.ErrNotExist) {
			return cfg, nil
		}
		return cfg, fmt.Errorf("%w: %v", ErrConfigFile, err)
	}
	if err := decodeTOMLStrict(path, b, &cfg); err != nil {
		return cfg, withUIHint(err, b)
	}
	return cfg, nil
}

// withUIHint adds to an unknown top-level key error the hint that the key
// belongs in the [ui] table, when it does.
func withUIHint(err error, b []byte) error {
	var top map[string]any
	if toml.Unmarshal(b, &top) != nil {
		return err
	}
	uiKeys := map[string]bool{}
	for _, k := range uiConfigKeys() {
		uiKeys[k] = true
	}
	for k := range top {
		if k != "ui" && uiKeys[k] && strings.Contains(err.Error(), fmt.Sprintf("%q", k)) {
			return fmt.Errorf("%w (%q belongs in the [ui] table: put it under a line [ui])", err, k)
		}
	}
	return err
}

// uiConfigKeys are the keys of the [ui] table, from ui.Config's tags.
func uiConfigKeys() []string {
	var keys []string
	t := reflect.TypeOf(ui.Config{})
	for i := range t.NumField() {
		if tag, _, _ := strings.Cut(t.Field(i).Tag.Get("toml"), ","); tag != "" && tag != "-" {
			keys = append(keys, tag)
		}
	}
	return keys
}

// checkKiosk validates a kiosk config file (parley config check --kiosk).
func checkKiosk(path string) error {
	cfg, err := loadKioskConfig(path, false)
	if err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := cfg.UI.CheckForInstall(); err != nil {
		return fmt.Errorf("%s: ui.%w", path, err)
	}
	return nil
}
