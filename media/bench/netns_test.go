package bench

import (
	"encoding/binary"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// labReadLimit bounds one read: far above a packet's trip through the
// router, even on a loaded machine.
const labReadLimit = 10 * time.Second

// TestNamespaceLab sends numbered datagrams from participant 0 to
// participant 1 through the router namespace and checks each fault: a
// clean path carries all, a path cut and a link down carry none until
// they end, a cap still carries, and random loss drops some and counts
// them. Absence is proven by order, not by waiting: after a fault ends, a
// marker is sent until one arrives, and nothing sent during the fault may
// have come before it.
func TestNamespaceLab(t *testing.T) {
	if err := labTools(); err != nil {
		if os.Getenv("PARLEY_REQUIRE_NETNS") != "" {
			t.Fatal(err)
		}
		t.Skipf("%v (PARLEY_REQUIRE_NETNS=1 makes this a failure)", err)
	}
	l, err := openLab()
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	rx, err := l.Net(1).ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(l.Addr(1))})
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	tx, err := l.Net(0).DialUDP("udp4", nil, rx.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()

	next := uint32(0)
	send := func(n int) (first uint32) {
		first = next
		for range n {
			var b [64]byte
			binary.BigEndian.PutUint32(b[:], next)
			next++
			tx.Write(b[:]) // a send into a downed link may fail: that is the fault
		}
		return first
	}
	// through sends markers until one arrives, and returns the numbers
	// received before it and the marker's.
	through := func() (got []uint32) {
		t.Helper()
		buf := make([]byte, 1500)
		for try := 0; try < 50; try++ {
			marker := send(1)
			rx.SetReadDeadline(time.Now().Add(labReadLimit / 50))
			for {
				n, _, err := rx.ReadFrom(buf)
				if err != nil {
					break // this marker was lost: the next
				}
				v := binary.BigEndian.Uint32(buf[:n])
				if v >= marker {
					return got
				}
				got = append(got, v)
			}
		}
		t.Fatal("no marker came through the router")
		return nil
	}
	countFrom := func(got []uint32, from, to uint32) (n int) {
		for _, v := range got {
			if v >= from && v < to {
				n++
			}
		}
		return n
	}

	first := send(50)
	if n := countFrom(through(), first, first+50); n != 50 {
		t.Fatalf("clean path: %d of 50 arrived", n)
	}

	if err := l.setPathCut(true); err != nil {
		t.Fatal(err)
	}
	first = send(20)
	if err := l.setPathCut(false); err != nil {
		t.Fatal(err)
	}
	if n := countFrom(through(), first, first+20); n != 0 {
		t.Errorf("path cut: %d of 20 arrived", n)
	}

	if err := l.setLinkDown(0, true); err != nil {
		t.Fatal(err)
	}
	first = send(20)
	if err := l.setLinkDown(0, false); err != nil {
		t.Fatal(err)
	}
	if n := countFrom(through(), first, first+20); n != 0 {
		t.Errorf("link down: %d of 20 arrived", n)
	}

	if err := l.setCap(500_000, 62_500); err != nil {
		t.Fatal(err)
	}
	qd, err := output("tc", "-n", l.ns(-1), "qdisc", "show", "dev", "r1")
	if err != nil || !strings.Contains(qd, "htb") || !strings.Contains(qd, "bfifo") {
		t.Errorf("cap: qdiscs %q, %v", qd, err)
	}
	first = send(10)
	if n := countFrom(through(), first, first+10); n != 10 {
		t.Errorf("capped path: %d of 10 small datagrams arrived", n)
	}

	if err := l.setLoss(50); err != nil {
		t.Fatal(err)
	}
	first = send(200)
	n := countFrom(through(), first, first+200)
	lost, err := l.lostBytes()
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 || n == 200 || lost == 0 {
		t.Errorf("50%% loss: %d of 200 arrived, %d bytes counted lost", n, lost)
	}
	t.Logf("50%% loss: %d of 200 arrived, %d bytes counted lost", n, lost)
}
