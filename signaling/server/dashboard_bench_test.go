package server

// The dashboard at scale: with 200 participants chatting, how long a change
// takes to show on a dashboard, and whether five open dashboards slow the
// chat. A Go benchmark (go test -run '^$' -bench Dashboard ./signaling/server),
// not a timed test: the figures go to docs/benchmarks.md.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/parley-lab/parley/media/bench/loadtest"
	"github.com/parley-lab/parley/signaling/protocol"
)

const (
	benchDashParticipants = 200
	benchDashboards       = 5
	benchDashChanges      = 20
)

// openDashboard logs in and follows the session's stream; each view's
// participant count goes to counts.
func openDashboard(b *testing.B, ts *testServer, code string, counts chan<- int) func() {
	br := newBrowser(&testing.T{}, ts.base)
	br.login(ts.AdminToken())
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", ts.base+"/admin/events?session="+code, nil)
	resp, err := br.c.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		b.Fatalf("events: %v %v", err, resp)
	}
	go func() {
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 4<<20), 4<<20)
		for sc.Scan() {
			if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok && counts != nil {
				var v DashboardView
				if json.Unmarshal([]byte(d), &v) == nil {
					select {
					case counts <- len(v.Participants):
					default:
					}
				}
			}
		}
	}()
	return cancel
}

func BenchmarkDashboard(b *testing.B) {
	for range b.N {
		cfg := Config{MaxConnsPerAddr: 10000, MaxJoinsPerAddrPerMinute: 100000,
			Rooms: []Room{
				{Name: "alone", AutoSession: true, Defaults: SessionSettings{RateBurst: 20, RatePerSecond: 10, DeviceCheck: protocol.DeviceCheckOff}},
				{Name: "watched", AutoSession: true, Defaults: SessionSettings{RateBurst: 20, RatePerSecond: 10, DeviceCheck: protocol.DeviceCheckOff}},
			}}
		ts := startServer(&testing.T{}, b.TempDir(), cfg, nil)
		chat := func(room string) loadtest.Result {
			res, err := loadtest.Run(context.Background(), loadtest.Options{URL: ts.url, Room: room, Participants: benchDashParticipants,
				Duration: 5 * time.Second, Interval: time.Second, Drain: 2 * time.Second})
			if err != nil {
				b.Fatal(err)
			}
			b.Logf("%s: %v", room, res.Summary())
			return res
		}
		// Chat without dashboards; then the same load in a session that five
		// dashboards watch.
		alone := chat("alone")
		sv, err := ts.hub.CreateSession("watched", nil)
		if err != nil {
			b.Fatal(err)
		}
		code := sv.Code
		counts := make(chan int, 64)
		var stops []func()
		stops = append(stops, openDashboard(b, ts, code, counts))
		for range benchDashboards - 1 {
			stops = append(stops, openDashboard(b, ts, code, nil))
		}
		watched := chat("watched")
		// A newcomer joins: how long until the first dashboard shows it.
		var delays []time.Duration
		for i := range benchDashChanges {
			before := len(ts.hub.mustParticipants(code))
			for len(counts) > 0 {
				<-counts
			}
			k := dialKiosk(&testing.T{}, ts.url, fmt.Sprintf("late-%d", i))
			// At a random moment, not just after a push (the loop would
			// otherwise keep step with the pushes and always wait a whole one).
			time.Sleep(time.Duration(rand.Int64N(int64(DashboardPushInterval))))
			start := time.Now()
			k.send(protocol.TypeJoin, "join", protocol.JoinRequest{Room: "watched", Seat: fmt.Sprintf("late-%d", i), Pseudonym: fmt.Sprintf("Late %d", i)})
			for n := range counts {
				if n > before {
					break
				}
			}
			delays = append(delays, time.Since(start))
		}
		for _, stop := range stops {
			stop()
		}
		ts.Close()
		sort.Slice(delays, func(i, j int) bool { return delays[i] < delays[j] })
		b.ReportMetric(float64(delays[len(delays)/2].Microseconds())/1000, "change_p50_ms")
		b.ReportMetric(float64(delays[len(delays)*95/100].Microseconds())/1000, "change_p95_ms")
		b.ReportMetric(float64(alone.P99.Microseconds())/1000, "chat_p99_ms_alone")
		b.ReportMetric(float64(watched.P99.Microseconds())/1000, "chat_p99_ms_5_dashboards")
		b.ReportMetric(float64(watched.Lost+alone.Lost), "lost")
	}
}

func (h *Hub) mustParticipants(code string) []ParticipantView {
	ps, _ := h.Participants(code)
	return ps
}
