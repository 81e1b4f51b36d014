package rtc

import (
	"sync"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
)

// Retransmission budget on the sending side: whatever a partner asks for
// (a browser, or our own generator after an outage), retransmissions may
// use at most RetransmitShare of the bytes of new media sent, with at most
// RetransmitBurst saved up. A retransmission over the budget is not sent.
const (
	RetransmitShare = 0.25
	RetransmitBurst = 32 << 10 // bytes
)

// RetransmitStats counts the sender's repairs for one call.
type RetransmitStats struct {
	MediaPackets, MediaBytes int64 // new media sent (RTP header and payload)
	Retransmitted            int64 // packets sent again
	RetransmittedBytes       int64
	OverBudget               int64 // retransmissions not sent: over the budget
}

// retransmitBudget sits between the NACK responder and the network (it is
// registered before the responder, so its writer wraps the network's). A
// packet whose sequence number is not newer than the newest sent on its
// SSRC is a retransmission (we negotiate no RTX).
type retransmitBudget struct {
	interceptor.NoOp

	mu      sync.Mutex
	tokens  float64
	highest map[uint32]uint16
	stats   RetransmitStats
}

func newRetransmitBudget() *retransmitBudget {
	return &retransmitBudget{highest: map[uint32]uint16{}, tokens: RetransmitBurst}
}

func (b *retransmitBudget) NewInterceptor(string) (interceptor.Interceptor, error) { return b, nil }

func (b *retransmitBudget) BindLocalStream(_ *interceptor.StreamInfo, w interceptor.RTPWriter) interceptor.RTPWriter {
	return interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
		size := h.MarshalSize() + len(payload)
		if !b.admit(h.SSRC, h.SequenceNumber, size) {
			return size, nil // dropped on purpose: not an error for the responder
		}
		return w.Write(h, payload, a)
	})
}

// admit counts a packet and says whether it may be sent.
func (b *retransmitBudget) admit(ssrc uint32, seq uint16, size int) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	hi, ok := b.highest[ssrc]
	if !ok || (seq-hi != 0 && seq-hi < 0x8000) {
		b.highest[ssrc] = seq
		b.stats.MediaPackets++
		b.stats.MediaBytes += int64(size)
		b.tokens = min(b.tokens+RetransmitShare*float64(size), RetransmitBurst)
		return true
	}
	if b.tokens < float64(size) {
		b.stats.OverBudget++
		return false
	}
	b.tokens -= float64(size)
	b.stats.Retransmitted++
	b.stats.RetransmittedBytes += int64(size)
	return true
}

func (b *retransmitBudget) UnbindLocalStream(info *interceptor.StreamInfo) {
	b.mu.Lock()
	delete(b.highest, info.SSRC)
	b.mu.Unlock()
}

// Stats reports the counts so far.
func (b *retransmitBudget) Stats() RetransmitStats {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.stats
}
