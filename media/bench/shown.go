package bench

import (
	"image"
	"sync"
	"time"

	"github.com/parley-lab/parley/media/testsrc"
)

// Shown collects, for each partner frame a kiosk hands to its canvas (the
// ui's OnPartnerFrameShown), the time since its capture, read from the
// test source's stamp. Its methods are safe from any goroutine.
type Shown struct {
	mu sync.Mutex
	d  []time.Duration
}

// Frame takes one frame shown at at.
func (s *Shown) Frame(img *image.RGBA, at time.Time) {
	if st, ok := testsrc.ReadStamp(img, at); ok {
		s.mu.Lock()
		s.d = append(s.d, at.Sub(st.Captured))
		s.mu.Unlock()
	}
}

// Restart drops what was collected so far.
func (s *Shown) Restart() {
	s.mu.Lock()
	s.d = s.d[:0]
	s.mu.Unlock()
}

// Samples returns a copy of what was collected since the last Restart.
func (s *Shown) Samples() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.d...)
}

// ShownMS is Samples in milliseconds (a participant process's report).
func (s *Shown) ShownMS() []float64 {
	var out []float64
	for _, d := range s.Samples() {
		out = append(out, float64(d.Microseconds())/1000)
	}
	return out
}
