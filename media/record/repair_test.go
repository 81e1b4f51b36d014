package record

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/parley-lab/parley/media/record/recordtest"
)

// crashed writes 3 s of the test call and returns the file's bytes as a
// crash would leave them (the segment's size unknown), and the offset of
// every element boundary after the header.
func crashed(t *testing.T) (b []byte, boundaries map[int]bool) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "seg.webm")
	start := time.Now()
	w, err := Create(path, Tracks{Video: true, Width: testW, Height: testH, Audio: true}, start)
	if err != nil {
		t.Fatal(err)
	}
	recordtest.Feed(w, recordtest.MustSource(t, testW, testH, testFPS), start, 3*time.Second)
	if _, err := w.Close(start.Add(3 * time.Second)); err != nil {
		t.Fatal(err)
	}
	b, err = os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	copy(b[w.segDataAt-8:], unknownSize)
	boundaries = map[int]bool{}
	for at := int(w.segDataAt); at < len(b); {
		boundaries[at] = true
		_, n, _, err := readVint(b[at:], true)
		if err != nil {
			t.Fatal(err)
		}
		size, m, _, err := readVint(b[at+n:], false)
		if err != nil {
			t.Fatal(err)
		}
		at += n + m + int(size)
	}
	boundaries[len(b)] = true
	return b, boundaries
}

// A file cut anywhere after its header is cut back to the last whole
// element before that point, never further.
func TestRepairCutsBackToTheLastWholeElement(t *testing.T) {
	b, bounds := crashed(t)
	first := len(b)
	for at := range bounds {
		first = min(first, at)
	}
	for cut := first; cut <= len(b); cut += 97 {
		n, err := wholeLength(b[:cut])
		if err != nil {
			t.Fatalf("cut at %d: %v", cut, err)
		}
		if !bounds[n] || n > cut {
			t.Fatalf("cut at %d: kept %d, not an element boundary", cut, n)
		}
		// Nothing whole is lost: no boundary lies between n and cut.
		for at := range bounds {
			if at > n && at <= cut {
				t.Fatalf("cut at %d: kept %d, but the element ending at %d was whole", cut, n, at)
			}
		}
	}
}

// Repair of a file with a half-written last cluster removes exactly that
// part; a file that is not a segment is refused and left as it is.
func TestRepairFile(t *testing.T) {
	b, bounds := crashed(t)
	last := 0 // the last cluster's start
	for at := range bounds {
		if at < len(b) {
			last = max(last, at)
		}
	}
	dir := t.TempDir()
	// A cluster whose write was cut off after 200 bytes.
	torn := append(append([]byte(nil), b...), b[last:last+200]...)
	path := filepath.Join(dir, "torn.webm")
	if err := os.WriteFile(path, torn, 0o600); err != nil {
		t.Fatal(err)
	}
	cut, err := Repair(path)
	if err != nil || cut != 200 {
		t.Fatalf("repair cut %d bytes (%v), want 200", cut, err)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, b) {
		t.Fatal("the repaired file is not the whole clusters")
	}
	other := filepath.Join(dir, "notes.txt")
	os.WriteFile(other, []byte("not a recording"), 0o600)
	if _, err := Repair(other); !errors.Is(err, ErrNotWebM) {
		t.Fatalf("a text file: %v, want ErrNotWebM", err)
	}
	if got, _ := os.ReadFile(other); string(got) != "not a recording" {
		t.Fatal("a file that is not a segment was changed")
	}
}

// The segment walker takes any bytes without panicking, and never keeps
// more than it was given.
func FuzzWholeLength(f *testing.F) {
	f.Add(append(ebmlHeader(), 0x18, 0x53, 0x80, 0x67, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xEC, 0x81, 0))
	f.Add([]byte{0x1A, 0x45, 0xDF, 0xA3, 0x80})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := wholeLength(b)
		if err == nil && (n < 0 || n > len(b)) {
			t.Fatalf("kept %d of %d bytes", n, len(b))
		}
	})
}

// The segment scanner takes any bytes without panicking.
func FuzzScan(f *testing.F) {
	head := append(ebmlHeader(), 0x18, 0x53, 0x80, 0x67, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF)
	inf, _ := info()
	cluster := appendElem(nil, idCluster, simpleBlock(appendUint(nil, idTimecode, 1000), videoTrack, 5, true, []byte{0, 1, 2}))
	f.Add(append(append(append([]byte(nil), head...), inf...), cluster...))
	f.Add([]byte{0x1A, 0x45, 0xDF, 0xA3, 0x80})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := scan(b)
		if err == nil && (c.durationAt >= len(b) || c.segDataAt > len(b)) {
			t.Fatalf("offsets past the end: %+v of %d bytes", c, len(b))
		}
	})
}
