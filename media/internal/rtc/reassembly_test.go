package rtc

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// arrival is one packet arriving: its sequence number, ms after the start.
type arrival struct {
	seq uint16
	ms  int
}

// The sequencer hands packets on in order, holds an early one until its
// gap is filled or has waited long enough, then gives the gap up; late
// duplicates and packets it gave up on are dropped; a jump far ahead is a
// new stream.
func TestSequencer(t *testing.T) {
	const wait = 60 * time.Millisecond
	for _, c := range []struct {
		name string
		in   []arrival
		want string // what comes out, in order: a sequence number, or "x" for a loss
	}{
		{"in order", []arrival{{1, 0}, {2, 1}, {3, 2}}, "1 2 3"},
		{"reordered within the wait", []arrival{{1, 0}, {3, 1}, {2, 10}, {4, 11}}, "1 2 3 4"},
		{"a repair in time", []arrival{{1, 0}, {3, 1}, {4, 2}, {2, 59}}, "1 2 3 4"},
		{"a gap given up after the wait", []arrival{{1, 0}, {3, 1}, {4, 70}}, "1 x 3 4"},
		{"a repair too late is dropped", []arrival{{1, 0}, {3, 1}, {4, 70}, {2, 80}, {5, 81}}, "1 x 3 4 5"},
		{"a duplicate is dropped", []arrival{{1, 0}, {2, 1}, {2, 2}, {3, 3}}, "1 2 3"},
		{"two gaps", []arrival{{1, 0}, {4, 1}, {5, 100}}, "1 x x 4 5"},
		{"across the wrap", []arrival{{65534, 0}, {65535, 1}, {1, 2}, {0, 3}}, "65534 65535 0 1"},
		{"a jump is a new stream", []arrival{{1, 0}, {2, 1}, {3000, 2}, {3001, 3}}, "1 2 x 3000 3001"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var s sequencer
			t0 := time.Unix(1_800_000_000, 0)
			var got []string
			for _, a := range c.in {
				for _, w := range s.push(&rtp.Packet{Header: rtp.Header{SequenceNumber: a.seq}}, t0.Add(time.Duration(a.ms)*time.Millisecond), wait) {
					if w.pkt == nil {
						got = append(got, "x")
					} else {
						got = append(got, fmt.Sprint(w.pkt.SequenceNumber))
					}
				}
			}
			if g := strings.Join(got, " "); g != c.want {
				t.Fatalf("got %q, want %q", g, c.want)
			}
		})
	}
}

// vp8Packet is one RTP packet of a VP8 frame: start says it begins the
// frame (S=1, partition 0); key, with start, makes the frame a keyframe.
func vp8Packet(ts uint32, start, key, marker bool, data string) *rtp.Packet {
	desc := byte(0x00)
	if start {
		desc = 0x10
	}
	payload := []byte{desc}
	if start {
		first := byte(0x01) // inter frame: bit 0 set
		if key {
			first = 0x00
		}
		payload = append(payload, first)
	}
	payload = append(payload, data...)
	return &rtp.Packet{Header: rtp.Header{Timestamp: ts, Marker: marker}, Payload: payload}
}

// The assembler joins a frame's packets and hands the frame on at its
// marker; after a loss only a keyframe is handed on (an inter frame asks
// for one), and a packet of another frame or one without its start is not
// joined to anything.
func TestAssembler(t *testing.T) {
	type step struct {
		pkt  *rtp.Packet // nil: a loss
		want string      // the frame handed on ("" none), or "ask" for a keyframe request
	}
	key := func(ts uint32, d string, m bool) *rtp.Packet { return vp8Packet(ts, true, true, m, d) }
	inter := func(ts uint32, d string, m bool) *rtp.Packet { return vp8Packet(ts, true, false, m, d) }
	more := func(ts uint32, d string, m bool) *rtp.Packet { return vp8Packet(ts, false, false, m, d) }
	for _, c := range []struct {
		name   string
		broken bool // as a new receiver starts: waiting for a keyframe
		steps  []step
	}{
		{"a keyframe in three packets", true, []step{{key(1, "a", false), ""}, {more(1, "b", false), ""}, {more(1, "c", true), "\x00abc"}}},
		{"an inter frame before any keyframe asks for one", true, []step{{inter(1, "a", true), "ask"}, {key(2, "k", true), "\x00k"}}},
		{"frames one after another", false, []step{{inter(1, "a", true), "\x01a"}, {inter(2, "b", false), ""}, {more(2, "c", true), "\x01bc"}}},
		{"a loss inside a frame drops it and asks at the next", false, []step{
			{inter(1, "a", false), ""}, {nil, ""}, {more(1, "c", true), ""}, {inter(2, "d", true), "ask"}, {key(3, "k", true), "\x00k"},
		}},
		{"a packet of another frame without its start is not joined", false, []step{
			{inter(1, "a", false), ""}, {more(2, "z", true), ""}, {inter(3, "b", true), "\x01b"},
		}},
		{"a continuation with nothing begun is ignored", false, []step{{more(1, "z", true), ""}, {inter(2, "b", true), "\x01b"}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := assembler{broken: c.broken}
			for i, s := range c.steps {
				if s.pkt == nil {
					a.lose()
					continue
				}
				frame, ask := a.add(s.pkt, time.Now())
				got := string(frame)
				if ask {
					got = "ask"
				}
				if got != s.want {
					t.Fatalf("step %d: handed on %q, want %q", i, got, s.want)
				}
				if frame != nil {
					a.broken = false // decoded, as the receiver does
				}
			}
		})
	}
}
