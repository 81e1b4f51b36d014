package rtc

import (
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pion/transport/v4/vnet"
)

// dtlsLostFlights is how many DTLS handshake datagrams the set-up test
// drops, the first ones of the handshake; dtlsRepairBound is how soon
// after ICE the handshake must still finish (with pion's 1 s, doubling, it
// took at least 1 s more per lost flight).
const (
	dtlsLostFlights = 2
	dtlsRepairBound = 900 * time.Millisecond
)

// A lost DTLS flight is sent again after DTLSRetransmitInterval (100 ms,
// doubling), not pion's 1 s: with the first two handshake datagrams lost,
// DTLS still completes well within a second of ICE. (Random loss: see
// TestSetUpUnderHeavyLossIsBounded.)
func TestLostDTLSFlightIsSentAgainQuickly(t *testing.T) {
	var mu sync.Mutex
	dropped := 0
	n := newTestNet(t, 2*time.Millisecond, func(c vnet.Chunk) bool {
		b := c.UserData()
		// A DTLS record of the handshake: content type 22, version 254.x.
		if c.Network() != "udp" || len(b) < 13 || b[0] != 22 || b[1] != 254 {
			return true
		}
		mu.Lock()
		defer mu.Unlock()
		if dropped < dtlsLostFlights {
			dropped++
			return false
		}
		return true
	}, nil)
	s := startSender(t, 640, 480, 500_000)
	p := newPair(t, n, s, 0)
	mu.Lock()
	lost := dropped
	mu.Unlock()
	if lost != dtlsLostFlights {
		t.Fatalf("%d DTLS datagrams dropped, want %d: the filter misses the handshake", lost, dtlsLostFlights)
	}
	for name, c := range map[string]*Call{"A": p.a, "B": p.b} {
		tl := c.Timeline()
		d := tl.Connected.Sub(tl.ICEConnected)
		t.Logf("%s: DTLS done %v after ICE", name, d.Round(time.Millisecond))
		if d > dtlsRepairBound {
			t.Errorf("%s: DTLS took %v after ICE with %d lost datagrams; want within %v", name, d, lost, dtlsRepairBound)
		}
	}
}

// Call set-up under heavy random loss, repeated: setupLossRate of every
// UDP packet (ICE, DTLS) dropped, seeded, setupRuns times. The figure
// (benchmark target: within 3 s) is logged; the test fails only on broken
// behaviour: a set-up that takes longer than setupStallLimit (with pion's
// DTLS v3.1.2 one run in eight hung there: a datagram holding a
// retransmitted record and the new Finished was skipped whole).
const (
	setupLossRate   = 0.20
	setupRuns       = 20
	setupStallLimit = 30 * time.Second
)

func TestSetUpUnderHeavyLossIsBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("repeats set-up 20 times")
	}
	var took []time.Duration
	for i := range setupRuns {
		rng := rand.New(rand.NewPCG(uint64(i+1), 12))
		var mu sync.Mutex
		n := newTestNet(t, 2*time.Millisecond, func(c vnet.Chunk) bool {
			mu.Lock()
			defer mu.Unlock()
			return rng.Float64() >= setupLossRate
		}, nil)
		p := startPair(t, n, nil, 0)
		start := time.Now()
		for !p.connected() {
			if time.Since(start) > setupStallLimit {
				t.Fatalf("run %d: no call after %v at %.0f%% loss: A %v (%+v), B %v (%+v)", i, setupStallLimit, setupLossRate*100,
					p.stateA.Load(), p.a.Timeline(), p.stateB.Load(), p.b.Timeline())
			}
			time.Sleep(pollEvery)
		}
		d := time.Since(start)
		ta, tb := p.a.Timeline(), p.b.Timeline()
		t.Logf("run %2d: connected after %v (ICE A %v B %v, DTLS A %v B %v)", i, d.Round(time.Millisecond),
			ta.ICEConnected.Sub(ta.Created).Round(time.Millisecond), tb.ICEConnected.Sub(tb.Created).Round(time.Millisecond),
			ta.Connected.Sub(ta.ICEConnected).Round(time.Millisecond), tb.Connected.Sub(tb.ICEConnected).Round(time.Millisecond))
		took = append(took, d)
		p.close()
		n.router.Stop()
	}
	slices.Sort(took)
	within := 0
	for _, d := range took {
		if d <= 3*time.Second {
			within++
		}
	}
	t.Logf("set-up at %.0f%% loss, %d runs: p50 %v, p90 %v, max %v; %d of %d within 3 s", setupLossRate*100, len(took),
		took[len(took)/2].Round(time.Millisecond), took[len(took)*9/10].Round(time.Millisecond), took[len(took)-1].Round(time.Millisecond), within, len(took))
}
