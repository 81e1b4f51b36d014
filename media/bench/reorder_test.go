package bench

import (
	"encoding/binary"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/pion/logging"
	"github.com/pion/transport/v4/vnet"

	"github.com/parley-lab/parley/signaling/testkit"
)

// The reordering network delivers every datagram, each after its own
// delay in base ± spread, so some arrive before ones sent earlier; what
// it counts as reordered is what the receiver sees out of order.
func TestReorderNetReordersAndLosesNothing(t *testing.T) {
	const datagrams = 200
	before := runtime.NumGoroutine()
	router, err := vnet.NewRouter(&vnet.RouterConfig{CIDR: netCIDR, LoggerFactory: logging.NewDefaultLoggerFactory()})
	if err != nil {
		t.Fatal(err)
	}
	var nets []*vnet.Net
	for _, ip := range []string{netIPA, netIPB} {
		n, err := vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{ip}})
		if err != nil {
			t.Fatal(err)
		}
		if err := router.AddNet(n); err != nil {
			t.Fatal(err)
		}
		nets = append(nets, n)
	}
	if err := router.Start(); err != nil {
		t.Fatal(err)
	}

	rn := newReorderNet(nets[0], 50*time.Millisecond, 20*time.Millisecond, 1)
	tx, err := rn.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(netIPA)})
	if err != nil {
		t.Fatal(err)
	}
	rx, err := nets[1].ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(netIPB)})
	if err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	var got []uint32
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 64)
		for {
			n, _, err := rx.ReadFrom(buf)
			if err != nil {
				return
			}
			mu.Lock()
			got = append(got, binary.BigEndian.Uint32(buf[:n]))
			mu.Unlock()
		}
	}()
	msg := make([]byte, 4)
	for i := range uint32(datagrams) {
		binary.BigEndian.PutUint32(msg, i)
		if _, err := tx.WriteTo(msg, rx.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		// The caller's buffer is reused at once: the delay line has its copy.
		msg[0], msg[1], msg[2], msg[3] = 0xff, 0xff, 0xff, 0xff
	}
	testkit.Eventually(t, "every datagram", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == datagrams
	})
	rx.Close()
	<-done
	tx.Close() // ends the delay line's goroutine
	router.Stop()
	testkit.Eventually(t, "the goroutines to end", func() bool { return runtime.NumGoroutine() <= before })

	seen := make(map[uint32]bool)
	var late int64
	var newest uint32
	for i, v := range got {
		if v >= datagrams || seen[v] {
			t.Fatalf("datagram %d: %d is corrupt or doubled", i, v)
		}
		seen[v] = true
		if i > 0 && v < newest {
			late++
		}
		newest = max(newest, v)
	}
	sent, reordered := rn.stats()
	t.Logf("%d datagrams, %d arrived after a later one (counted at the sender: %d)", sent, late, reordered)
	if sent != datagrams || late == 0 || late != reordered {
		t.Errorf("sent %d, %d arrived late, %d counted as reordered: want %d sent and the same nonzero count", sent, late, reordered, datagrams)
	}
}
