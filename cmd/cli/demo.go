package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"image"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"fyne.io/fyne/v2"

	"github.com/parley-lab/parley/media/bench"
	"github.com/parley-lab/parley/media/kit"
	"github.com/parley-lab/parley/media/local"
	"github.com/parley-lab/parley/media/recording"
	"github.com/parley-lab/parley/signaling/client"
	"github.com/parley-lab/parley/signaling/participant"
	"github.com/parley-lab/parley/signaling/participant/engine"
	"github.com/parley-lab/parley/signaling/protocol"
	"github.com/parley-lab/parley/signaling/server"
	"github.com/parley-lab/parley/ui"
)

// Demo defaults.
const (
	demoDuration     = 120 * time.Second
	demoAutoDuration = 20 * time.Second
	// demoAreasAt is when, after the call connects, the unattended demo
	// reports where the videos are drawn.
	demoAreasAt = time.Second
	// demoUploadWait bounds the wait for the recordings at the end.
	demoUploadWait = 30 * time.Second
	// demoReadConsent is how long the unattended demo shows the consent
	// screen before agreeing (a screenshot can catch it).
	demoReadConsent = 500 * time.Millisecond
	// DemoWindowWidth and DemoWindowHeight are each demo window's size.
	DemoWindowWidth, DemoWindowHeight = 960, 540
)

func init() {
	Register("demo", "the whole flow on this machine: a server and two kiosk windows", runDemo)
}

type demoSide struct {
	name string
	kit  *kit.Kit
	eng  *engine.Engine
	rec  *recording.Recorder
	win  fyne.Window
	k    *ui.Kiosk
}

