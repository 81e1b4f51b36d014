package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"text/tabwriter"
	"time"

	"github.com/gen2brain/malgo"

	"github.com/parley-lab/parley/media/bench"
	"github.com/parley-lab/parley/media/kit"
	"github.com/parley-lab/parley/media/local"
	"github.com/parley-lab/parley/signaling/client"
	"github.com/parley-lab/parley/signaling/participant"
	"github.com/parley-lab/parley/signaling/participant/engine"
)

// Call benchmark sizes (the minimums).
const (
	benchCalls       = 10
	benchLatencyTime = 30 * time.Second
	benchCPUTime     = 20 * time.Second
	benchBrowserTime = 20 * time.Second
)

func init() {
	benchCall = runBenchCall
	benchPlot = plotCall
	// Not listed in help: the child process of the CPU benchmark.
	commands["bench-participant"] = command{summary: "", run: runBenchParticipant}
}

// ParticipantUsage is what one participant process used during its call.
type ParticipantUsage struct {
	CPUPerSecond float64 `json:"cpu_cores"` // user+system CPU seconds per second of call
	PeakRSSMiB   float64 `json:"peak_rss_mib"`
	FramesSent   int64   `json:"frames_sent"`
	Decoded      int64   `json:"frames_decoded"`
	Seconds      float64 `json:"seconds"`
	// ShownMS is, with the UI, each partner frame's capture-to-shown time
	// (the child's report to the parent, which summarises them).
	ShownMS []float64 `json:"shown_ms,omitempty"`
}

func runBenchCall(env Env) (map[string]any, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	fmt.Fprintf(env.Stderr, "parley bench: call set-up, %d calls\n", benchCalls)
	phases, err := bench.CallSetup(ctx, benchCalls)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(env.Stderr, "parley bench: latency, one call of %v\n", benchLatencyTime)
	lat, err := bench.Latency(ctx, benchLatencyTime)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(env.Stderr, "parley bench: CPU and memory, two participant processes for %v\n", benchCPUTime)
	usage, err := benchParticipants(benchCPUTime, false)
	if err != nil {
		return nil, err
	}
	var browser *bench.BrowserResult
	if path, err := bench.FindChromium(); err != nil {
		fmt.Fprintf(env.Stderr, "parley bench: no side-by-side with the browser: %v\n", err)
	} else {
		fmt.Fprintf(env.Stderr, "parley bench: the same call in headless Chromium (%d set-ups, %v of latency)\n", benchCalls, benchBrowserTime)
		b, err := bench.Browser(ctx, path, bench.BrowserOptions{Calls: benchCalls, Latency: benchBrowserTime})
		if err != nil {
			return nil, fmt.Errorf("browser: %w", err)
		}
		browser = &b
	}
	tw := tabwriter.NewWriter(env.Stdout, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "call set-up (from pairing)\tn\tp50 ms\tp95 ms\tmax ms\t")
	for _, p := range bench.Phases {
		d := phases[p]
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t%.1f\t%.1f\t\n", p, d.N, d.P50, d.P95, d.Max)
	}
	fmt.Fprintln(tw, "latency (640x480@30, both ways)\tn\tp50 ms\tp95 ms\tmax ms\t")
	fmt.Fprintf(tw, "video capture to decoded\t%d\t%.1f\t%.1f\t%.1f\t\n", lat.Video.N, lat.Video.P50, lat.Video.P95, lat.Video.Max)
	fmt.Fprintf(tw, "audio capture to playback\t%d\t%.1f\t%.1f\t%.1f\t\n", lat.Audio.N, lat.Audio.P50, lat.Audio.P95, lat.Audio.Max)
	fmt.Fprintln(tw, "per participant process\tCPU cores\tpeak RSS MiB\tframes sent\tdecoded\t")
	for i, u := range usage {
		fmt.Fprintf(tw, "participant %d\t%.3f\t%.1f\t%d\t%d\t\n", i+1, u.CPUPerSecond, u.PeakRSSMiB, u.FramesSent, u.Decoded)
	}
	if browser != nil {
		fmt.Fprintln(tw, "side by side with Chromium\tParley\tChromium\tParley / Chromium\t")
		row := func(name string, p, c float64) {
			fmt.Fprintf(tw, "%s\t%.1f\t%.1f\t%.2f\t\n", name, p, c, p/c)
		}
		row("first frame after set-up starts, p50 ms", phases["first_frame"].P50, browser.Setup["first_frame"].P50)
		// Parley's is capture to decoded and ready to display; Chromium's is
		// capture to the remote frame being presented.
		row("video latency p50 ms (to decoded / to shown)", lat.Video.P50, browser.Video.P50)
		row("video latency p95 ms (to decoded / to shown)", lat.Video.P95, browser.Video.P95)
		// Parley's ends at the playback callback; Chromium's where the page's
		// Web Audio graph receives the decoded samples.
		row("audio latency p50 ms", lat.Audio.P50, browser.Audio.P50)
		row("audio latency p95 ms", lat.Audio.P95, browser.Audio.P95)
		cpu := (usage[0].CPUPerSecond + usage[1].CPUPerSecond) / 2
		fmt.Fprintf(tw, "CPU for one video stream each way, cores\t%.3f\t%.3f\t%.2f\t\n", cpu, browser.CPU, cpu/browser.CPU)
	}
	tw.Flush()
	return map[string]any{"setup": phases, "latency": lat, "participants": usage, "chromium": browser}, nil
}

