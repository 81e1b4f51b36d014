package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/parley-lab/parley/media/bench"
)

// benchNetworkTime is each network scenario's discussion length: long
// enough for the "after 10 s" figures and a 10 s cut.
const benchNetworkTime = 30 * time.Second

func init() { benchNetwork = runBenchNetwork }

func runBenchNetwork(env Env, d time.Duration, only string) ([]bench.NetworkResult, error) {
	var out []bench.NetworkResult
	for _, sc := range bench.NetworkScenarios {
		if only != "" && !strings.Contains(strings.ToLower(sc.Name), strings.ToLower(only)) {
			continue
		}
		fmt.Fprintf(env.Stderr, "parley bench: network, %s, a discussion of %v\n", sc.Name, d)
		ctx, cancel := context.WithTimeout(context.Background(), d+3*bench.NetworkSetupLimit)
		r, err := bench.Network(ctx, sc, d)
		cancel()
		if err != nil {
			return out, fmt.Errorf("%s: %w", sc.Name, err)
		}
		out = append(out, r)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no network scenario matches %q", ErrUsage, only)
	}
	printNetwork(env.Stdout, out)
	return out, nil
}

func printNetwork(w io.Writer, rs []bench.NetworkResult) {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "network (both ways)\tset-up ms\tframes shown / due\tsent\tlongest freeze ms\tvideo p50 ms\tp95 ms\tp95 after 10 s\taudio concealed\tretransmitted / media\t/ lost\tfirst frame after fault ms\tdeadline\t")
	for _, r := range rs {
		after := "-"
		if r.FirstFrameAfterMS >= 0 {
			after = fmt.Sprintf("%.0f", r.FirstFrameAfterMS)
		}
		held := "kept"
		if !r.DeadlineHeld {
			held = fmt.Sprintf("missed by %.0f ms", r.EndSkewMS)
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%d/%d %.1f%%\t%d\t%.0f\t%.1f\t%.1f\t%.1f\t%.1f%%\t%.1f%%\t%.2f\t%s\t%s\t\n", r.Scenario, r.SetupMS,
			r.FramesDecoded, r.FramesDue, 100*r.Shown(), r.FramesSent, r.LongestFreezeMS, r.Video.P50, r.Video.P95, r.VideoLateP95MS,
			100*r.Concealed(), 100*r.RetransmitShare(), r.RetransmitPerLost(), after, held)
	}
	tw.Flush()
}
