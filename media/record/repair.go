package record

// Repair of a segment cut short: a kiosk killed, or a power cut, while a
// cluster was being written leaves part of it at the file's end. The
// segment's elements are walked and the file cut after the last whole one.

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// ErrNotWebM means a file does not start as the segments Parley writes.
var ErrNotWebM = errors.New("not a WebM segment")

// readVint reads an EBML variable-length integer at b[0:]: its value (the
// marker bit kept when id is set, as element IDs are written), length,
// and whether it is the reserved "unknown" value.
func readVint(b []byte, id bool) (v uint64, n int, unknown bool, err error) {
	if len(b) == 0 {
		return 0, 0, false, io.ErrUnexpectedEOF
	}
	n = 1
	for n <= 8 && b[0]&(0x80>>(n-1)) == 0 {
		n++
	}
	if n > 8 {
		return 0, 0, false, fmt.Errorf("%w: a length marker of more than 8 bytes", ErrNotWebM)
	}
	if len(b) < n {
		return 0, 0, false, io.ErrUnexpectedEOF
	}
	v = uint64(b[0])
	if !id {
		v &= 0xFF >> n
	}
	ones := v == uint64(0xFF>>n)
	for i := 1; i < n; i++ {
		v = v<<8 | uint64(b[i])
		ones = ones && b[i] == 0xFF
	}
	return v, n, ones && !id, nil
}

// wholeLength is how many of b's bytes form whole elements: the EBML
// header, then the segment's children up to the last one that is
// complete. It fails when b does not begin with an EBML header and a
// segment.
func wholeLength(b []byte) (int, error) {
	at := 0
	elem := func() (id uint64, dataAt int, size uint64, unknown bool, err error) {
		id, n, _, err := readVint(b[at:], true)
		if err != nil {
			return
		}
		size, m, unknown, err := readVint(b[at+n:], false)
		return id, at + n + m, size, unknown, err
	}
	id, dataAt, size, _, err := elem()
	if err != nil || id != idEBML || size > uint64(len(b)-dataAt) {
		return 0, fmt.Errorf("%w: no EBML header", ErrNotWebM)
	}
	at = dataAt + int(size)
	id, dataAt, size, unknown, err := elem()
	if err != nil || id != idSegment {
		return 0, fmt.Errorf("%w: no segment after the header", ErrNotWebM)
	}
	end := len(b)
	if !unknown && size <= uint64(len(b)-dataAt) {
		end = dataAt + int(size)
	}
	at = dataAt
	for at < end {
		_, dataAt, size, unknown, err := elem()
		if err != nil || unknown || dataAt > end || size > uint64(end-dataAt) {
			break // a child cut short (or of a size we never write)
		}
		at = dataAt + int(size)
	}
	return at, nil
}

// Repair cuts a segment file after its last whole element and reports how
// many bytes it removed (0 for a file closed in order, or cut exactly
// between clusters). A file that is not a segment is left as it is.
func Repair(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("record: %w", err)
	}
	n, err := wholeLength(b)
	if err != nil {
		return 0, fmt.Errorf("record %s: %w", path, err)
	}
	if n == len(b) {
		return 0, nil
	}
	if err := os.Truncate(path, int64(n)); err != nil {
		return 0, fmt.Errorf("record: %w", err)
	}
	return int64(len(b) - n), nil
}
