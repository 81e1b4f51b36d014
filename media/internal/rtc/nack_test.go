package rtc

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/transport/v4/vnet"

	"github.com/parley-lab/parley/signaling/testkit"
)

// lossCounter drops every lossEvery-th new video packet from A to B (never
// a retransmission), and counts on the wire how often each dropped packet
// is sent again and how many NACK packets B sends.
type lossCounter struct {
	lossEvery int

	mu        sync.Mutex
	dropping  bool
	seen      map[uint16]bool
	dropped   map[uint16]int // seq -> retransmissions seen afterwards
	nackPkts  int
	videoSSRC uint32
	n         int
}

func (l *lossCounter) filter(c vnet.Chunk) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if from(c, ipB) {
		if isNACK(c) {
			l.nackPkts++
		}
		return true
	}
	pt, seq, ssrc, ok := rtpOf(c)
	if !ok || pt != payloadTypeVP8 {
		return true
	}
	if _, ok := l.dropped[seq]; ok {
		l.dropped[seq]++ // a retransmission: let it through
		return true
	}
	if l.seen[seq] {
		return true
	}
	l.seen[seq] = true
	l.n++
	if l.dropping && l.n%l.lossEvery == 0 {
		l.videoSSRC = ssrc
		l.dropped[seq] = 0
		return false
	}
	return true
}

func (l *lossCounter) lost() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.dropped)
}

// With 5% of the video packets lost and a 30 ms round trip, each lost
// packet is asked for at most MaxNACKsPerPacket times, sent again at most
// as often, repaired (the repair counts as received: no NACK after it), and
// the retransmitted packets stay within 1.5 times the lost ones.
func TestNACKBoundedPerLostPacket(t *testing.T) {
	const (
		lossEvery = 20
		oneWay    = 15 * time.Millisecond
		wantLost  = 60
	)
	l := &lossCounter{lossEvery: lossEvery, seen: map[uint16]bool{}, dropped: map[uint16]int{}}
	n := newTestNet(t, oneWay, l.filter, nil)
	s := startSender(t, 640, 480, 1_000_000)
	p := newPair(t, n, s, 0)
	l.mu.Lock()
	l.dropping = true
	l.mu.Unlock()
	testkit.Eventually(t, "lost packets", func() bool { return l.lost() >= wantLost })
	l.mu.Lock()
	l.dropping = false
	l.mu.Unlock()
	// Every lost packet is found missing, and none is still waited for
	// (each repaired or given up).
	testkit.Eventually(t, "the repairs", func() bool {
		return p.b.Repair().NACK.Missing >= int64(wantLost) && p.b.repair.nack.pending() == 0
	})
	decodedBefore := p.decoded.Load()
	testkit.Eventually(t, "video after the loss", func() bool { return p.decoded.Load() > decodedBefore+testFPS })
	// The report's loss is of the video packets, over the call so far:
	// some lost, never more than one in lossEvery.
	if st := p.b.Stats(); st.PacketLoss <= 0 || st.PacketLoss > 1.2/lossEvery || st.RTTMS <= 0 {
		t.Errorf("B's report: packet loss %.4f, round trip %.2f ms; want loss in (0, %.3f] and a round trip", st.PacketLoss, st.RTTMS, 1.2/lossEvery)
	}
	p.close()

	nst, rst := p.b.Repair().NACK, p.a.Repair().Retransmit
	l.mu.Lock()
	defer l.mu.Unlock()
	var retrans, worst, unrepaired int
	for _, r := range l.dropped {
		retrans += r
		worst = max(worst, r)
		if r == 0 {
			unrepaired++
		}
	}
	t.Logf("lost %d of %d video packets; B: %d missing, %d NACKs (at most %d for one packet), %d repaired (%d late), repair RTT %v; %d NACK packets on the wire; A retransmitted %d (%d bytes of %d media bytes, %d over budget); on the wire %d retransmissions, at most %d of one packet, %d never repaired; %d frames decoded of %d sent",
		len(l.dropped), l.n, nst.Missing, nst.NACKs, nst.MaxPerPacket, nst.Repaired, nst.RepairedLate, nst.RepairRTT, l.nackPkts,
		rst.Retransmitted, rst.RetransmittedBytes, rst.MediaBytes, rst.OverBudget, retrans, worst, unrepaired, p.decoded.Load(), s.framesSent.Load())
	if nst.MaxPerPacket > MaxNACKsPerPacket {
		t.Errorf("a packet was NACKed %d times; the limit is %d", nst.MaxPerPacket, MaxNACKsPerPacket)
	}
	if worst > MaxNACKsPerPacket {
		t.Errorf("a lost packet was sent again %d times; the limit is %d", worst, MaxNACKsPerPacket)
	}
	if float64(retrans) > 1.5*float64(len(l.dropped)) {
		t.Errorf("%d retransmissions for %d lost packets: more than 1.5 per packet", retrans, len(l.dropped))
	}
	if unrepaired > len(l.dropped)/20 {
		t.Errorf("%d of %d lost packets never repaired", unrepaired, len(l.dropped))
	}
	if nst.Repaired+nst.RepairedLate < int64(len(l.dropped)-unrepaired) {
		t.Errorf("B counted %d repairs (%d late); %d arrived", nst.Repaired+nst.RepairedLate, nst.RepairedLate, len(l.dropped)-unrepaired)
	}
	if float64(p.decoded.Load()) < 0.9*float64(s.framesSent.Load()) {
		t.Errorf("decoded %d of %d frames with 5%% loss repaired", p.decoded.Load(), s.framesSent.Load())
	}
}

