package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/parley-lab/parley/media/kit"
	"github.com/parley-lab/parley/media/selftest"
)

// selftestLimit bounds a whole self-test.
const selftestLimit = 2 * time.Minute

func init() {
	Register("selftest", "check this workstation: a short discussion between two test participants", runSelftest)
	Register("devices", "list this machine's cameras, microphones and speakers (the defaults marked)", runDevices)
}

func runSelftest(env Env, args []string) error {
	fs := flag.NewFlagSet("parley selftest", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	serverURL := fs.String("server-url", "", "run against this lab server (ws://host:8480/ws) instead of one in this process")
	room := fs.String("room", "", "refused: through a lab server the check holds its own session, never in a lab's room")
	dur := fs.Duration("duration", selftest.DefaultDuration, "length of the test discussion")
	video := fs.String("video-source", "", "side A's video: test (default) or camera")
	audio := fs.String("audio-source", "", "side A's audio: test (default) or microphone")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	verbose := fs.Bool("v", false, "log what the engines do")
	if err := fs.Parse(args); err != nil {
		return err
	}
	audioProcs()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if *verbose {
		log = slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	ctx, cancel := context.WithTimeout(context.Background(), selftestLimit)
	defer cancel()
	var stoppedBy atomic.Value
	stopSignals := onStopSignal(log, func(sig os.Signal) { stoppedBy.Store(sig.String()); cancel() })
	defer stopSignals()
	// Run on its own goroutine: once the limit has passed or a signal came,
	// the command leaves within ExitLimit even if a part of the self-test
	// does not stop (the process exits with it).
	type result struct {
		rep selftest.Report
		err error
	}
	done := make(chan result, 1)
	go func() {
		rep, err := selftest.Run(ctx, selftest.Options{ServerURL: *serverURL, Room: *room, Duration: *dur,
			VideoSourceA: *video, AudioSourceA: *audio, Log: log})
		done <- result{rep, err}
	}()
	var res result
	select {
	case res = <-done:
	case <-ctx.Done():
		t := time.NewTimer(ExitLimit)
		defer t.Stop()
		select {
		case res = <-done:
		case <-t.C:
			return fmt.Errorf("%w: the self-test did not stop within %v of its end (%v)", ErrStuck, ExitLimit, context.Cause(ctx))
		}
	}
	rep, err := res.rep, res.err
	if *asJSON {
		b, _ := json.MarshalIndent(rep, "", "  ")
		fmt.Fprintln(env.Stdout, string(b))
	} else {
		tw := tabwriter.NewWriter(env.Stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "server\t%s\n", rep.Server)
		for _, s := range rep.Sides {
			fmt.Fprintf(tw, "side %s\tcall set-up %.0f ms; %d of %d partner frames decoded, stamps in order: %v; capture to decoded p50 %.1f ms\n",
				s.Name, s.SetupMS, s.FramesDecoded, s.FramesExpected, s.StampsInOrder, s.VideoLatencyP50)
			out := fmt.Sprintf("%.0f ms played", s.PlayedMS)
			if s.NoAudioOutput {
				out = "no audio output device"
			}
			fmt.Fprintf(tw, "\tpartner's tone heard %.0f%%, own tone %.0f%%; chat received: %v; %s\n", s.ToneHeard*100, s.OwnToneHeard*100, s.ChatReceived, out)
		}
		if len(rep.Sides) == 2 {
			fmt.Fprintf(tw, "end\tthe two sides ended %.1f ms apart\n", rep.EndSkewMS)
		}
		for _, f := range rep.Failures {
			fmt.Fprintf(tw, "FAILED\t%s\n", f)
		}
		if err == nil {
			fmt.Fprintln(tw, "result\tok")
		}
		tw.Flush()
	}
	if sig, ok := stoppedBy.Load().(string); ok {
		return fmt.Errorf("self-test %w (%s)", ErrInterrupted, sig)
	}
	if errors.Is(err, selftest.ErrFailed) {
		return errors.New("self-test failed (see above)")
	}
	return err
}

func runDevices(env Env, args []string) error {
	fs := flag.NewFlagSet("parley devices", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	ds, err := kit.Devices()
	return printDevices(env.Stdout, ds, err)
}

// printDevices writes the table of `parley devices`: every camera,
// microphone and speaker, the ones the kiosk takes when none is named
// marked "default", a line saying so where a kind has none.
func printDevices(w io.Writer, ds []kit.Device, soundErr error) error {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tLABEL\tNAME\t")
	have := map[string]bool{}   // a device the kiosk can take
	listed := map[string]bool{} // any device
	for _, d := range ds {
		listed[d.Kind] = true
		have[d.Kind] = have[d.Kind] || !d.OnlyNamed
		key := d.Key
		if key == d.Label {
			key = ""
		}
		note := ""
		switch {
		case d.Default:
			note = "default"
		case d.Monitor:
			note = "monitor of an output: used only when named"
		case d.OnlyNamed:
			note = "used only when named"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", d.Kind, d.Label, key, note)
	}
	for _, k := range []string{kit.KindCamera, kit.KindMicrophone, kit.KindSpeaker} {
		if have[k] {
			continue
		}
		why := ""
		if soundErr != nil && k != kit.KindCamera {
			why = " (" + soundErr.Error() + ")"
		} else if listed[k] {
			why = " (only the ones above, used when named)"
		}
		fmt.Fprintf(tw, "%s\tno %s found%s\t\t\n", k, k, why)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if !have[kit.KindCamera] || !have[kit.KindMicrophone] {
		fmt.Fprintln(w, "(the kiosk can still run with --video-source test --audio-source test)")
	}
	return nil
}
