package cli

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/user"
	"sync"
	"time"

	"fyne.io/fyne/v2"

	"github.com/parley-lab/parley/media/kit"
	"github.com/parley-lab/parley/media/local"
	"github.com/parley-lab/parley/media/sched"
	"github.com/parley-lab/parley/signaling/client"
	"github.com/parley-lab/parley/signaling/participant/engine"
	"github.com/parley-lab/parley/ui"
)

// NewApp makes the Fyne application. The main package sets it: only main
// links Fyne's desktop driver, so every other package stays testable
// headless.
var NewApp func() fyne.App

// kioskFlags are the flags that override kiosk.toml.
type kioskFlags struct {
	config                   string
	kiosk, window, autostart bool
	server, room, seat       string
	video, audio             string
	camera, microphone       string
	speaker                  string
	size                     string
	fps                      int
	tone                     float64
}

func (f *kioskFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.config, "config", DefaultKioskConfig, "kiosk config file (TOML)")
	fs.BoolVar(&f.kiosk, "kiosk", false, "fullscreen kiosk mode (the default unless the config says kiosk = false)")
	fs.BoolVar(&f.window, "window", false, "run in a normal window, not fullscreen (for trying things out)")
	fs.BoolVar(&f.autostart, "autostart", false, "started by the desktop's autostart: run only for members of the group "+KioskGroup)
	fs.StringVar(&f.server, "server-url", "", "rendezvous server websocket URL (default from the config, "+DefaultServerURL+")")
	fs.StringVar(&f.room, "room", "", "room (default from the config)")
	fs.StringVar(&f.seat, "seat", "", "seat label (default from the config, else the host name)")
	fs.StringVar(&f.video, "video-source", "", "camera, test or none")
	fs.StringVar(&f.audio, "audio-source", "", "microphone, test or none")
	fs.StringVar(&f.camera, "camera", "", "camera label (substring) to use")
	fs.StringVar(&f.microphone, "microphone", "", "microphone to use: part of its label or name, any case (default: the system's)")
	fs.StringVar(&f.speaker, "speaker", "", "speaker to use: part of its label or name, any case (default: the system's)")
	fs.StringVar(&f.size, "video-size", "", "video size WxH, e.g. 640x480")
	fs.IntVar(&f.fps, "fps", 0, "video frames per second")
	fs.Float64Var(&f.tone, "tone-hz", 0, "frequency of the test audio source's tone")
}

// apply merges the flags over the file's settings.
func (f *kioskFlags) apply(c *KioskConfig) error {
	if f.size != "" {
		if _, err := fmt.Sscanf(f.size, "%dx%d", &c.Width, &c.Height); err != nil {
			return fmt.Errorf("%w: --video-size %q: want WIDTHxHEIGHT like 640x480", ErrUsage, f.size)
		}
	}
	if f.fps != 0 {
		c.FPS = f.fps
	}
	if f.tone != 0 {
		c.ToneHz = f.tone
	}
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&c.Server, f.server)
	set(&c.Room, f.room)
	set(&c.Seat, f.seat)
	set(&c.VideoSource, f.video)
	set(&c.AudioSource, f.audio)
	set(&c.Camera, f.camera)
	set(&c.Microphone, f.microphone)
	set(&c.Speaker, f.speaker)
	if f.kiosk {
		c.UI.Kiosk = true
	}
	if f.window {
		c.UI.Kiosk = false
	}
	return nil
}

// Kiosk environment variables, between kiosk.toml and the flags in precedence.
const (
	EnvKioskConfig = "PARLEY_KIOSK_CONFIG"
	EnvServerURL   = "PARLEY_SERVER_URL"
	EnvRoom        = "PARLEY_ROOM"
	EnvSeat        = "PARLEY_SEAT"
)

// applyKioskEnv overrides the file's settings with the environment.
func applyKioskEnv(env Env, c *KioskConfig) {
	for name, dst := range map[string]*string{EnvServerURL: &c.Server, EnvRoom: &c.Room, EnvSeat: &c.Seat} {
		if v := env.Getenv(name); v != "" {
			*dst = v
		}
	}
}

// inGroup reports whether the current user belongs to group name.
func inGroup(name string) bool {
	u, err := user.Current()
	if err != nil {
		return false
	}
	g, err := user.LookupGroup(name)
	if err != nil {
		return false
	}
	ids, err := u.GroupIds()
	if err != nil {
		return false
	}
	for _, id := range ids {
		if id == g.Gid {
			return true
		}
	}
	return false
}

// RediscoverCameras looks for cameras anew (set by the main package, which
// links the camera driver).
var RediscoverCameras func()

