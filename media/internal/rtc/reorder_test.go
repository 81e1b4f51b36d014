package rtc

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hraban/opus"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/parley-lab/parley/media/testsrc"
	"github.com/parley-lab/parley/signaling/protocol"

	"github.com/parley-lab/parley/signaling/testkit"
)

// reorderEvery: the test's audio sender swaps every reorderEvery-th
// packet with the one after it (pion's vnet router keeps order, so the
// reordering is made at the sender).
const (
	reorderEvery = 10
	reorderSwaps = 30
)

// Audio out of order with nothing lost: each packet that comes after its
// successor is concealed first and then still handed on, with its own
// sequence number, for the jitter buffer to play in its place.
func TestReorderedAudioIsHandedOn(t *testing.T) {
	n := newTestNet(t, time.Millisecond, nil, nil)
	track, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", "reorder")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	newest, started := uint16(0), false
	var concealed, late, swapped atomic.Int64
	relayB, relayA := &relay{}, &relay{}
	var connected atomic.Bool
	a, err := New(Config{Peer: "b", Offerer: true, Send: relayB.send, Audio: track, Net: n.a, Log: quiet,
		OnState: func(s string) { connected.Store(s == protocol.CallConnected) }})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := New(Config{Peer: "a", Send: relayA.send, Net: n.b, Log: quiet,
		OnAudio: func(_ []int16, seq uint16, lost bool) {
			mu.Lock()
			defer mu.Unlock()
			switch {
			case lost:
				concealed.Add(1)
			case started && seq-newest > 0x8000:
				late.Add(1)
			}
			if !started || (seq-newest != 0 && seq-newest < 0x8000) {
				started, newest = true, seq
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	relayB.connect(b)
	relayA.connect(a)
	testkit.Eventually(t, "the call", connected.Load)

	enc, err := opus.NewEncoder(SampleRate, 1, opus.AppVoIP)
	if err != nil {
		t.Fatal(err)
	}
	tone := testsrc.NewTone(440, SampleRate)
	pcm := make([]int16, FrameSamples)
	packet := func(seq uint16) *rtp.Packet {
		tone.Fill(pcm)
		buf := make([]byte, 1500)
		k, err := enc.Encode(pcm, buf)
		if err != nil {
			t.Fatal(err)
		}
		return &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: uint32(seq) * FrameSamples}, Payload: buf[:k]}
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for seq := uint16(1); swapped.Load() < reorderSwaps || late.Load() < reorderSwaps && seq < 2000; seq++ {
		<-tick.C
		if seq%reorderEvery == 0 && swapped.Load() < reorderSwaps {
			first, second := packet(seq), packet(seq+1)
			track.WriteRTP(second)
			track.WriteRTP(first)
			swapped.Add(1)
			seq++
			continue
		}
		track.WriteRTP(packet(seq))
	}
	t.Logf("%d pairs swapped: %d frames concealed, %d late packets handed on", swapped.Load(), concealed.Load(), late.Load())
	if late.Load() < reorderSwaps {
		t.Errorf("%d of %d reordered packets handed on", late.Load(), reorderSwaps)
	}
	if concealed.Load() > reorderSwaps {
		t.Errorf("%d frames concealed for %d swaps and nothing lost", concealed.Load(), reorderSwaps)
	}
}
