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

// audioReceiver decodes the partner's Opus, concealing lost packets (FEC
// from the next packet where it has it, PLC otherwise).
type audioReceiver struct {
	track *webrtc.TrackRemote
	dec   *opus.Decoder
	out   func(pcm []int16, seq uint16, lost bool)
	bytes atomic.Int64
}

func newAudioReceiver(t *webrtc.TrackRemote, out func([]int16, uint16, bool)) (*audioReceiver, error) {
	dec, err := opus.NewDecoder(SampleRate, 1)
	if err != nil {
		return nil, err
	}
	if out == nil {
		out = func([]int16, uint16, bool) {}
	}
	return &audioReceiver{track: t, dec: dec, out: out}, nil
}

func (a *audioReceiver) run() {
	var haveSeq bool
	var last uint16
	for {
		pkt, _, err := a.track.ReadRTP()
		if err != nil {
			return
		}
		a.bytes.Add(int64(len(pkt.Payload)))
		if haveSeq {
			d := pkt.SequenceNumber - last
			if d == 0 || d > 0x8000 {
				continue // duplicate or late: already concealed
			}
			if gap := int(d) - 1; gap > 0 {
				for i := 0; i < min(gap, maxConceal); i++ {
					pcm := make([]int16, FrameSamples)
					seq := last + 1 + uint16(i)
					if i == gap-1 {
						// The packet after a loss carries FEC for it.
						if a.dec.DecodeFEC(pkt.Payload, pcm) != nil {
							a.dec.DecodePLC(pcm)
						}
					} else {
						a.dec.DecodePLC(pcm)
					}
					a.out(pcm, seq, true)
				}
			}
		}
		haveSeq, last = true, pkt.SequenceNumber
		pcm := make([]int16, FrameSamples*6) // up to 120 ms per packet
		n, err := a.dec.Decode(pkt.Payload, pcm)
		if err != nil {
			continue
		}
		a.out(pcm[:n], pkt.SequenceNumber, false)
	}
}