func kitOptions(c KioskConfig, log *slog.Logger) kit.Options {
	return kit.Options{VideoSource: c.VideoSource, AudioSource: c.AudioSource, Camera: c.Camera, Microphone: c.Microphone, Speaker: c.Speaker,
		Width: c.Width, Height: c.Height, FPS: c.FPS, VideoBitrate: c.VideoBitrate, ToneHz: c.ToneHz, PlayAudio: true, Log: log,
		// A missing microphone is said on screen ("please tell the
		// experimenter") rather than a kiosk that does not start.
		MicrophoneOptional: true, CameraOptional: true, Rediscover: RediscoverCameras}
}

// audioProcs gives the kiosk and the self-test sched.SpareProcs more Go
// processors than CPUs, so the sound threads find a free one at once.
func audioProcs() { sched.AudioProcs() }

func runKiosk(env Env, args []string) error {
	audioProcs()
	fs := flag.NewFlagSet("parley", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	var f kioskFlags
	f.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unknown command %q", ErrUsage, fs.Arg(0))
	}
	if f.autostart && !inGroup(KioskGroup) {
		return nil // the system-wide autostart entry is for the kiosk user only
	}
	set := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	path, optional := f.config, !set["config"]
	if v := env.Getenv(EnvKioskConfig); v != "" && !set["config"] {
		path, optional = v, false
	}
	cfg, err := loadKioskConfig(path, optional)
	if err != nil {
		return err
	}
	applyKioskEnv(env, &cfg)
	if err := f.apply(&cfg); err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	log := slog.New(slog.NewTextHandler(env.Stderr, nil))
	// SIGTERM and SIGINT leave as the exit keys do, but keep the token: a
	// kiosk stopped mid-session by the lab's IT rejoins when started again.
	// Before the window runs (devices opening, the server connecting) they
	// stop the start-up instead.
	var (
		mu       sync.Mutex
		running  fyne.App
		stopping = make(chan struct{})
		stopOnce sync.Once
	)
	stopSignals := onStopSignal(log, func(os.Signal) {
		stopOnce.Do(func() { close(stopping) })
		mu.Lock()
		a := running
		mu.Unlock()
		if a != nil {
			fyne.Do(a.Quit)
		}
	})
	defer stopSignals()
	stopped := func() bool {
		select {
		case <-stopping:
			return true
		default:
			return false
		}
	}
	p, err := local.Open(kitOptions(cfg, log), engine.Config{
		Session: client.SessionConfig{URL: cfg.Server, Room: cfg.Room, Seat: cfg.Seat, Client: "parley/" + Version, StateFile: cfg.StatePath()},
		Log:     log,
	}, cfg.RecordingsPath())
	if errors.Is(err, client.ErrStateInUse) {
		return fmt.Errorf("%w\nAnother kiosk on this machine runs with the same server (%s), room (%s) and seat (%q). "+
			"Give each kiosk its own seat: seat = \"...\" in %s, --seat or %s (or its own state_file)", err, cfg.Server, cfg.Room, cfg.Seat, path, EnvSeat)
	}
	if err != nil {
		return err
	}
	eng := p.Engine
	if NewApp == nil {
		return fmt.Errorf("this build has no desktop driver")
	}
	a := NewApp()
	mu.Lock()
	running = a // from here a signal quits the app (queued until it runs)
	mu.Unlock()
	if stopped() {
		p.Close()
		return nil
	}
	w := newWindow(a, cfg.UI.LabName)
	if !cfg.UI.Kiosk {
		w.Resize(fyne.NewSize(1280, 720))
	}
	ui.New(a, w, eng, cfg.UI).ShowAndRun()
	// Keeps the token if the discussion has not ended (Leave already ran
	// otherwise).
	closeWithin(p.Close, KioskCloseLimit, log)
	return nil
}

// KioskCloseLimit bounds closing the participant once the kiosk's window
// has closed: the engine (its state file is saved first), the media and
// the recorder (which cancels an upload under way: what is not uploaded
// stays on disk and goes at the next start). After the exit keys or
// end_action = "quit" the engine has left already (within ui.LeaveLimit),
// so the kiosk is gone within ui.LeaveLimit + recording.StopLimit; a
// close that takes longer than this is left to the process's exit.
const KioskCloseLimit = 2 * time.Second

// closeWithin runs closeFn and returns when it has (true), or after limit
// (false).
func closeWithin(closeFn func(), limit time.Duration, log *slog.Logger) bool {
	done := make(chan struct{})
	go func() { defer close(done); closeFn() }()
	t := time.NewTimer(limit)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		log.Warn("closing the media and the recorder took too long; exiting anyway", "limit", limit)
		return false
	}
}
