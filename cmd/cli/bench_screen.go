package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"fyne.io/fyne/v2"

	"github.com/parley-lab/parley/media/bench"
	"github.com/parley-lab/parley/media/kit"
	"github.com/parley-lab/parley/signaling/participant"
	"github.com/parley-lab/parley/signaling/participant/engine"
)

// benchScreenTime is how long each side of the on-screen comparison is measured.
const benchScreenTime = 20 * time.Second

// ErrNoDisplay means the on-screen comparison has no X display to draw on.
var ErrNoDisplay = errors.New("no X display ($DISPLAY is empty; packaging/dev.sh bench starts a virtual one)")

// ScreenResult is the call with the picture on screen: two kiosk processes,
// each drawing its window, then Chromium's page in a window of the same size
// on the same display.
type ScreenResult struct {
	Display  string               `json:"display"`
	Window   string               `json:"window"`
	Parley   []ParticipantUsage   `json:"parley_participants"`
	Shown    bench.Dist           `json:"parley_capture_to_shown"`
	Chromium *bench.BrowserResult `json:"chromium,omitempty"`
}

func init() { benchScreen = runBenchScreen }

func runBenchScreen(env Env) (*ScreenResult, error) {
	display := env.Getenv("DISPLAY")
	if display == "" {
		return nil, ErrNoDisplay
	}
	res := &ScreenResult{Display: display, Window: fmt.Sprintf("%dx%d", DemoWindowWidth, DemoWindowHeight)}
	fmt.Fprintf(env.Stderr, "parley bench: on screen (%s): two kiosk windows, each in its own process, for %v\n", display, benchScreenTime)
	usage, err := benchParticipants(benchScreenTime, true)
	if err != nil {
		return nil, err
	}
	var shown []time.Duration
	for i := range usage {
		for _, ms := range usage[i].ShownMS {
			shown = append(shown, time.Duration(ms*float64(time.Millisecond)))
		}
		usage[i].ShownMS = nil
	}
	res.Parley, res.Shown = usage, bench.Summarise(shown)
	if res.Shown.N == 0 {
		return nil, errors.New("no partner frame reached either kiosk's screen")
	}
	if path, err := bench.FindChromium(); err != nil {
		fmt.Fprintf(env.Stderr, "parley bench: no on-screen comparison with the browser: %v\n", err)
	} else {
		fmt.Fprintf(env.Stderr, "parley bench: the same two-way call in Chromium, in a window on %s, for %v\n", display, benchScreenTime)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		b, err := bench.Browser(ctx, path, bench.BrowserOptions{Latency: benchScreenTime,
			Window: &bench.BrowserWindow{Width: DemoWindowWidth, Height: DemoWindowHeight}, TwoWay: true})
		if err != nil {
			return nil, fmt.Errorf("browser on screen: %w", err)
		}
		res.Chromium = &b
	}
	printScreen(env.Stdout, res)
	return res, nil
}

func printScreen(w io.Writer, r *ScreenResult) {
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

// benchParticipants runs two participants, each in its own process, in one
// call; with the kiosk UI in a window each when withUI.
func benchParticipants(d time.Duration, withUI bool) ([]ParticipantUsage, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	env, err := bench.NewEnv(d + time.Minute)
	if err != nil {
		return nil, err
	}
	defer env.Close()
	dir, err := os.MkdirTemp("", "parley-bench-cpu-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	var cmds []*exec.Cmd
	var outs []*strings.Builder
	for i := range 2 {
		out := &strings.Builder{}
		args := []string{"bench-participant", "--server-url", env.URL, "--seat", fmt.Sprintf("cpu-%d", i+1),
			"--duration", d.String(), "--tone", fmt.Sprint(kit.DefaultToneHz * float64(i+2) / 2), "--state", filepath.Join(dir, fmt.Sprint(i))}
		if withUI {
			args = append(args, "--ui")
		}
		cmd := exec.Command(self, args...)
		cmd.Stdout = out
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		cmds, outs = append(cmds, cmd), append(outs, out)
	}
	var res []ParticipantUsage
	var errs error
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			errs = errors.Join(errs, fmt.Errorf("participant %d: %w (%s)", i+1, err, outs[i].String()))
			continue
		}
		var u ParticipantUsage
		if err := json.Unmarshal([]byte(outs[i].String()), &u); err != nil {
			errs = errors.Join(errs, fmt.Errorf("participant %d printed %q: %w", i+1, outs[i].String(), err))
			continue
		}
		res = append(res, u)
	}
	return res, errs
}

// measureWithUI shows the kiosk for eng in a window and runs measure while
// it is on screen, adding each partner frame's capture-to-shown time.
func measureWithUI(eng *engine.Engine, seat string, measure func() ParticipantUsage) (ParticipantUsage, error) {
	if NewApp == nil {
		return ParticipantUsage{}, errors.New("this build has no desktop driver")
	}
	if os.Getenv("DISPLAY") == "" {
		return ParticipantUsage{}, ErrNoDisplay
	}
	a := NewApp()
	win, k := windowedKiosk(a, eng, "Parley bench: "+seat, false)
	shown := recordShown(k)
	var u ParticipantUsage
	var err error
	go func() {
		defer fyne.Do(a.Quit)
		if !participant.Wait(context.Background(), eng, bench.ConnectLimit, func(s participant.State) bool { return s.MediaConnected }) {
			err = fmt.Errorf("no call within %v", bench.ConnectLimit)
			return
		}
		time.Sleep(time.Second) // past the set-up
		shown.Restart()
		u = measure()
		for _, d := range shown.Samples() {
			u.ShownMS = append(u.ShownMS, float64(d.Microseconds())/1000)
		}
	}()
	k.Start()
	win.Show()
	eng.Join(seat)
	a.Run()
	k.Close()
	return u, err
}
