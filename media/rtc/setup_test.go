package rtc

import (
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
// DTLS still completes well within a second of ICE. (Under random loss,
// see the network benchmark: pion's DTLS v3.1.2 ignores the partner's
// retransmitted flights and relies on each side's doubling timer, and
// about one set-up in eight at 10% loss stalls for more than 30 s with
// either interval; the engine's set-up timeout makes a fresh call then.)
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
