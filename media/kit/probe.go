package kit

import (
	"image"
	"sort"
	"sync"
	"time"

	"github.com/parley-lab/parley/media/internal/rtc"
	"github.com/parley-lab/parley/media/testsrc"
)

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

	sent     []time.Time // burst onsets captured (this side's tone)
	heard    []time.Time // burst onsets played (the partner's tone)
	quietRun int         // samples of silence before the current buffer
}

// OnsetLevel and OnsetQuiet: a burst starts where a sample exceeds
// OnsetLevel of full scale after at least OnsetQuiet of silence (the
// browser's side of the benchmark detects onsets the same way).
const (
	OnsetLevel = 2000.0 / 32768
	OnsetQuiet = 100 * time.Millisecond
	onsetLevel = int16(OnsetLevel * 32768)
)

func (p *probeState) burstSent(t time.Time) {
	p.mu.Lock()
	p.sent = append(p.sent, t)
	p.mu.Unlock()
}

// played finds burst onsets in what the player plays.
func (p *probeState) played(s []int16, at time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, v := range s {
		if v > onsetLevel || v < -onsetLevel {
			if p.quietRun >= samples(OnsetQuiet) {
				p.heard = append(p.heard, at.Add(time.Duration(i)*time.Second/rtc.SampleRate))
			}
			p.quietRun = 0
		} else {
			p.quietRun++
		}
	}
}

// AudioLatencies pairs each burst this kit heard with the partner's latest
// burst captured before it: capture to playback, per burst.
func (k *Kit) AudioLatencies(partner *Kit) []time.Duration {
	partner.probe.mu.Lock()
	sent := append([]time.Time(nil), partner.probe.sent...)
	partner.probe.mu.Unlock()
	k.probe.mu.Lock()
	heard := append([]time.Time(nil), k.probe.heard...)
	k.probe.mu.Unlock()
	var out []time.Duration
	for _, h := range heard {
		i := sort.Search(len(sent), func(i int) bool { return sent[i].After(h) }) - 1
		if i < 0 {
			continue
		}
		if d := h.Sub(sent[i]); d < BurstEvery {
			out = append(out, d)
		}
	}
	return out
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
	VideoLatencies    []time.Duration // sorted
	arrival           []time.Duration // in arrival order
	PartnerTone       float64         // share of recent 20 ms windows where partnerHz dominates
	OwnTone           float64         // the same for ownHz: an echo of oneself
}

// Probe reports the measurements (Options.Measure must be set); the tones
// are checked in the received audio.
func (k *Kit) Probe(partnerHz, ownHz float64) ProbeReport {
	p := &k.probe
	p.mu.Lock()
	defer p.mu.Unlock()
	r := ProbeReport{FramesDecoded: p.decoded, StampsInOrder: p.inOrder, Stamped: len(p.latencies)}
	r.arrival = append([]time.Duration(nil), p.latencies...)
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

// VideoLatenciesSince returns the latencies of the stamped frames after the
// first n (as counted by an earlier report's Stamped).
func (r ProbeReport) VideoLatenciesSince(n int) []time.Duration {
	if n > len(r.arrival) {
		return nil
	}
	return append([]time.Duration(nil), r.arrival[n:]...)
}
