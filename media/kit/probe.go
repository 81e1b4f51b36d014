package kit

import (
	"image"
	"math"
	"sort"
	"sync"
	"time"

	"github.com/parley-lab/parley/media/rtc"
	"github.com/parley-lab/parley/media/testsrc"
)

func mathFloat64bits(f float64) uint64     { return math.Float64bits(f) }
func mathFloat64frombits(b uint64) float64 { return math.Float64frombits(b) }

// probeState keeps what the self-test and the benchmark measure of the
// partner's media: frame stamps (order and capture-to-decode latency) and
// the last couple of seconds of received audio.
type probeState struct {
	mu        sync.Mutex
	decoded   int64
	lastFrame uint32
	haveFrame bool
	inOrder   bool
	latencies []time.Duration
	windows   [][]int16
}

func (p *probeState) init() { p.inOrder = true }

func (p *probeState) video(img *image.YCbCr, at time.Time) {
	s, ok := testsrc.ReadStamp(img, at)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.decoded++
	if !ok {
		return
	}
	if p.haveFrame && s.Frame <= p.lastFrame {
		p.inOrder = false
	}
	p.haveFrame, p.lastFrame = true, s.Frame
	p.latencies = append(p.latencies, at.Sub(s.Captured))
}

func (p *probeState) audio(pcm []int16) {
	if len(pcm) != rtc.FrameSamples {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.windows = append(p.windows, append([]int16(nil), pcm...))
	if len(p.windows) > probeWindows {
		p.windows = p.windows[1:]
	}
}

// ProbeReport is what the kit measured of the partner's media.
type ProbeReport struct {
	FramesDecoded     int64
	StampsInOrder     bool
	Stamped           int
	VideoLatencyP50MS float64
	VideoLatencyP95MS float64
	VideoLatencies    []time.Duration
	PartnerTone       float64 // share of recent 20 ms windows where partnerHz dominates
	OwnTone           float64 // the same for ownHz: an echo of oneself
}

// Probe reports the measurements; the tones are checked in the received audio.
func (k *Kit) Probe(partnerHz, ownHz float64) ProbeReport {
	p := &k.probe
	p.mu.Lock()
	defer p.mu.Unlock()
	r := ProbeReport{FramesDecoded: p.decoded, StampsInOrder: p.inOrder, Stamped: len(p.latencies)}
	lat := append([]time.Duration(nil), p.latencies...)
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	r.VideoLatencies = lat
	if n := len(lat); n > 0 {
		r.VideoLatencyP50MS = float64(lat[n/2].Microseconds()) / 1000
		r.VideoLatencyP95MS = float64(lat[n*95/100].Microseconds()) / 1000
	}
	if n := len(p.windows); n > 0 {
		var partner, own int
		for _, w := range p.windows {
			if testsrc.Dominant(w, partnerHz, rtc.SampleRate) {
				partner++
			}
			if testsrc.Dominant(w, ownHz, rtc.SampleRate) {
				own++
			}
		}
		r.PartnerTone, r.OwnTone = float64(partner)/float64(n), float64(own)/float64(n)
	}
	return r
}