// The generator on its own, with time as a parameter: a missing packet is
// asked for at most MaxNACKsPerPacket times, a retry no sooner than
// NACKRetryMin, never after the repair wait (RetransmitWait on a short
// path); a repair stops the NACKs; a repair after the give-up counts as
// late; a gap longer than MaxNACKGap is not asked for.
func TestNACKGeneratorSchedule(t *testing.T) {
	g := newNACKGenerator()
	const ssrc = 7
	g.streams[ssrc] = newNACKStream()
	t0 := time.Unix(0, 0)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	nacked := func(now time.Time) []uint16 {
		var out []uint16
		for _, p := range g.due(now, 1) {
			for _, pair := range p.(*rtcp.TransportLayerNack).Nacks {
				out = append(out, pair.PacketList()...)
			}
		}
		return out
	}
	g.received(ssrc, 65534, at(0))
	g.received(ssrc, 1, at(0)) // 65535 and 0 missing, across the wrap
	g.received(ssrc, 3, at(0)) // 2 missing
	if got := nacked(at(NACKInterval)); len(got) != 3 || got[0] != 65535 || got[1] != 0 || got[2] != 2 {
		t.Fatalf("first NACK %v, want [65535 0 2]", got)
	}
	if got := nacked(at(NACKInterval + time.Millisecond)); len(got) != 0 {
		t.Fatalf("retry after 1 ms: %v", got)
	}
	g.received(ssrc, 2, at(NACKInterval+time.Millisecond)) // repaired: a 1 ms round trip
	count := map[uint16]int{65535: 1, 0: 1}
	for d := NACKInterval + NACKRetryMin; d < 2*RetransmitWait; d += NACKInterval {
		for _, s := range nacked(at(d)) {
			count[s]++
			if s == 2 {
				t.Fatalf("repaired packet NACKed at %v", d)
			}
			if d > RetransmitWait+NACKInterval {
				t.Fatalf("packet %d NACKed at %v, after the give-up", s, d)
			}
		}
	}
	if count[65535] != MaxNACKsPerPacket || count[0] != MaxNACKsPerPacket {
		t.Fatalf("NACKs per packet %v, want %d each", count, MaxNACKsPerPacket)
	}
	g.received(ssrc, 0, at(2*RetransmitWait)) // after the give-up
	g.received(ssrc, 3+MaxNACKGap+2, at(time.Second))
	if got := nacked(at(time.Second + NACKInterval)); len(got) != 0 {
		t.Fatalf("a gap of %d NACKed: %d packets", MaxNACKGap+1, len(got))
	}
	// The repair 1 ms after its NACK on a short path is a repair, not a
	// reordered packet (minReorderRTT).
	if st := g.Stats(); st.Skipped != MaxNACKGap+1 || st.Repaired != 1 || st.Reordered != 0 || st.RepairedLate != 1 || st.Missing != 3 || st.Expected != 6+MaxNACKGap+2 {
		t.Fatalf("stats %+v", st)
	}
}

// On a path that reorders, a packet that comes late by itself (before a
// repair could have) counts as reordered, not repaired, and the next gap's
// first NACK waits that long; a packet that comes within the wait is never
// asked for. Once the path keeps order again, the wait goes back to none.
func TestNACKWaitsForReorderedPackets(t *testing.T) {
	g := newNACKGenerator()
	const ssrc = 7
	g.streams[ssrc] = newNACKStream()
	g.stats.PathRTT = 100 * time.Millisecond
	t0 := time.Unix(0, 0)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	nacked := func(d time.Duration) []uint16 {
		var out []uint16
		for _, p := range g.due(at(d), 1) {
			for _, pair := range p.(*rtcp.TransportLayerNack).Nacks {
				out = append(out, pair.PacketList()...)
			}
		}
		return out
	}
	g.received(ssrc, 1, at(0))
	g.received(ssrc, 3, at(0)) // 2 missing
	if got := nacked(NACKInterval); len(got) != 1 || got[0] != 2 {
		t.Fatalf("first NACK %v, want [2] at once on a path not seen to reorder", got)
	}
	const late = 30 * time.Millisecond
	g.received(ssrc, 2, at(late)) // 20 ms after the NACK, a round trip is 100 ms: the original
	if st := g.Stats(); st.Reordered != 1 || st.Repaired != 1 || st.RepairRTT != 0 {
		t.Fatalf("stats %+v: want one reordered packet and no repair round trip", st)
	}

	start := time.Second
	g.received(ssrc, 5, at(start)) // 4 missing
	for d := start; d < start+late; d += NACKInterval {
		if got := nacked(d); len(got) != 0 {
			t.Fatalf("NACK %v %v after the gap, before the reordering wait (%v)", got, d-start, late)
		}
	}
	if got := nacked(start + late); len(got) != 1 || got[0] != 4 {
		t.Fatalf("NACK after the wait %v, want [4]", got)
	}
	g.received(ssrc, 7, at(start+late)) // 6 missing
	g.received(ssrc, 6, at(start+late+late/2))
	for d := start + late; d < start+2*late; d += NACKInterval {
		if slices.Contains(nacked(d), 6) {
			t.Fatalf("packet 6 NACKed; it came %v late, within the wait", late/2)
		}
	}

	quiet := start + 2*reorderMemory + time.Second
	g.received(ssrc, 9, at(quiet)) // 8 missing
	if got := nacked(quiet + NACKInterval); len(got) != 1 || got[0] != 8 {
		t.Fatalf("NACK %v after %v of order, want [8] at once", got, 2*reorderMemory)
	}
	if st := g.Stats(); st.ReorderWait != 0 || st.Reordered != 2 {
		t.Fatalf("stats %+v: want the wait back to 0 and 2 reordered packets", st)
	}
}
