package capture

import (
	"encoding/binary"
	"testing"
)

func le(samples ...int16) []byte {
	b := make([]byte, 2*len(samples))
	for i, s := range samples {
		binary.LittleEndian.PutUint16(b[2*i:], uint16(s))
	}
	return b
}

// The ring copies what it is given: the producer's buffer is reused (as
// miniaudio reuses the device buffer) and the reader still sees the
// original samples, in order, across the wrap-around.
func TestRingCopiesAndWraps(t *testing.T) {
	q := newRing(8)
	buf := make([]byte, 6)
	var want []int16
	var got []int16
	next := int16(1)
	for round := 0; round < 20; round++ {
		for i := 0; i < 3; i++ {
			binary.LittleEndian.PutUint16(buf[2*i:], uint16(next))
			want = append(want, next)
			next++
		}
		q.writeS16LE(buf)
		for i := range buf {
			buf[i] = 0xAA // the device overwrites its buffer after the callback
		}
		if q.available() >= 4 {
			p := make([]int16, 4)
			q.read(p)
			got = append(got, p...)
		}
	}
	for q.available() > 0 {
		p := make([]int16, 1)
		q.read(p)
		got = append(got, p...)
	}
	if len(got) != len(want) {
		t.Fatalf("read %d samples, wrote %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("sample %d: got %d, want %d", i, got[i], want[i])
		}
	}
	if d := q.dropped.Load(); d != 0 {
		t.Fatalf("dropped %d", d)
	}
}

// A full ring drops the newest samples and counts them; what it holds is intact.
func TestRingFullDropsNewest(t *testing.T) {
	q := newRing(4)
	q.writeS16LE(le(1, 2, 3))
	q.writeS16LE(le(4, 5, 6))
	if d := q.dropped.Load(); d != 2 {
		t.Fatalf("dropped %d, want 2", d)
	}
	p := make([]int16, 4)
	q.read(p)
	if p[0] != 1 || p[1] != 2 || p[2] != 3 || p[3] != 4 {
		t.Fatalf("got %v, want [1 2 3 4]", p)
	}
}

// An odd-aligned device buffer takes the byte-wise path with the same result.
func TestRingUnaligned(t *testing.T) {
	q := newRing(8)
	b := append([]byte{0}, le(-2, 300, 32767)...)
	q.writeS16LE(b[1:])
	p := make([]int16, 3)
	q.read(p)
	if p[0] != -2 || p[1] != 300 || p[2] != 32767 {
		t.Fatalf("got %v", p)
	}
}

// The producer path does not allocate.
func TestRingWriteDoesNotAllocate(t *testing.T) {
	q := newRing(1 << 12)
	b := le(make([]int16, 480)...)
	p := make([]int16, 480)
	if n := testing.AllocsPerRun(100, func() { q.writeS16LE(b); q.read(p) }); n != 0 {
		t.Fatalf("%v allocations per write", n)
	}
}
