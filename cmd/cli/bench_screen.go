package cli

// bench_screen.go: the on-screen part's table, and a participant process
// with its kiosk in a window (media/bench runs two and compares them with
// Chromium's page).

import (
	"errors"
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	"fyne.io/fyne/v2"

	"github.com/parley-lab/parley/media/bench"
	"github.com/parley-lab/parley/signaling/participant/engine"
)

func printScreen(w io.Writer, r *bench.ScreenResult) {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "on screen (%s, windows %s)\tParley\tChromium\tParley / Chromium\t\n", r.Display, r.Window)
	cpu := 0.0
	for _, u := range r.Parley {
		cpu += u.CPUPerSecond / float64(len(r.Parley))
	}
	row := func(name string, p, c float64, digits int) {
		if r.Chromium == nil {
			fmt.Fprintf(tw, "%s\t%.*f\t-\t-\t\n", name, digits, p)
			return
		}
		fmt.Fprintf(tw, "%s\t%.*f\t%.*f\t%.2f\t\n", name, digits, p, digits, c, p/c)
	}
	var c bench.BrowserResult
	if r.Chromium != nil {
		c = *r.Chromium
	}
	row("capture to shown p50 ms", r.Shown.P50, c.Video.P50, 1)
	row("capture to shown p95 ms", r.Shown.P95, c.Video.P95, 1)
	// A kiosk encodes its camera, decodes its partner's and draws both; the
	// page holds the whole two-way call (two encodes, two decodes, both
	// partners' pictures and the camera's), so half of it is one participant.
	row("CPU per participant, with rendering, cores", cpu, c.CPU/2, 3)
	fps := 0.0
	for _, u := range r.Parley {
		if u.Seconds > 0 {
			fps += float64(u.Decoded) / u.Seconds / float64(len(r.Parley))
		}
	}
	cfps, size := 0.0, "-"
	for _, s := range c.Received {
		cfps += s.FPS / float64(len(c.Received))
		size = fmt.Sprintf("%dx%d", s.Width, s.Height)
	}
	row("partner video decoded, frames per second", fps, cfps, 1)
	fmt.Fprintf(tw, "partner video size received\t%s\t%s\t\t\n", "640x480", size)
	tw.Flush()
}

// measureWithUI shows the kiosk for eng in a window and runs measure while
// it is on screen, adding each partner frame's capture-to-shown time.
func measureWithUI(eng *engine.Engine, seat string, measure func() bench.ParticipantUsage) (bench.ParticipantUsage, error) {
	if NewApp == nil {
		return bench.ParticipantUsage{}, errors.New("this build has no desktop driver")
	}
	if os.Getenv("DISPLAY") == "" {
		return bench.ParticipantUsage{}, bench.ErrNoDisplay
	}
	a := NewApp()
	win, k := windowedKiosk(a, eng, "Parley bench: "+seat, false)
	shown := &bench.Shown{}
	k.OnPartnerFrameShown(shown.Frame)
	var u bench.ParticipantUsage
	var err error
	go func() {
		defer fyne.Do(a.Quit)
		if err = bench.WaitCall(eng); err != nil {
			return
		}
		shown.Restart()
		u = measure()
		u.ShownMS = shown.ShownMS()
	}()
	k.Start()
	win.Show()
	eng.Join(seat)
	a.Run()
	k.Close()
	return u, err
}
