package record

// Recovery of a segment its writer never closed (the kiosk was killed, or
// the power went): the file is cut after its last whole element (Repair),
// its frames are counted and its last timecode found, and the Duration and
// segment size that Close would have written are patched in, so that the
// segment plays and seeks like one closed in order.

import (
	"encoding/binary"
	"fmt"
	"os"
)

// Recovered describes a segment after Recover.
type Recovered struct {
	// Cut is how many bytes of a half-written cluster were removed.
	Cut int64
	// LastMS is the newest frame's timecode, ms after the segment's start.
	LastMS       int64
	VideoFrames  int
	AudioPackets int
	Bytes        int64
	// Closed: the file had been closed in order; nothing was changed.
	Closed bool
}

// contents is what a walk of a segment's bytes finds.
type contents struct {
	segDataAt  int  // where the segment's data begins (its 8-byte size ends)
	sizeKnown  bool // the segment's size was written (closed in order)
	durationAt int  // the reserved Duration slot's offset; -1 if none
	lastMS     int64
	video      int
	audio      int
}

// Recover finishes the segment at path: see the file comment.
func Recover(path string) (Recovered, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Recovered{}, fmt.Errorf("record: %w", err)
	}
	n, err := wholeLength(b)
	if err != nil {
		return Recovered{}, fmt.Errorf("record %s: %w", path, err)
	}
	c, err := scan(b[:n])
	if err != nil {
		return Recovered{}, fmt.Errorf("record %s: %w", path, err)
	}
	r := Recovered{Cut: int64(len(b) - n), LastMS: c.lastMS, VideoFrames: c.video, AudioPackets: c.audio, Bytes: int64(n)}
	if c.sizeKnown && r.Cut == 0 {
		r.Closed = true
		return r, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return r, fmt.Errorf("record: %w", err)
	}
	defer f.Close()
	fail := func(err error) (Recovered, error) { return r, fmt.Errorf("record %s: %w", path, err) }
	if err := f.Truncate(int64(n)); err != nil {
		return fail(err)
	}
	if c.durationAt >= 0 {
		if _, err := f.WriteAt(durationElem(float64(c.lastMS)), int64(c.durationAt)); err != nil {
			return fail(err)
		}
	}
	if c.segDataAt >= 8 {
		if _, err := f.WriteAt(size8(uint64(n-c.segDataAt)), int64(c.segDataAt-8)); err != nil {
			return fail(err)
		}
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	return r, nil
}

// scan walks whole elements b (as wholeLength leaves them) and reports
// what the segment holds. It never panics on any input (FuzzScan).
func scan(b []byte) (contents, error) {
	c := contents{durationAt: -1}
	at := 0
	elem := func(at int) (id uint64, dataAt int, size uint64, unknown bool, err error) {
		id, n, _, err := readVint(b[at:], true)
		if err != nil {
			return
		}
		size, m, unknown, err := readVint(b[at+n:], false)
		return id, at + n + m, size, unknown, err
	}
	// The EBML header, then the segment.
	id, dataAt, size, _, err := elem(at)
	if err != nil || id != idEBML || size > uint64(len(b)-dataAt) {
		return c, fmt.Errorf("%w: no EBML header", ErrNotWebM)
	}
	at = dataAt + int(size)
	id, dataAt, size, unknown, err := elem(at)
	if err != nil || id != idSegment {
		return c, fmt.Errorf("%w: no segment after the header", ErrNotWebM)
	}
	c.segDataAt, c.sizeKnown = dataAt, !unknown
	end := len(b)
	if !unknown && size <= uint64(len(b)-dataAt) {
		end = dataAt + int(size)
	}
	// children walks the elements between from and to, calling f for each.
	children := func(from, to int, f func(id uint64, dataAt, end int)) {
		for at := from; at < to; {
			id, dataAt, size, unknown, err := elem(at)
			if err != nil || unknown || dataAt > to || size > uint64(to-dataAt) {
				return
			}
			f(id, dataAt, dataAt+int(size))
			at = dataAt + int(size)
		}
	}
	first := true
	children(dataAt, end, func(id uint64, from, to int) {
		switch id {
		case idInfo:
			children(from, to, func(id uint64, from, to int) {
				if id == idVoid && to-from == durationSlot-2 {
					c.durationAt = from - 2
				}
			})
		case idCluster:
			var tc int64
			children(from, to, func(id uint64, from, to int) {
				switch {
				case id == idTimecode && to-from <= 8:
					tc = 0
					for _, x := range b[from:to] {
						tc = tc<<8 | int64(x)
					}
				case id == idSimpleBlock && to-from >= 4:
					ms := tc + int64(int16(binary.BigEndian.Uint16(b[from+1:])))
					if first || ms > c.lastMS {
						c.lastMS, first = ms, false
					}
					switch b[from] & 0x7F {
					case videoTrack:
						c.video++
					case audioTrack:
						c.audio++
					}
				}
			})
		}
	})
	return c, nil
}
