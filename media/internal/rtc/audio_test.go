package rtc

import (
	"testing"

	"github.com/hraban/opus"

	"github.com/parley-lab/parley/media/testsrc"
)

type audioOut struct {
	seq  uint16
	lost bool
	n    int
}

// Packets out of order: the gap is concealed when the later packet comes,
// and the late packet is still decoded and handed on with its number (the
// jitter buffer puts it in its place); a duplicate and a packet further
// behind than MaxLateAudio are not.
func TestAudioReceiverHandsOnLatePackets(t *testing.T) {
	enc, err := opus.NewEncoder(SampleRate, 1, opus.AppVoIP)
	if err != nil {
		t.Fatal(err)
	}
	tone := testsrc.NewTone(440, SampleRate)
	pkts := map[uint16][]byte{}
	pcm := make([]int16, FrameSamples)
	for seq := uint16(65530); seq != 20; seq++ { // across the wrap
		tone.Fill(pcm)
		b := make([]byte, 1500)
		n, err := enc.Encode(pcm, b)
		if err != nil {
			t.Fatal(err)
		}
		pkts[seq] = b[:n]
	}
	var got []audioOut
	a, err := newAudioReceiver(nil, func(pcm []int16, seq uint16, lost bool) { got = append(got, audioOut{seq, lost, len(pcm)}) })
	if err != nil {
		t.Fatal(err)
	}
	order := []uint16{65534, 65535, 1, 0, 0, 2, 3, 19, 19 - MaxLateAudio - 1, 19 - MaxLateAudio}
	for _, seq := range order {
		a.handle(seq, pkts[seq])
	}
	want := []audioOut{
		{65534, false, FrameSamples}, {65535, false, FrameSamples},
		{0, true, FrameSamples}, {1, false, FrameSamples}, // 0 concealed when 1 comes
		{0, false, FrameSamples}, // 0 late: decoded and handed on; its duplicate is not
		{2, false, FrameSamples}, {3, false, FrameSamples},
		{4, true, FrameSamples}, {5, true, FrameSamples}, {6, true, FrameSamples}, {7, true, FrameSamples}, {8, true, FrameSamples}, // maxConceal
		{19, false, FrameSamples},
		// 10 is further than MaxLateAudio behind: dropped; 11 is exactly that far: decoded
		{19 - MaxLateAudio, false, FrameSamples},
	}
	if len(got) != len(want) {
		t.Fatalf("got %v\nwant %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("output %d: got %+v, want %+v\nall: %v", i, got[i], want[i], got)
		}
	}
}
