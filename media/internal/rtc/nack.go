package rtc

import (
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
)

// Loss repair on the receiving side. pion's NACK generator asks for a
// missing packet on every tick until its receive log moves past it (about
// 4 s of video: hundreds of retransmissions per lost packet), and never
// sees repairs that come on an RTX stream. Ours asks for each missing
// packet at most MaxNACKsPerPacket times, a round trip apart, and only
// while the video receiver still waits for it (repairWait). We
// negotiate no RTX: repairs come on the media stream's SSRC and pass
// through this interceptor, so they count as received.
//
// A path that reorders (Wi-Fi retries, links in parallel) delivers a
// "missing" packet a little later by itself. A missing packet that arrives
// before any repair could have (no NACK yet, or, on a path of
// minReorderRTT or more, less than half a round trip after the first) was
// reordered, not lost; the first NACK for a gap waits as long as such
// packets were seen to come late lately (at most MaxReorderWait). On a
// path that keeps order it is sent at once.
const (
	// NACKInterval is how often missing packets are checked and asked for
	// (pion's default, 100 ms, would hold a damaged frame far too long).
	NACKInterval = 10 * time.Millisecond
	// MaxNACKsPerPacket bounds how often one missing packet is asked for.
	MaxNACKsPerPacket = 3
	// NACKRetryMin is the least time between two NACKs for one packet;
	// the retry waits longer when repairs are seen to take longer (the
	// round trip).
	NACKRetryMin = 20 * time.Millisecond
	// MaxNACKGap is the largest run of missing packets that is asked for
	// again; a longer one (an outage) is repaired by a keyframe, which the
	// video receiver asks for, not by a burst of retransmissions.
	MaxNACKGap = 64
	// lateRepairMemory is how long a given-up packet is remembered, so a
	// repair that comes after the give-up is counted (RepairedLate).
	lateRepairMemory = time.Second
	// rttRefresh is how often the path's round trip is read from ICE.
	rttRefresh = 100 * time.Millisecond
	// repairRTTWeight smooths the measured repair delay (1/8, as TCP's
	// SRTT).
	repairRTTWeight = 8
	// MaxReorderWait bounds how long the first NACK for a gap waits for a
	// reordered packet (the longest lateness seen in reorderMemory).
	MaxReorderWait = 50 * time.Millisecond
	// minReorderRTT: on a shorter round trip a packet that comes after its
	// NACK is taken for its repair. Timers and scheduling are coarser than
	// such a path: on vnet at 5% and 20% loss, one to three repairs in 15 s
	// seemed to come within half of ICE's round trip of 60 to 90 µs.
	minReorderRTT = 2 * NACKInterval
	// reorderMemory is how long a reordered packet's lateness counts: the
	// wait falls back to nothing within two of these once the path keeps
	// order again.
	reorderMemory = 2 * time.Second
)

// NACKStats counts the generator's work for one call.
type NACKStats struct {
	// Expected is the packets the partner sent on the NACKed streams,
	// from the advance of their sequence numbers.
	Expected int64
	Missing  int64 // packets found missing (a gap in sequence numbers)
	NACKs    int64 // requests sent, one per packet per NACK
	Repaired int64 // missing packets that arrived later (retransmitted or reordered)
	// Reordered are the Repaired that came before a repair could have:
	// late originals, not retransmissions.
	Reordered int64
	// RepairedLate are missing packets that arrived after the receiver
	// had given them up (repairWait): too late to be used.
	RepairedLate int64
	Skipped      int64 // missing packets in gaps longer than MaxNACKGap: not asked for
	// MaxPerPacket is the most NACKs sent for any one packet.
	MaxPerPacket int
	// RepairRTT is the smoothed time from a packet's only NACK to its
	// arrival; PathRTT is ICE's latest round trip. A retry waits for the
	// longer of the two.
	RepairRTT, PathRTT time.Duration
	// ReorderWait is the latest wait before a gap's first NACK.
	ReorderWait time.Duration
}

// nackGenerator is an interceptor; one per call (its factory returns it).
type nackGenerator struct {
	interceptor.NoOp
	now func() time.Time
	// pathRTT, when set, reads the path's round trip (ICE's STUN checks).
	pathRTT atomic.Pointer[func() time.Duration]

	mu      sync.Mutex
	streams map[uint32]*nackStream
	stats   NACKStats
	closed  bool
	// The longest lateness of a reordered packet in the current and the
	// previous reorderMemory (a sliding maximum in two halves).
	lateNow, latePrev time.Duration
	lateSince         time.Time

	done chan struct{}
	wg   sync.WaitGroup
}

