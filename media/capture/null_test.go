package capture

import (
	"errors"
	"testing"
	"time"

	"github.com/gen2brain/malgo"
)

// openLimit bounds how long a test waits for a device to deliver.
const openLimit = 10 * time.Second

// miniaudio's null backend: a real device thread with no hardware. The
// microphone opens, delivers whole frames in real time, and closes within
// its bound, also while a Read waits.
func TestNullBackendMicrophone(t *testing.T) {
	devs, err := List([]malgo.Backend{NullBackend})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("null backend devices: %+v", devs)
	m, err := Open(Config{Backends: []malgo.Backend{NullBackend}, StartLimit: openLimit, SilenceLimit: openLimit})
	if err != nil {
		t.Fatal(err)
	}
	pcm := make([]int16, FrameSamples)
	for i := 0; i < 5; i++ {
		if err := m.Read(pcm); err != nil {
			t.Fatal(err)
		}
	}
	if st := m.Stats(); st.Read != 5*FrameSamples || st.Dropped != 0 {
		t.Fatalf("stats %+v", st)
	}
	// A Read for more than arrives before Close returns ErrClosed, promptly.
	errc := make(chan error, 1)
	go func() { errc <- m.Read(make([]int16, 1<<20)) }()
	if err := <-errc; err == nil {
		t.Fatal("a read larger than the ring succeeded")
	}
	go func() { errc <- m.Read(make([]int16, SampleRate)) }() // one second: Close comes first
	start := time.Now()
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; !errors.Is(err, ErrClosed) && err != nil {
		t.Fatalf("read during close: %v", err)
	}
	if d := time.Since(start); d > DefaultCloseLimit {
		t.Fatalf("close took %v", d)
	}
	if err := m.Read(pcm); !errors.Is(err, ErrClosed) {
		t.Fatalf("read after close: %v", err)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
}

// A device that stops delivering is reported as ErrNoSignal, not a hang.
func TestReadReportsNoSignal(t *testing.T) {
	m := &Mic{cfg: Config{SilenceLimit: 50 * time.Millisecond}, q: newRing(4096), closed: make(chan struct{})}
	m.q.writeS16LE(le(1, 2, 3))
	pcm := make([]int16, FrameSamples)
	if err := m.Read(pcm); !errors.Is(err, ErrNoSignal) {
		t.Fatalf("got %v, want ErrNoSignal", err)
	}
	// The samples that came stay for the next read once the rest arrives.
	done := make(chan error, 1)
	go func() { done <- m.Read(pcm) }()
	m.q.writeS16LE(le(make([]int16, FrameSamples-3)...))
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if pcm[0] != 1 || pcm[1] != 2 || pcm[2] != 3 {
		t.Fatalf("got %v", pcm[:3])
	}
}

// A reader that fell behind skips to the newest samples when MaxBacklog
// is set, and counts what it skipped; without it every sample comes.
func TestReadKeepsTheBacklogBounded(t *testing.T) {
	for _, tc := range []struct {
		backlog       time.Duration
		first         int16
		skipped, read uint64
	}{{0, 1, 0, FrameSamples}, {10 * time.Millisecond, 1 + 4*FrameSamples, 4 * FrameSamples, FrameSamples}} {
		m := &Mic{cfg: Config{SilenceLimit: time.Second, MaxBacklog: tc.backlog}, q: newRing(1 << 14), closed: make(chan struct{})}
		all := make([]int16, 5*FrameSamples)
		for i := range all {
			all[i] = int16(i + 1)
		}
		m.q.writeS16LE(le(all...))
		pcm := make([]int16, FrameSamples)
		if err := m.Read(pcm); err != nil {
			t.Fatal(err)
		}
		st := m.Stats()
		if pcm[0] != tc.first || st.Skipped != tc.skipped || st.Read != tc.read {
			t.Errorf("backlog %v: first sample %d, stats %+v; want %d, skipped %d, read %d", tc.backlog, pcm[0], st, tc.first, tc.skipped, tc.read)
		}
	}
}
