package cli

// bench_audio.go: `parley bench --only audio`: the call's audio through a
// private PulseAudio, Parley against two Chromium processes on the same
// virtual devices, quiet and with every core busy (media/bench/audio.go).

import (
	"context"
	"fmt"
	"io"
	"math"
	"text/tabwriter"
	"time"

	"github.com/parley-lab/parley/media/bench"
)

// benchAudioLimit bounds the whole audio part.
const benchAudioLimit = 10 * time.Minute

func runBenchAudio(env Env, phase time.Duration) (*bench.AudioResult, error) {
	fmt.Fprintf(env.Stderr, "parley bench: audio through PulseAudio, Parley then Chromium, %v quiet and %v with every core busy each\n", phase, phase)
	ctx, cancel := context.WithTimeout(context.Background(), benchAudioLimit)
	defer cancel()
	res, err := bench.Audio(ctx, []bench.AudioStack{&bench.ParleyAudio{}, &bench.ChromiumAudio{}},
		[]bench.Condition{bench.Quiet, bench.Loaded}, phase)
	if err != nil {
		return nil, err
	}
	printAudio(env.Stdout, res)
	return &res, nil
}

func printAudio(w io.Writer, r bench.AudioResult) {
	fmt.Fprintf(w, "audio (speech: %s; each phase %.0f s; mouth to ear target p50 <= %v)\n", r.Speech, r.PhaseS, bench.AudioLatencyTarget)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "stack\tcondition\tmouth to ear p50 ms\tp95 ms\ttones clean\tdropouts\tsilent ms\tdiscontinuities\tseg. SNR dB\tLSD dB\techo peak\t")
	row := func(f bench.AudioFigures) {
		fmt.Fprintf(tw, "%s\t%s\t%.1f\t%.1f\t%d/%d\t%d\t%.0f\t%d\t%.2f\t%.2f\t%d\t\n", f.Stack, f.Condition, f.LatencyP50MS, f.LatencyP95MS,
			f.Clean, f.Tones, f.Dropouts, f.SilentMS, f.Discontinuities, f.SegSNR, f.SpectralDist, f.EchoPeak)
	}
	row(r.Floor)
	for _, f := range r.Figures {
		row(f)
	}
	tw.Flush()
	for _, f := range r.Figures {
		if c := f.Receiver; c != nil {
			fmt.Fprintf(w, "%s, %s: the receiver's jitter buffer: %d underruns, %d late, %v shed, %d of %d frames concealed\n",
				f.Stack, f.Condition, c.AudioUnderruns, c.AudioLate, c.AudioShed.Round(time.Millisecond), c.AudioConcealed, c.AudioFrames)
		}
	}
	for stack, why := range r.Skipped {
		fmt.Fprintf(w, "%s skipped: %s\n", stack, why)
	}
	for _, c := range r.Compare() {
		fmt.Fprintf(w, "Parley / Chromium, %s: mouth to ear %s, dropouts %s, discontinuities %s, SNR %+.2f dB, LSD %+.2f dB\n",
			c.Condition, ratio(c.Latency), ratio(c.Dropouts), ratio(c.Discontinuities), c.SNRGain, c.LSDChange)
	}
	for _, m := range r.Missed() {
		fmt.Fprintf(w, "target missed: %s\n", m)
	}
}

func ratio(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "-"
	}
	return fmt.Sprintf("%.2f", v)
}
