// Package probe measures what a kit sends and receives, as a kit.Tap: the
// stamp of every partner frame (order, and capture-to-decoded latency),
// the last couple of seconds of the partner's audio (whose tone is heard),
// and tone-burst onsets (media/bench/onset) as captured and as played
// (capture-to-playback audio latency). The self-test, the benchmarks and the engine's tests
// install one on each kit they measure; the kiosk installs none, so it
// pays nothing for it.
package probe

import (
	"image"
	"sort"
	"sync"
	"time"

	"github.com/parley-lab/parley/media/bench/onset"
	"github.com/parley-lab/parley/media/internal/rtc"
	"github.com/parley-lab/parley/media/kit"
	"github.com/parley-lab/parley/media/testsrc"
)

// Windows is how much of the partner's audio a probe keeps, in 20 ms
// frames, to tell whose tone is heard.
const Windows = 100

// frame is the length of a captured frame of audio.
const frame = rtc.FrameSamples * time.Second / rtc.SampleRate

// Probe is a kit.Tap that measures; its methods are safe from any
// goroutine.
type Probe struct {
	kit.NoTap

	mu        sync.Mutex
	decoded   int64
	lastFrame uint32
	haveFrame bool
	inOrder   bool
	latencies []time.Duration
	windows   [][]int16 // the newest Windows frames of the partner's audio, oldest first

	sent  onsets // burst onsets captured (this side's tone)
	heard onsets // burst onsets played (the partner's tone)
}

// New makes a probe; kit.Kit.Tap installs it.
func New() *Probe { return &Probe{inOrder: true, sent: newOnsets(), heard: newOnsets()} }

// On installs a new probe on k for the rest of k's life.
func On(k *kit.Kit) *Probe {
	p := New()
	k.Tap(p)
	return p
}

// onsets finds burst onsets (the rule of media/bench/onset) in a stream
// of samples, and keeps when each was.
type onsets struct {
	d  onset.Detector
	at []time.Time
}

func newOnsets() onsets { return onsets{d: onset.New(rtc.SampleRate)} }

// find adds the onsets in s, whose first sample is at at.
func (o *onsets) find(s []int16, at time.Time) {
	for i, v := range s {
		if o.d.Next(v) {
			o.at = append(o.at, at.Add(time.Duration(i)*time.Second/rtc.SampleRate))
		}
	}
}

// CapturedAudio finds burst onsets in what this side captures. The 20 ms
// holding an onset is timed when it reached the kit (its first sample's
// capture plus 20 ms), as the browser's side times the microphone's
// samples when they reach its page.
func (p *Probe) CapturedAudio(pcm []int16, captured time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sent.find(pcm, captured.Add(frame))
}

// PlayedAudio finds burst onsets in what the player plays.
func (p *Probe) PlayedAudio(pcm []int16, at time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.heard.find(pcm, at)
}

// PartnerVideo reads each decoded frame's stamp.
func (p *Probe) PartnerVideo(img *image.YCbCr, at time.Time) {
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

// PartnerAudio keeps the newest Windows frames of the partner's audio.
func (p *Probe) PartnerAudio(pcm []int16, _ time.Time) {
	if len(pcm) != rtc.FrameSamples {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	var w []int16
	if len(p.windows) == Windows {
		w = p.windows[0] // the oldest is reused
		p.windows = append(p.windows[:0], p.windows[1:]...)
	}
	p.windows = append(p.windows, append(w[:0], pcm...))
}

// AudioLatencies pairs each burst this probe heard with the partner's
// latest burst captured before it: capture to playback, per burst.
func (p *Probe) AudioLatencies(partner *Probe) []time.Duration {
	partner.mu.Lock()
	sent := append([]time.Time(nil), partner.sent.at...)
	partner.mu.Unlock()
	p.mu.Lock()
	heard := append([]time.Time(nil), p.heard.at...)
	p.mu.Unlock()
	var out []time.Duration
	for _, h := range heard {
		i := sort.Search(len(sent), func(i int) bool { return sent[i].After(h) }) - 1
		if i < 0 {
			continue
		}
		if d := h.Sub(sent[i]); d < kit.BurstEvery {
			out = append(out, d)
		}
	}
	return out
}

// Report is what a probe measured of the partner's media.
type Report struct {
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

// Report reports the measurements; the tones are checked in the partner's
// recent audio.
func (p *Probe) Report(partnerHz, ownHz float64) Report {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := Report{FramesDecoded: p.decoded, StampsInOrder: p.inOrder, Stamped: len(p.latencies)}
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
func (r Report) VideoLatenciesSince(n int) []time.Duration {
	if n > len(r.arrival) {
		return nil
	}
	return append([]time.Duration(nil), r.arrival[n:]...)
}
