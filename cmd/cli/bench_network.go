package cli

// bench_network.go: the network part's table (media/bench/network.go
// measures).

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/parley-lab/parley/media/bench"
)

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
