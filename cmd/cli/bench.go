package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/parley-lab/parley/media/bench"
	"github.com/parley-lab/parley/media/bench/audiolab"
	"github.com/parley-lab/parley/media/bench/loadtest"
	"github.com/parley-lab/parley/signaling/store"
)

// Bench defaults.
const (
	benchServerStart = 10 * time.Second
	benchLoadRun     = 10 * time.Second
	// benchRecordMedia: a minute of discussion gives the disk figure per minute.
	benchRecordMedia = time.Minute
)

func init() {
	Register("bench", "measure call set-up, latency, CPU and server capacity; prints a table, writes JSON", runBench)
}

// BenchReport is what `parley bench --json` writes.
type BenchReport struct {
	Machine string                `json:"machine"`
	Version string                `json:"version"`
	Time    time.Time             `json:"time"`
	Server  []ServerResult        `json:"server,omitempty"`
	Call    map[string]any        `json:"call,omitempty"`
	Screen  *ScreenResult         `json:"screen,omitempty"`
	Network []bench.NetworkResult `json:"network,omitempty"`
	Record  *bench.RecordResult   `json:"record,omitempty"`
	Audio   *bench.AudioResult    `json:"audio,omitempty"`
}

// ServerResult is one server capacity run.
type ServerResult struct {
	Participants    int     `json:"participants"`
	Sent            int64   `json:"sent"`
	Lost            int64   `json:"lost"`
	NotStored       int64   `json:"not_stored"`
	P50MS           float64 `json:"delivery_p50_ms"`
	P99MS           float64 `json:"delivery_p99_ms"`
	MaxMS           float64 `json:"delivery_max_ms"`
	AckP99MS        float64 `json:"ack_p99_ms"`
	ServerCPU       float64 `json:"server_cpu_cores"` // CPU seconds per second while sending
	ServerRSSMiB    float64 `json:"server_rss_mib"`
	BytesPerConnKiB float64 `json:"kib_per_connection"`
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
	sizes := fs.String("participants", "500,1000,2000", "server capacity: simulated kiosks per run")
	dur := fs.Duration("duration", benchLoadRun, "server capacity: how long each run sends")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch *only {
	case "", "call", "screen", "server", "network", "record", "audio":
	default:
		return fmt.Errorf("%w: --only %q: want call, screen, server, network, record or audio", ErrUsage, *only)
	}
	rep := BenchReport{Machine: machine(), Version: versionString(), Time: time.Now().UTC()}
	if *only == "" || *only == "call" {
		if benchCall == nil {
			fmt.Fprintln(env.Stderr, "parley bench: this build has no call benchmark")
		} else {
			res, err := benchCall(env)
			if err != nil {
				return fmt.Errorf("call benchmark: %w", err)
			}
			rep.Call = res
		}
	}
	if *only == "" || *only == "screen" {
		switch {
		case benchScreen == nil:
			fmt.Fprintln(env.Stderr, "parley bench: this build has no on-screen benchmark")
		case env.Getenv("DISPLAY") == "" && *only == "":
			fmt.Fprintln(env.Stderr, "parley bench: skipping the on-screen comparison: no X display (packaging/dev.sh bench starts a virtual one)")
		default:
			res, err := benchScreen(env)
			if err != nil {
				return fmt.Errorf("on-screen benchmark: %w", err)
			}
			rep.Screen = res
		}
	}
	if *only == "" || *only == "network" {
		if benchNetwork == nil {
			fmt.Fprintln(env.Stderr, "parley bench: this build has no network benchmark")
		} else {
			res, err := benchNetwork(env, *netDur, *scenario)
			if err != nil {
				return fmt.Errorf("network benchmark: %w", err)
			}
			rep.Network = res
		}
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
			r, err := benchServer(env, n, *dur)
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
		if benchPlot == nil || rep.Call == nil {
			return fmt.Errorf("%w: --plot needs the call part (not --only server)", ErrUsage)
		}
		f, err := os.Create(*plotOut)
		if err != nil {
			return err
		}
		if err := benchPlot(f, rep.Call, rep.Machine); err != nil {
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

// benchCall runs the call benchmarks and benchPlot draws them; set by the
// media side of the CLI (bench_call.go).
var (
	benchCall func(env Env) (map[string]any, error)
	benchPlot func(w io.Writer, call map[string]any, machine string) error
	// benchScreen runs the on-screen comparison (bench_screen.go).
	benchScreen func(env Env) (*ScreenResult, error)
	// benchNetwork runs the network scenarios (bench_network.go).
	benchNetwork func(env Env, d time.Duration, only string) ([]bench.NetworkResult, error)
)

func machine() string {
	host, _ := os.Hostname()
	cpu := ""
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				_, cpu, _ = strings.Cut(l, ": ")
				break
			}
		}
	}
	n := 0
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		n = strings.Count(string(b), "processor\t:")
	}
	return fmt.Sprintf("%s, %d cores, %s", cpu, n, host)
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// benchServer runs one capacity test against `parley --server` in a child
// process, so its CPU and memory are the server's alone.
func benchServer(env Env, n int, dur time.Duration) (ServerResult, error) {
	self, err := os.Executable()
	if err != nil {
		return ServerResult{}, err
	}
	dir, err := os.MkdirTemp("", "parley-bench-")
	if err != nil {
		return ServerResult{}, err
	}
	defer os.RemoveAll(dir)
	addr, err := freePort()
	if err != nil {
		return ServerResult{}, err
	}
	// A room for the load: a session opens by itself; the rate limit is
	// raised so the simulated kiosks' steady 1/s is never refused, and the
	// per-address caps so thousands of kiosks may come from one address.
	cfgPath := filepath.Join(dir, "server.toml")
	os.WriteFile(cfgPath, []byte("max_conns_per_addr = 100000\nmax_joins_per_addr_per_minute = 100000\n"+
		"[[rooms]]\nname = \"bench\"\nauto_session = true\n[rooms.defaults]\nrate_burst = 20\nrate_per_second = 10.0\n"), 0o644)
	cmd := exec.Command(self, "--server", "--listen", addr, "--data", filepath.Join(dir, "data"), "--config", cfgPath)
	cmd.Stderr = nil
	if err := cmd.Start(); err != nil {
		return ServerResult{}, err
	}
	defer func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	}()
	if err := waitHealthy("http://"+addr+"/healthz", benchServerStart); err != nil {
		return ServerResult{}, err
	}
	baseRSS, _ := procRSS(cmd.Process.Pid)
	cpu0, _ := bench.ProcCPU(cmd.Process.Pid)
	t0 := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), dur+2*time.Minute)
	defer cancel()
	res, err := loadtest.Run(ctx, loadtest.Options{URL: "ws://" + addr + "/ws", Room: "bench", Participants: n, Duration: dur})
	if err != nil {
		return ServerResult{}, err
	}
	cpu1, _ := bench.ProcCPU(cmd.Process.Pid)
	elapsed := time.Since(t0)
	peak, _ := procPeakRSS(cmd.Process.Pid)
	// Every acknowledged message must be in the database.
	cmd.Process.Signal(os.Interrupt)
	cmd.Wait()
	notStored, err := countMissing(filepath.Join(dir, "data"), res.MessageIDs)
	if err != nil {
		return ServerResult{}, err
	}
	msf := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	return ServerResult{
		Participants: n, Sent: res.Sent, Lost: res.Lost + (res.Sent - res.Acked), NotStored: notStored,
		P50MS: msf(res.P50), P99MS: msf(res.P99), MaxMS: msf(res.Max), AckP99MS: msf(res.AckP99),
		ServerCPU:       (cpu1 - cpu0) / elapsed.Seconds(),
		ServerRSSMiB:    float64(peak) / (1 << 20),
		BytesPerConnKiB: float64(peak-baseRSS) / float64(n) / 1024,
	}, nil
}

func countMissing(dataDir string, ids []string) (int64, error) {
	st, err := store.OpenReadOnly(dataDir)
	if err != nil {
		return 0, err
	}
	defer st.Close()
	var missing int64
	for _, id := range ids {
		if _, err := st.Message(id); errors.Is(err, store.ErrNotFound) {
			missing++
		} else if err != nil {
			return 0, err
		}
	}
	return missing, nil
}

func waitHealthy(url string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if err := httpGetOK(url); err == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("server did not answer %s within %v", url, limit)
}

func procStatus(pid int, key string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, key+":"); ok {
			f := strings.Fields(v)
			kb, err := strconv.ParseInt(f[0], 10, 64)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("%s not in /proc/%d/status", key, pid)
}

func procRSS(pid int) (int64, error)     { return procStatus(pid, "VmRSS") }
func procPeakRSS(pid int) (int64, error) { return procStatus(pid, "VmHWM") }
