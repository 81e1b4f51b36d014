package cli

// bench_call.go: the call part's table and plot, and the command line of
// a participant process (media/bench runs two of them).

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/parley-lab/parley/media/bench"
)

func init() {
	// Not listed in help: the child process of the CPU benchmark.
	commands[bench.ParticipantCommand] = command{summary: "", run: runBenchParticipant}
}

func printCall(w io.Writer, r bench.CallResult) {
	phases, lat, usage, browser := r.Setup, r.Latency, r.Participants, r.Chromium
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', tabwriter.AlignRight)
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
	if browser != nil && len(usage) == 2 {
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
}

// runBenchParticipant is one participant process: it measures its call
// (with --ui, with the kiosk on screen) and prints what it used as JSON.
func runBenchParticipant(env Env, args []string) error {
	fs := flag.NewFlagSet("parley "+bench.ParticipantCommand, flag.ContinueOnError)
	var f bench.ParticipantFlags
	f.Bind(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	p, err := bench.OpenParticipant(f)
	if err != nil {
		return err
	}
	defer p.Leave()
	var u bench.ParticipantUsage
	if f.UI {
		u, err = measureWithUI(p.Engine, f.Seat, func() bench.ParticipantUsage { return bench.MeasureUsage(p.Kit, f.Duration) })
	} else {
		u, err = bench.MeasureCall(p, f.Seat, f.Duration)
	}
	if err != nil {
		return err
	}
	return json.NewEncoder(env.Stdout).Encode(u)
}

// plotCall draws the call part's distributions.
func plotCall(w io.Writer, call bench.CallResult, machine string) error {
	phases, lat, browser := call.Setup, call.Latency, call.Chromium
	rows := []bench.Row{
		{Label: "set-up: first frame (Parley)", D: phases["first_frame"]},
	}
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