type nackStream struct {
	started bool
	highest uint16
	missing map[uint16]*missingPacket
	gaveUp  map[uint16]time.Time
}

func newNACKStream() *nackStream {
	return &nackStream{missing: map[uint16]*missingPacket{}, gaveUp: map[uint16]time.Time{}}
}

type missingPacket struct {
	detected, firstNACK, lastNACK time.Time
	nacks                         int
}

func newNACKGenerator() *nackGenerator {
	return &nackGenerator{now: time.Now, streams: map[uint32]*nackStream{}, done: make(chan struct{})}
}

// NewInterceptor hands out the one generator: each call builds its own API.
func (g *nackGenerator) NewInterceptor(string) (interceptor.Interceptor, error) { return g, nil }

func wantsNACK(info *interceptor.StreamInfo) bool {
	for _, fb := range info.RTCPFeedback {
		if fb.Type == "nack" && fb.Parameter == "" {
			return true
		}
	}
	return false
}

func (g *nackGenerator) BindRemoteStream(info *interceptor.StreamInfo, reader interceptor.RTPReader) interceptor.RTPReader {
	if !wantsNACK(info) {
		return reader
	}
	g.mu.Lock()
	g.streams[info.SSRC] = newNACKStream()
	g.mu.Unlock()
	ssrc := info.SSRC
	return interceptor.RTPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		n, attr, err := reader.Read(b, a)
		if err != nil {
			return 0, nil, err
		}
		if attr == nil {
			attr = interceptor.Attributes{}
		}
		h, err := attr.GetRTPHeader(b[:n])
		if err != nil {
			return 0, nil, err
		}
		g.received(ssrc, h.SequenceNumber, g.now())
		return n, attr, nil
	})
}

func (g *nackGenerator) UnbindRemoteStream(info *interceptor.StreamInfo) {
	g.mu.Lock()
	delete(g.streams, info.SSRC)
	g.mu.Unlock()
}

// received records the arrival of seq on ssrc.
func (g *nackGenerator) received(ssrc uint32, seq uint16, now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.streams[ssrc]
	if s == nil {
		return
	}
	if !s.started {
		s.started, s.highest = true, seq
		g.stats.Expected++
		return
	}
	d := seq - s.highest
	switch {
	case d == 0:
		return // a duplicate of the newest
	case d < 0x8000: // newer
		g.stats.Expected += int64(d)
		if gap := int(d) - 1; gap > MaxNACKGap {
			g.stats.Skipped += int64(gap)
		} else {
			for i := 1; i <= gap; i++ {
				s.missing[s.highest+uint16(i)] = &missingPacket{detected: now}
			}
			g.stats.Missing += int64(gap)
		}
		s.highest = seq
	default: // older: a repair, a late packet or a duplicate
		m, ok := s.missing[seq]
		if !ok {
			if _, late := s.gaveUp[seq]; late {
				delete(s.gaveUp, seq)
				g.stats.RepairedLate++
			}
			return
		}
		delete(s.missing, seq)
		g.stats.Repaired++
		if m.nacks == 0 || (g.stats.PathRTT >= minReorderRTT && now.Sub(m.firstNACK) < g.stats.PathRTT/2) {
			g.stats.Reordered++
			g.rotateLateLocked(now)
			g.lateNow = max(g.lateNow, now.Sub(m.detected))
			return
		}
		if m.nacks == 1 {
			sample := now.Sub(m.firstNACK)
			if g.stats.RepairRTT == 0 {
				g.stats.RepairRTT = sample
			} else {
				g.stats.RepairRTT += (sample - g.stats.RepairRTT) / repairRTTWeight
			}
		}
	}
}

// rotateLateLocked moves the reordering window on to now.
func (g *nackGenerator) rotateLateLocked(now time.Time) {
	switch since := now.Sub(g.lateSince); {
	case g.lateSince.IsZero():
		g.lateSince = now
	case since >= 2*reorderMemory:
		g.lateNow, g.latePrev, g.lateSince = 0, 0, now
	case since >= reorderMemory:
		g.latePrev, g.lateNow, g.lateSince = g.lateNow, 0, now
	}
}

