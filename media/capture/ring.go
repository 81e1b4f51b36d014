package capture

import (
	"encoding/binary"
	"sync/atomic"
	"unsafe"
)

// ring is a single-producer, single-consumer queue of samples between
// miniaudio's device thread (the producer, in the data callback) and the
// reader. Its memory is allocated once; the producer never allocates,
// never blocks and never waits for the consumer: when the ring is full the
// newest samples are dropped and counted (the reader is more than the
// ring's length behind, which Read reports through Stats).
type ring struct {
	buf  []int16 // length a power of two
	mask uint64
	// w and r count the samples ever written and read. Only the producer
	// stores w, only the consumer stores r.
	w, r    atomic.Uint64
	dropped atomic.Uint64
	// wake has one slot: the producer's non-blocking send tells a waiting
	// consumer that samples arrived.
	wake chan struct{}
}

func newRing(minSamples int) *ring {
	n := 1
	for n < minSamples {
		n <<= 1
	}
	return &ring{buf: make([]int16, n), mask: uint64(n - 1), wake: make(chan struct{}, 1)}
}

// writeS16LE copies 16-bit little-endian samples out of the device's
// buffer (which miniaudio reuses after the callback returns).
func (q *ring) writeS16LE(b []byte) {
	n := len(b) / 2
	if n == 0 {
		return
	}
	w, r := q.w.Load(), q.r.Load()
	free := uint64(len(q.buf)) - (w - r)
	if uint64(n) > free {
		q.dropped.Add(uint64(n) - free)
		n = int(free)
	}
	if n > 0 {
		if hostLittleEndian && uintptr(unsafe.Pointer(&b[0]))%2 == 0 {
			src := unsafe.Slice((*int16)(unsafe.Pointer(&b[0])), n)
			i := int(w & q.mask)
			c := copy(q.buf[i:], src)
			copy(q.buf, src[c:])
		} else {
			for k := 0; k < n; k++ {
				q.buf[(w+uint64(k))&q.mask] = int16(binary.LittleEndian.Uint16(b[2*k:]))
			}
		}
		q.w.Store(w + uint64(n))
	}
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// available is how many samples wait to be read.
func (q *ring) available() int { return int(q.w.Load() - q.r.Load()) }

// read copies len(p) samples out; the caller checked available.
func (q *ring) read(p []int16) {
	r := q.r.Load()
	i := int(r & q.mask)
	c := copy(p, q.buf[i:])
	copy(p[c:], q.buf)
	q.r.Store(r + uint64(len(p)))
}

// skip drops the oldest n samples; the caller checked available.
func (q *ring) skip(n int) { q.r.Store(q.r.Load() + uint64(n)) }

var hostLittleEndian = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()