func runBenchParticipant(env Env, args []string) error {
	fs := flag.NewFlagSet("parley bench-participant", flag.ContinueOnError)
	url := fs.String("server-url", "", "server")
	seat := fs.String("seat", "", "seat")
	dur := fs.Duration("duration", benchCPUTime, "call length measured")
	tone := fs.Float64("tone", kit.DefaultToneHz, "tone")
	state := fs.String("state", "", "state file")
	withUI := fs.Bool("ui", false, "show the kiosk in a window on $DISPLAY")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	p, err := local.Open(kit.Options{VideoSource: kit.SourceTest, AudioSource: kit.SourceTest, ToneHz: *tone,
		PlayAudio: true, AudioBackends: nullBackends(), LoopbackCandidates: true, Log: log},
		engine.Config{Session: client.SessionConfig{URL: *url, Room: "bench", Seat: *seat, StateFile: *state}, Log: log, AutoReady: true, AutoConsent: true}, "")
	if err != nil {
		return err
	}
	k, eng := p.Kit, p.Engine
	defer p.Leave()
	measure := func() ParticipantUsage {
		cpu0, t0 := bench.CPUSeconds(), time.Now()
		sent0, dec0 := k.FramesSent(), k.FramesDecoded()
		time.Sleep(*dur)
		u := ParticipantUsage{
			CPUPerSecond: (bench.CPUSeconds() - cpu0) / time.Since(t0).Seconds(),
			FramesSent:   k.FramesSent() - sent0, Decoded: k.FramesDecoded() - dec0, Seconds: time.Since(t0).Seconds(),
		}
		if peak, err := procPeakRSS(os.Getpid()); err == nil {
			u.PeakRSSMiB = float64(peak) / (1 << 20)
		}
		return u
	}
	var u ParticipantUsage
	if *withUI {
		if u, err = measureWithUI(eng, *seat, measure); err != nil {
			return err
		}
	} else {
		eng.Join(*seat)
		if !participant.Wait(context.Background(), eng, bench.ConnectLimit, func(s participant.State) bool { return s.MediaConnected }) {
			return fmt.Errorf("no call within %v", bench.ConnectLimit)
		}
		time.Sleep(time.Second) // past the set-up
		u = measure()
	}
	return json.NewEncoder(env.Stdout).Encode(u)
}

func nullBackends() []malgo.Backend { return []malgo.Backend{kit.NullBackend} }

// plotCall draws the call part's distributions.
func plotCall(w io.Writer, call map[string]any, machine string) error {
	phases, _ := call["setup"].(map[string]bench.Dist)
	lat, _ := call["latency"].(bench.LatencyResult)
	rows := []bench.Row{
		{Label: "set-up: first frame (Parley)", D: phases["first_frame"]},
	}
	browser, _ := call["chromium"].(*bench.BrowserResult)
	if browser != nil {
		rows = append(rows, bench.Row{Label: "set-up: first frame (Chromium)", D: browser.Setup["first_frame"], Browser: true})
	}
	rows = append(rows, bench.Row{Label: "video: capture to decoded (Parley)", D: lat.Video})
	if browser != nil {
		rows = append(rows, bench.Row{Label: "video: capture to shown (Chromium)", D: browser.Video, Browser: true})
	}
	rows = append(rows, bench.Row{Label: "audio: capture to playback (Parley)", D: lat.Audio})
	if browser != nil {
		rows = append(rows, bench.Row{Label: "audio: capture to playout (Chromium)", D: browser.Audio, Browser: true})
	}
	return bench.WritePlot(w, "parley bench, "+machine, rows)
}