// reorderWaitLocked is how long a gap waits before its first NACK: the
// longest lateness of a reordered packet lately, at most MaxReorderWait
// and half the repair wait (a repair must still have time to come).
func (g *nackGenerator) reorderWaitLocked(now time.Time, giveUp time.Duration) time.Duration {
	g.rotateLateLocked(now)
	return min(max(g.lateNow, g.latePrev), MaxReorderWait, giveUp/2)
}

// retryAfterLocked is the wait between two NACKs for one packet: a repair
// takes a round trip, plus the sender's tick. The caller holds mu, as for
// repairWaitLocked.
func (g *nackGenerator) retryAfterLocked() time.Duration {
	rtt := max(g.stats.RepairRTT, g.stats.PathRTT)
	return max(NACKRetryMin, rtt+rtt/2+NACKInterval)
}

// repairWait is how long a missing packet is waited for (and asked for):
// RetransmitWait, or two round trips and two ticks on a longer path, at
// most MaxRetransmitWait.
func (g *nackGenerator) repairWait() time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.repairWaitLocked()
}

func (g *nackGenerator) repairWaitLocked() time.Duration {
	rtt := max(g.stats.RepairRTT, g.stats.PathRTT)
	return min(MaxRetransmitWait, max(RetransmitWait, 2*rtt+2*NACKInterval))
}

// due collects the NACKs to send now, one per stream with missing packets.
func (g *nackGenerator) due(now time.Time, senderSSRC uint32) []rtcp.Packet {
	g.mu.Lock()
	defer g.mu.Unlock()
	retry, giveUp := g.retryAfterLocked(), g.repairWaitLocked()
	wait := g.reorderWaitLocked(now, giveUp)
	g.stats.ReorderWait = wait
	var out []rtcp.Packet
	for ssrc, s := range g.streams {
		for seq, at := range s.gaveUp {
			if now.Sub(at) > lateRepairMemory {
				delete(s.gaveUp, seq)
			}
		}
		var seqs []uint16
		for seq, m := range s.missing {
			if now.Sub(m.detected) > giveUp {
				delete(s.missing, seq)
				s.gaveUp[seq] = now
				continue
			}
			if m.nacks >= MaxNACKsPerPacket || (m.nacks > 0 && now.Sub(m.lastNACK) < retry) ||
				(m.nacks == 0 && now.Sub(m.detected) < wait) {
				continue
			}
			if m.nacks == 0 {
				m.firstNACK = now
			}
			m.nacks++
			m.lastNACK = now
			g.stats.NACKs++
			g.stats.MaxPerPacket = max(g.stats.MaxPerPacket, m.nacks)
			seqs = append(seqs, seq)
		}
		if len(seqs) == 0 {
			continue
		}
		// Oldest first (by distance behind the newest, across the wrap), so
		// the pairs pack tightly.
		hi := s.highest
		slices.SortFunc(seqs, func(a, b uint16) int { return int(hi-b) - int(hi-a) })
		out = append(out, &rtcp.TransportLayerNack{SenderSSRC: senderSSRC, MediaSSRC: ssrc, Nacks: rtcp.NackPairsFromSequenceNumbers(seqs)})
	}
	return out
}

func (g *nackGenerator) BindRTCPWriter(w interceptor.RTCPWriter) interceptor.RTCPWriter {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return w
	}
	g.wg.Add(1)
	go g.loop(w)
	return w
}

func (g *nackGenerator) loop(w interceptor.RTCPWriter) {
	defer g.wg.Done()
	senderSSRC := rand.Uint32()
	tick := time.NewTicker(NACKInterval)
	defer tick.Stop()
	var lastRTT time.Time
	for {
		select {
		case <-g.done:
			return
		case <-tick.C:
		}
		now := g.now()
		if f := g.pathRTT.Load(); f != nil && now.Sub(lastRTT) >= rttRefresh {
			lastRTT = now
			rtt := (*f)()
			g.mu.Lock()
			g.stats.PathRTT = rtt
			g.mu.Unlock()
		}
		for _, p := range g.due(now, senderSSRC) {
			w.Write([]rtcp.Packet{p}, interceptor.Attributes{}) // a lost NACK is retried
		}
	}
}

// pending is how many missing packets are still waited for.
func (g *nackGenerator) pending() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for _, s := range g.streams {
		n += len(s.missing)
	}
	return n
}

// Stats reports the counts so far.
func (g *nackGenerator) Stats() NACKStats {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.stats
}

func (g *nackGenerator) Close() error {
	g.mu.Lock()
	if !g.closed {
		g.closed = true
		close(g.done)
	}
	g.mu.Unlock()
	g.wg.Wait()
	return nil
}
