package cli

// bench.go: `parley bench`: its flags, which parts run, and the tables
// it prints; the measuring is media/bench's.

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/parley-lab/parley/media/bench"
	"github.com/parley-lab/parley/media/bench/audiolab"
)

// Bench defaults.
const (
	benchLoadRun = 10 * time.Second
	// benchRecordMedia: a minute of discussion gives the disk figure per minute.
	benchRecordMedia = time.Minute
	// benchNetworkTime is each network scenario's discussion length: long
	// enough for the "after 10 s" figures and a 10 s cut.
	benchNetworkTime = 30 * time.Second
)

func init() {
	Register("bench", "measure call set-up, latency, CPU and server capacity; prints a table, writes JSON", runBench)
}

// BenchReport is what `parley bench --json` writes.
type BenchReport struct {
	Machine string                `json:"machine"`
	Version string                `json:"version"`
	Time    time.Time             `json:"time"`
	Server  []bench.ServerResult  `json:"server,omitempty"`
	Call    *bench.CallResult     `json:"call,omitempty"`
	Screen  *bench.ScreenResult   `json:"screen,omitempty"`
	Network []bench.NetworkResult `json:"network,omitempty"`
	Record  *bench.RecordResult   `json:"record,omitempty"`
	Audio   *bench.AudioResult    `json:"audio,omitempty"`
}

func runBench(env Env, args []string) error {
	fs := flag.NewFlagSet("parley bench", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	jsonOut := fs.String("json", "", "write the results as JSON to this file")
	plotOut := fs.String("plot", "", "draw the call distributions as a PNG to this file")
	only := fs.String("only", "", "run one part: call, screen, server, network, record, audio")
	audioPhase := fs.Duration("audio-phase", bench.AudioPhase, "audio: how long each condition is measured")
	recDur := fs.Duration("record-duration", benchRecordMedia, "record: how much of a discussion is recorded")
	netDur := fs.Duration("network-duration", benchNetworkTime, "network: each scenario's discussion length")
	scenario := fs.String("scenario", "", "network: run only the scenarios whose name contains this")
	fabric := fs.String("fabric", string(bench.Virtual), "network: where the media cross: vnet (pion's virtual network) or netns (network namespaces; root)")
	sizes := fs.String("participants", "500,1000,2000", "server capacity: simulated kiosks per run")
	dur := fs.Duration("duration", benchLoadRun, "server capacity: how long each run sends")
	if err := fs.Parse(args); err != nil {
		return err
	}
	fab, err := bench.ParseFabric(*fabric)
	if err != nil {
		return fmt.Errorf("%w: --fabric: %v", ErrUsage, err)
	}
	switch *only {
	case "", "call", "screen", "server", "network", "record", "audio":
	default:
		return fmt.Errorf("%w: --only %q: want call, screen, server, network, record or audio", ErrUsage, *only)
	}
	rep := BenchReport{Machine: bench.Machine(), Version: versionString(), Time: time.Now().UTC()}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	say := func(s string) { fmt.Fprintln(env.Stderr, "parley bench: "+s) }
	if *only == "" || *only == "call" {
		res, err := bench.Call(self, say)
		if err != nil {
			return fmt.Errorf("call benchmark: %w", err)
		}
		printCall(env.Stdout, res)
		rep.Call = &res
	}
	if *only == "" || *only == "screen" {
		if display := env.Getenv("DISPLAY"); display == "" && *only == "" {
			say("skipping the on-screen comparison: no X display (packaging/dev.sh bench starts a virtual one)")
		} else {
			res, err := bench.Screen(self, display, DemoWindowWidth, DemoWindowHeight, say)
			if err != nil {
				return fmt.Errorf("on-screen benchmark: %w", err)
			}
			printScreen(env.Stdout, res)
			rep.Screen = res
		}
	}
	if *only == "" || *only == "network" {
		res, err := bench.Networks(fab, *netDur, *scenario, say)
		if errors.Is(err, bench.ErrNoScenario) {
			return fmt.Errorf("%w: %v", ErrUsage, err)
		}
		if err != nil {
			return fmt.Errorf("network benchmark: %w", err)
		}
		printNetwork(env.Stdout, res)
		rep.Network = res
	}
	if *only == "" || *only == "record" {
		dir, err := os.MkdirTemp("", "parley-bench-record-")
		if err != nil {
			return err
		}
		res, err := bench.Record(dir, *recDur)
		os.RemoveAll(dir)
		if err != nil {
			return fmt.Errorf("recording benchmark: %w", err)
		}
		rep.Record = &res
		fmt.Fprintf(env.Stdout, "recording one participant (%dx%d VP8 at %d kb/s + Opus, %.0f s): %.2f%% of a core, %.1f MB per minute (audio alone %.2f)\n",
			res.Width, res.Height, res.VideoKbps, res.MediaSeconds, 100*res.CPUShare, res.MBPerMinute, res.AudioMBPerMinute)
	}
	if *only == "" || *only == "audio" {
		switch res, err := runBenchAudio(env, *audioPhase); {
		case errors.Is(err, audiolab.ErrNoPulseAudio) && *only == "":
			fmt.Fprintf(env.Stderr, "parley bench: skipping the audio comparison: %v\n", err)
		case err != nil:
			return fmt.Errorf("audio benchmark: %w", err)
		default:
			rep.Audio = res
		}
	}
	if *only == "" || *only == "server" {
		for _, f := range strings.Split(*sizes, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 2 || n%2 != 0 {
				return fmt.Errorf("%w: --participants %q: want even numbers like 500,1000", ErrUsage, f)
			}
			r, err := bench.ServerCapacity(self, n, *dur)
			if err != nil {
				return fmt.Errorf("server capacity with %d participants: %w", n, err)
			}
			rep.Server = append(rep.Server, r)
		}
		tw := tabwriter.NewWriter(env.Stdout, 2, 4, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "kiosks\tmessages\tlost\tnot stored\tp50 ms\tp99 ms\tmax ms\tack p99 ms\tserver CPU\tRSS MiB\tKiB/conn\t")
		for _, r := range rep.Server {
			fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%.2f\t%.2f\t%.1f\t%.2f\t%.2f\t%.1f\t%.1f\t\n", r.Participants, r.Sent, r.Lost, r.NotStored,
				r.P50MS, r.P99MS, r.MaxMS, r.AckP99MS, r.ServerCPU, r.ServerRSSMiB, r.BytesPerConnKiB)
		}
		tw.Flush()
	}
	fmt.Fprintf(env.Stdout, "machine: %s\n", rep.Machine)
	if *plotOut != "" {
		if rep.Call == nil {
			return fmt.Errorf("%w: --plot needs the call part (not --only server)", ErrUsage)
		}
		f, err := os.Create(*plotOut)
		if err != nil {
			return err
		}
		if err := plotCall(f, *rep.Call, rep.Machine); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	if *jsonOut != "" {
		b, _ := json.MarshalIndent(rep, "", "  ")
		if err := os.WriteFile(*jsonOut, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	return nil
}