func runDemo(env Env, args []string) error {
	fs := flag.NewFlagSet("parley demo", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	auto := fs.Bool("auto", false, "unattended: fill in pseudonyms, skip the device check, short discussion, quit at the end")
	dur := fs.Duration("duration", 0, "discussion length (default 2m, 20s with --auto)")
	testOnly := fs.Bool("test-sources", false, "use test sources for both windows even if a camera is present")
	record := fs.String("record", protocol.RecordAudioVideo, "record the discussion: off, audio or audio_video (each kiosk asks for consent first)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch *record {
	case protocol.RecordOff, protocol.RecordAudio, protocol.RecordAudioVideo:
	default:
		return fmt.Errorf("%w: --record %q: want off, audio or audio_video", ErrUsage, *record)
	}
	if *dur == 0 {
		*dur = demoDuration
		if *auto {
			*dur = demoAutoDuration
		}
	}
	if NewApp == nil {
		return errors.New("this build has no desktop driver")
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	dir, err := os.MkdirTemp("", "parley-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	srv, err := server.Start(server.Config{DataDir: filepath.Join(dir, "server"), Listen: "127.0.0.1:0",
		Rooms: []server.Room{{Name: "demo", AutoSession: true, Defaults: server.SessionSettings{
			DurationS: int(dur.Seconds()), AllowMuteAudio: true, AllowMuteVideo: true, SessionChat: false, Record: *record}}}},
		server.WithLogger(log))
	if err != nil {
		return err
	}
	defer srv.Close()
	fmt.Fprintf(env.Stdout, "parley demo: server on %s (data in %s), discussion %v\n", srv.Addr(), dir, *dur)

	a := NewApp()
	sides := make([]*demoSide, 2)
	for i := range sides {
		opts := kit.Options{VideoSource: SourceTest, AudioSource: SourceTest, ToneHz: kit.DefaultToneHz * float64(i+1),
			PlayAudio: true, LoopbackCandidates: true, Log: log, Label: fmt.Sprintf("Demo %d", i+1)}
		if i == 0 && !*auto && !*testOnly {
			opts.VideoSource, opts.AudioSource, opts.FallbackToTest = SourceCamera, SourceMicrophone, true
		}
		p, err := local.Open(opts, engine.Config{
			Session: client.SessionConfig{URL: srv.URL(), Room: "demo", Seat: fmt.Sprintf("demo-%d", i+1),
				Client: "parley-demo/" + Version, StateFile: filepath.Join(dir, fmt.Sprintf("kiosk-%d.json", i+1))},
			Log: log,
		}, filepath.Join(dir, fmt.Sprintf("recordings-%d", i+1)))
		if err != nil {
			return err
		}
		k, eng := p.Kit, p.Engine
		win, kiosk := windowedKiosk(a, eng, fmt.Sprintf("Parley demo: participant %d", i+1), !*auto)
		sides[i] = &demoSide{name: []string{"Alex", "Sam"}[i], kit: k, eng: eng, rec: p.Recorder, win: win, k: kiosk}
		defer p.Close()
	}
	for _, s := range sides {
		s.k.Start()
		s.win.Show()
	}
	var verdict error
	var once sync.Once
	quit := func(err error) {
		once.Do(func() {
			verdict = err
			fyne.Do(a.Quit)
		})
	}
	if *auto {
		go func() { quit(errors.Join(demoAutoRun(env, sides, *dur), demoRecordings(env, srv, sides))) }()
	} else {
		// The demo ends when both windows are closed.
		open := len(sides)
		for _, s := range sides {
			s.win.SetOnClosed(func() {
				s.eng.Leave()
				open--
				if open == 0 {
					a.Quit()
				}
			})
		}
	}
	a.Run()
	for _, s := range sides {
		s.k.Close()
	}
	if !*auto {
		demoRecordings(env, srv, sides)
	}
	return verdict
}

// demoRecordings waits (a little) for both kiosks' uploads and lists what
// the server holds: one line per segment, as a lab would find it.
func demoRecordings(env Env, srv *server.Server, sides []*demoSide) error {
	recs, err := srv.Store().Recordings("")
	if err != nil || len(recs) == 0 {
		return err
	}
	var errs []error
	for _, s := range sides {
		// The recorder's own count: the engine may have stopped (the window closed).
		deadline := time.Now().Add(demoUploadWait)
		for s.rec.Pending() > 0 && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		if n := s.rec.Pending(); n > 0 {
			errs = append(errs, fmt.Errorf("%s: %d recording segments not uploaded within %v", s.name, n, demoUploadWait))
		}
	}
	if recs, err = srv.Store().Recordings(""); err != nil {
		return err
	}
	for _, r := range recs {
		state := "uploading"
		if r.CompleteMS != 0 {
			state = "uploaded, checksum confirmed"
		}
		fmt.Fprintf(env.Stdout, "RECORDING participant=%s seq=%d codecs=%s duration_s=%.1f bytes=%d state=%q\n",
			r.Participant, r.Seq, strings.Join(r.Codecs, "+"), float64(r.EndMS-r.StartMS)/1000, r.Size, state)
	}
	return errors.Join(errs...)
}

// demoAutoRun plays both participants: join, talk (a chat message each
// way), the end. It prints where each window draws its videos, so a script
// can screenshot the screen and check that both move (.ci/window-test.sh).
func demoAutoRun(env Env, sides []*demoSide, dur time.Duration) error {
	// Capture to screen: each partner frame's stamp, read where the kiosk
	// hands the frame to the canvas.
	shown := make([]*bench.Shown, len(sides))
	for i, s := range sides {
		shown[i] = &bench.Shown{}
		s.k.OnPartnerFrameShown(shown[i].Frame)
	}
	time.Sleep(500 * time.Millisecond) // let the windows appear: a person would read the welcome first
	for _, s := range sides {
		s.eng.Join(s.name)
	}
	// A person reads the consent screen (when the session records) and agrees.
	for _, s := range sides {
		if !participant.Wait(context.Background(), s.eng, 30*time.Second, func(st participant.State) bool { return st.Phase >= participant.PhaseWaiting }) {
			return fmt.Errorf("%s: not joined within 30 s", s.name)
		}
		if st := s.eng.State(); st.Record != "" && st.Record != protocol.RecordOff {
			time.Sleep(demoReadConsent)
			s.eng.Consent(true, "en")
		}
	}
	for _, s := range sides {
		if !participant.Wait(context.Background(), s.eng, 30*time.Second, func(st participant.State) bool { return st.MediaConnected && !st.Deadline.IsZero() }) {
			return fmt.Errorf("%s: the call did not connect within 30 s (state %v)", s.name, s.eng.State().Phase)
		}
	}
	fmt.Fprintln(env.Stdout, "parley demo: both participants are in the call")
	sides[0].eng.SendChat("group", "Hello Sam! Shall we start?")
	sides[1].eng.SendChat("group", "Hi Alex, yes, let's go.")
	time.Sleep(demoAreasAt) // the layout has settled
	for i, s := range sides {
		var remote, self image.Rectangle
		fyne.DoAndWait(func() { remote, self = s.k.VideoAreas() })
		fmt.Fprintf(env.Stdout, "VIDEO-AREAS window=%d remote=%d,%d,%d,%d self=%d,%d,%d,%d\n", i+1,
			remote.Min.X, remote.Min.Y, remote.Max.X, remote.Max.Y, self.Min.X, self.Min.Y, self.Max.X, self.Max.Y)
	}
	var err error
	for _, r := range shown {
		r.Restart() // from here on: past the set-up
	}
	cpu0, t0 := bench.CPUSeconds(), time.Now()
	time.Sleep(time.Until(sides[0].eng.State().Deadline) - demoAreasAt)
	cpu := (bench.CPUSeconds() - cpu0) / time.Since(t0).Seconds()
	for i, r := range shown {
		d := bench.Summarise(r.Samples())
		fmt.Fprintf(env.Stdout, "SCREEN-LATENCY window=%d n=%d p50_ms=%.1f p95_ms=%.1f max_ms=%.1f\n", i+1, d.N, d.P50, d.P95, d.Max)
	}
	fmt.Fprintf(env.Stdout, "CPU-WITH-UI cores=%.3f (this process: two kiosks with their windows, server)\n", cpu)
	for _, s := range sides {
		if !participant.Wait(context.Background(), s.eng, dur+30*time.Second, func(st participant.State) bool { return st.Phase == participant.PhaseEnded }) {
			return errors.Join(err, fmt.Errorf("%s: the discussion did not end", s.name))
		}
	}
	time.Sleep(time.Second) // the end screen is drawn
	for i, s := range sides {
		var screen string
		fyne.DoAndWait(func() { screen = s.k.Screen() })
		if screen != "ended" {
			err = errors.Join(err, fmt.Errorf("window %d shows %q at the end, not the end screen", i+1, screen))
		}
		fmt.Fprintf(env.Stdout, "parley demo: window %d reached the %q screen\n", i+1, screen)
	}
	return err
}
