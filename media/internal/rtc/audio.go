package rtc

import (
	"sync/atomic"

	"github.com/hraban/opus"
	"github.com/pion/webrtc/v4"
)

// Audio format on the wire and to the player.
const (
	SampleRate   = 48000
	FrameSamples = SampleRate / 50 // 20 ms
	// maxConceal bounds how many lost 20 ms frames are concealed at once;
	// a longer gap is silence.
	maxConceal = 5
)

// MaxLateAudio is how far behind the newest packet (in 20 ms packets) a
// late packet is still decoded and handed on: the player's jitter buffer
// (at most 120 ms and its slack) may still hold the concealed frame it
// replaces.
const MaxLateAudio = 8

// audioReceiver decodes the partner's Opus, concealing lost packets (FEC
// from the next packet where it has it, PLC otherwise). A packet that
// arrives after its place was concealed is decoded too (by a decoder of
// its own, so the main decoder's state stays in order) and handed on with
// its sequence number: the jitter buffer plays it in its place if it has
// not played that place yet.
type audioReceiver struct {
	track *webrtc.TrackRemote
	dec   *opus.Decoder
	late  *opus.Decoder
	out   func(pcm []int16, seq uint16, lost bool)
	bytes atomic.Int64

	haveSeq bool
	last    uint16
	// got records the recent packets that arrived (a late one is decoded
	// once, a duplicate never).
	got [2 * MaxLateAudio]struct {
		seq uint16
		ok  bool
	}
}

func newAudioReceiver(t *webrtc.TrackRemote, out func([]int16, uint16, bool)) (*audioReceiver, error) {
	dec, err := opus.NewDecoder(SampleRate, 1)
	if err != nil {
		return nil, err
	}
	late, err := opus.NewDecoder(SampleRate, 1)
	if err != nil {
		return nil, err
	}
	if out == nil {
		out = func([]int16, uint16, bool) {}
	}
	return &audioReceiver{track: t, dec: dec, late: late, out: out}, nil
}

func (a *audioReceiver) run() {
	for {
		pkt, _, err := a.track.ReadRTP()
		if err != nil {
			return
		}
		a.bytes.Add(int64(len(pkt.Payload)))
		a.handle(pkt.SequenceNumber, pkt.Payload)
	}
}

func (a *audioReceiver) mark(seq uint16) bool {
	g := &a.got[int(seq)%len(a.got)]
	if g.ok && g.seq == seq {
		return false
	}
	g.seq, g.ok = seq, true
	return true
}

// handle decodes one packet in arrival order.
func (a *audioReceiver) handle(seq uint16, payload []byte) {
	if a.haveSeq {
		d := seq - a.last
		if d == 0 {
			return // duplicate
		}
		if d > 0x8000 { // older than the newest
			if age := a.last - seq; age > MaxLateAudio || !a.mark(seq) {
				return // too late for any buffer, or a duplicate
			}
			pcm := make([]int16, FrameSamples*6)
			n, err := a.late.Decode(payload, pcm)
			if err != nil {
				return
			}
			a.out(pcm[:n], seq, false)
			return
		}
		if gap := int(d) - 1; gap > 0 {
			for i := 0; i < min(gap, maxConceal); i++ {
				pcm := make([]int16, FrameSamples)
				s := a.last + 1 + uint16(i)
				if i == gap-1 {
					// The packet after a loss carries FEC for it.
					if a.dec.DecodeFEC(payload, pcm) != nil {
						a.dec.DecodePLC(pcm)
					}
				} else {
					a.dec.DecodePLC(pcm)
				}
				a.out(pcm, s, true)
			}
		}
	}
	a.haveSeq, a.last = true, seq
	a.mark(seq)
	pcm := make([]int16, FrameSamples*6) // up to 120 ms per packet
	n, err := a.dec.Decode(payload, pcm)
	if err != nil {
		return
	}
	a.out(pcm[:n], seq, false)
}
