package bench

// server.go: the server's capacity: `parley --server` in a child process
// (so its CPU and memory are its own), simulated kiosks chatting through
// it (loadtest), and every acknowledged message looked up in its store.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/parley-lab/parley/media/bench/loadtest"
	"github.com/parley-lab/parley/signaling/store"
)

// Limits of the capacity benchmark.
const (
	// ServerStartLimit bounds the server's start, until it answers /healthz.
	ServerStartLimit = 10 * time.Second
	// serverRunSlack is how long a run may take beyond its sending time.
	serverRunSlack = 2 * time.Minute
	// healthzTimeout bounds one look at /healthz; healthzEvery spaces them.
	healthzTimeout = time.Second
	healthzEvery   = 50 * time.Millisecond
)

// serverConfig is the child server's configuration: a room for the load
// whose sessions open by themselves; the rate limit raised so the
// simulated kiosks' steady 1/s is never refused, and the per-address caps
// so thousands of kiosks may come from one address.
const serverConfig = "max_conns_per_addr = 100000\nmax_joins_per_addr_per_minute = 100000\n" +
	"[[rooms]]\nname = \"bench\"\nauto_session = true\n[rooms.defaults]\nrate_burst = 20\nrate_per_second = 10.0\n"

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

// ServerCapacity runs n simulated kiosks for dur against `parley --server`
// started from the program parley (a path to it).
func ServerCapacity(parley string, n int, dur time.Duration) (ServerResult, error) {
	dir, err := os.MkdirTemp("", "parley-bench-")
	if err != nil {
		return ServerResult{}, err
	}
	defer os.RemoveAll(dir)
	addr, err := freePort()
	if err != nil {
		return ServerResult{}, err
	}
	cfgPath := filepath.Join(dir, "server.toml")
	if err := os.WriteFile(cfgPath, []byte(serverConfig), 0o644); err != nil {
		return ServerResult{}, err
	}
	cmd := exec.Command(parley, "--server", "--listen", addr, "--data", filepath.Join(dir, "data"), "--config", cfgPath)
	if err := cmd.Start(); err != nil {
		return ServerResult{}, err
	}
	defer func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	}()
	if err := waitHealthy("http://"+addr+"/healthz", ServerStartLimit); err != nil {
		return ServerResult{}, err
	}
	baseRSS, _ := ProcRSS(cmd.Process.Pid)
	cpu0, _ := ProcCPU(cmd.Process.Pid)
	t0 := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), dur+serverRunSlack)
	defer cancel()
	res, err := loadtest.Run(ctx, loadtest.Options{URL: "ws://" + addr + "/ws", Room: "bench", Participants: n, Duration: dur})
	if err != nil {
		return ServerResult{}, err
	}
	cpu1, _ := ProcCPU(cmd.Process.Pid)
	elapsed := time.Since(t0)
	peak, _ := ProcPeakRSS(cmd.Process.Pid)
	// Every acknowledged message must be in the database.
	cmd.Process.Signal(os.Interrupt)
	cmd.Wait()
	notStored, err := countMissing(filepath.Join(dir, "data"), res.MessageIDs)
	if err != nil {
		return ServerResult{}, err
	}
	return ServerResult{
		Participants: n, Sent: res.Sent, Lost: res.Lost + (res.Sent - res.Acked), NotStored: notStored,
		P50MS: ms(res.P50), P99MS: ms(res.P99), MaxMS: ms(res.Max), AckP99MS: ms(res.AckP99),
		ServerCPU:       (cpu1 - cpu0) / elapsed.Seconds(),
		ServerRSSMiB:    float64(peak) / (1 << 20),
		BytesPerConnKiB: float64(peak-baseRSS) / float64(n) / 1024,
	}, nil
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// countMissing counts the messages of ids that the store in dataDir lacks.
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
	c := &http.Client{Timeout: healthzTimeout}
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if resp, err := c.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(healthzEvery)
	}
	return fmt.Errorf("server did not answer %s within %v", url, limit)
}
