package bench

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/pion/transport/v4"

	"github.com/parley-lab/parley/media/kit"
	"github.com/parley-lab/parley/signaling/participant"
	"github.com/parley-lab/parley/signaling/testkit"
)

// The network benchmark holds a call between two engines whose media cross
// an impaired path (path.go: pion's virtual network, or network namespaces
// where the machine allows): random loss, delay, a rate cap with a bounded
// queue or a policer, the media path cut for a while with the server still
// reachable, and the link taken down, the server's with it (each side
// reaches the server through a cable that is pulled too). Delay and
// reordering are made at the senders' sockets (reorder.go).
const (
	// NetworkSetupLimit bounds one call's set-up under a fault.
	NetworkSetupLimit = 60 * time.Second
	// lateAfter: the "late" latency figure is of frames decoded after
	// this much of the call (the rate has adapted by then).
	lateAfter = 10 * time.Second
	// capQueue is the bottleneck's queue, in time at its rate (a home
	// router's or a VPN's buffer).
	capQueue = time.Second
	// capBurst is the token bucket's burst in bytes.
	capBurst = 3000
	// policerQueue is a policer's "queue": one full-size packet (vnet's
	// bucket passes packets through a queue). A policer drops what the
	// bucket does not admit; it holds nothing back, so no queue shows in
	// the round trip.
	policerQueue = 1500
	// lossSeed makes the random loss the same on every run.
	lossSeed = 12
	netCIDR  = "10.79.0.0/24"
	netIPA   = "10.79.0.2"
	netIPB   = "10.79.0.3"
	// pollEvery is how often the benchmark looks at the call.
	pollEvery = 5 * time.Millisecond
)

// NetworkScenario is one impairment of the media path (both directions).
type NetworkScenario struct {
	Name    string
	LossPct float64       // random loss of UDP packets, each way
	Delay   time.Duration // one way
	// Spread > 0 gives each datagram its own one-way delay in
	// Delay ± Spread (uniform), so packets overtake each other.
	Spread  time.Duration
	RateBps int // cap each way; 0: none
	// Policer: the cap drops at once instead of queueing (policerQueue).
	Policer bool
	// CutAt and CutFor cut the media path that long after the call is up.
	CutAt, CutFor time.Duration
	// LinkDown: the cut takes both links down, the server's with them,
	// instead of dropping only the media.
	LinkDown bool
}

// NetworkScenarios are the impairments.
var NetworkScenarios = []NetworkScenario{
	{Name: "clean"},
	{Name: "1% loss", LossPct: 1},
	{Name: "5% loss", LossPct: 5},
	{Name: "20% loss", LossPct: 20},
	{Name: "50 ± 20 ms reordered", Delay: 50 * time.Millisecond, Spread: 20 * time.Millisecond},
	{Name: "150 ms", Delay: 150 * time.Millisecond},
	{Name: "500 kb/s cap", RateBps: 500_000},
	{Name: "256 kb/s cap", RateBps: 256_000},
	{Name: "500 kb/s policer", RateBps: 500_000, Policer: true},
	{Name: "256 kb/s policer", RateBps: 256_000, Policer: true},
	{Name: "media cut 3 s", CutAt: 5 * time.Second, CutFor: 3 * time.Second},
	{Name: "media cut 10 s", CutAt: 5 * time.Second, CutFor: 10 * time.Second},
	{Name: "link down 3 s", CutAt: 5 * time.Second, CutFor: 3 * time.Second, LinkDown: true},
	{Name: "link down 10 s", CutAt: 5 * time.Second, CutFor: 10 * time.Second, LinkDown: true},
}

// NetworkResult is one scenario's figures, both directions together.
type NetworkResult struct {
	Scenario        string  `json:"scenario"`
	Fabric          Fabric  `json:"fabric"`
	Seconds         float64 `json:"seconds"`
	SetupMS         float64 `json:"setup_ms"`   // both joined to media connected on both sides
	FramesDue       int64   `json:"frames_due"` // what the two test cameras made in the call (30 fps each)
	FramesSent      int64   `json:"frames_sent"`
	FramesDecoded   int64   `json:"frames_decoded"`
	LongestFreezeMS float64 `json:"longest_freeze_ms"`
	Video           Dist    `json:"video_latency"`
	VideoLateP95MS  float64 `json:"video_latency_p95_after_10s_ms"`
	AudioFrames     int64   `json:"audio_frames"`
	AudioConcealed  int64   `json:"audio_concealed"`
	AudioLate       int64   `json:"audio_late_played"`
	// AudioUnderruns: times the speaker found the jitter buffer empty.
	AudioUnderruns int64 `json:"audio_underruns"`
	// Datagrams and Reordered: with Spread, the datagrams both sides
	// sent and how many reached the network after one sent later.
	Datagrams     int64 `json:"datagrams,omitempty"`
	Reordered     int64 `json:"reordered,omitempty"`
	MediaBytes    int64 `json:"media_bytes"`
	LostBytes     int64 `json:"lost_media_bytes"`
	Retransmitted int64 `json:"retransmitted_bytes"`

	// VideoMissing are the video packets the receivers found missing;
	// VideoLateOriginals those of them that came by themselves, before
	// any repair could have (reordered, not lost).
	VideoMissing       int64 `json:"video_missing_packets"`
	VideoLateOriginals int64 `json:"video_late_originals"`
	// FirstFrameAfterMS is the time from the path's return to the first
	// decoded frame on the later side; -1 without a cut or if none came.
	FirstFrameAfterMS float64 `json:"first_frame_after_fault_ms"`
	EndSkewMS         float64 `json:"end_skew_ms"` // the later side's end minus the deadline
	DeadlineHeld      bool    `json:"deadline_held"`
}

// Shown is the share of the cameras' frames that decoded (frames the
// encoder skipped at a low rate count as not shown).
func (r NetworkResult) Shown() float64 { return ratio(r.FramesDecoded, r.FramesDue) }

// Concealed is the share of audio frames concealed.
func (r NetworkResult) Concealed() float64 { return ratio(r.AudioConcealed, r.AudioFrames) }

// RetransmitShare is retransmitted bytes per media byte; PerLost per lost byte.
func (r NetworkResult) RetransmitShare() float64 { return ratio(r.Retransmitted, r.MediaBytes) }

// RetransmitPerLost is retransmitted bytes per lost media byte.
func (r NetworkResult) RetransmitPerLost() float64 { return ratio(r.Retransmitted, r.LostBytes) }

func ratio(a, b int64) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// deadlineSlack is how far from the deadline an end still counts as kept.
const deadlineSlack = time.Second

// Network runs one scenario on fabric f: a discussion of d whose media
// cross the impaired path.
func Network(ctx context.Context, f Fabric, sc NetworkScenario, d time.Duration) (NetworkResult, error) {
	res := NetworkResult{Scenario: sc.Name, Fabric: f, FirstFrameAfterMS: -1, Seconds: d.Seconds()}
	path, err := openPath(f, sc, sc.Spread == 0 && f != Namespaces)
	if err != nil {
		return res, err
	}
	defer path.close()
	env, err := NewEnv(d)
	if err != nil {
		return res, err
	}
	defer env.Close()
	var sides []*Side
	var reorders []*reorderNet
	var cables []*testkit.Cable
	for i := range 2 {
		n := path.net(i)
		// The namespaces have no delay of their own, and vnet's router
		// keeps order: the senders' delay lines make it then.
		if sc.Spread > 0 || (sc.Delay > 0 && f == Namespaces) {
			r := newReorderNet(n, sc.Delay, sc.Spread, uint64(i+1))
			reorders = append(reorders, r)
			n = r
		}
		url := env.URL
		if sc.LinkDown {
			c, err := testkit.OpenCable(env.srv.Addr())
			if err != nil {
				return res, err
			}
			defer c.Close()
			cables = append(cables, c)
			url = c.URL()
		}
		s, err := env.newSideOn(kit.DefaultToneHz*(1+0.5*float64(i)), n, url)
		if err != nil {
			return res, err
		}
		defer s.Eng.Leave()
		sides = append(sides, s)
	}
	cut := func(on bool) error {
		for _, c := range cables {
			if on {
				c.Pull()
			} else {
				c.Plug()
			}
		}
		if sc.LinkDown {
			return path.setLinkDown(on)
		}
		return path.setCut(on)
	}
	a, b := sides[0], sides[1]
	t0 := time.Now()
	a.Eng.Join("A")
	b.Eng.Join("B")
	for _, s := range sides {
		if err := s.WaitFor(ctx, NetworkSetupLimit, func(st participant.State) bool { return st.MediaConnected }); err != nil {
			return res, fmt.Errorf("set-up: %w", err)
		}
	}
	connected := time.Now()
	res.SetupMS = ms(connected.Sub(t0))
	stamped := make([]int, 2)
	sent := make([]int64, 2)
	for i, s := range sides {
		s.Kit.ResetCounters()
		stamped[i] = s.Probe.Report(0, 0).Stamped
		sent[i] = s.Kit.FramesSent()
	}
	lateStamped := []int{-1, -1}
	var restored time.Time
	cutting := false
	firstAfter := make([]time.Time, 2) // each side's first decoded frame after the path returned
	for {
		st := []participant.State{a.Eng.State(), b.Eng.State()}
		if st[0].Phase == participant.PhaseEnded && st[1].Phase == participant.PhaseEnded {
			break
		}
		since := time.Since(connected)
		if sc.CutFor > 0 && restored.IsZero() && since >= sc.CutAt {
			down := since < sc.CutAt+sc.CutFor
			if down != cutting { // each change made once: the namespaces' are commands
				if err := cut(down); err != nil {
					return res, fmt.Errorf("the fault: %w", err)
				}
				cutting = down
			}
			if !down {
				restored = time.Now()
			}
		}
		if !restored.IsZero() {
			for i, s := range sides {
				if last := s.Kit.Counters().LastDecoded; firstAfter[i].IsZero() && last.After(restored) {
					firstAfter[i] = last
				}
			}
		}
		if since >= lateAfter && lateStamped[0] < 0 {
			for i, s := range sides {
				lateStamped[i] = s.Probe.Report(0, 0).Stamped
			}
		}
		if since > d+NetworkSetupLimit {
			return res, fmt.Errorf("the discussion did not end %v after its deadline", NetworkSetupLimit)
		}
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-time.After(pollEvery):
		}
	}
	res.FramesDue = int64(2 * time.Since(connected).Seconds() * kit.DefaultFPS)
	var video, late []time.Duration
	for i, s := range sides {
		partner := sides[1-i]
		c := s.Kit.Counters()
		p := s.Probe.Report(0, 0)
		res.FramesDecoded += c.FramesDecoded
		res.FramesSent += partner.Kit.FramesSent() - sent[1-i]
		res.LongestFreezeMS = max(res.LongestFreezeMS, ms(c.LongestFreeze))
		res.AudioFrames += c.AudioFrames
		res.AudioConcealed += c.AudioConcealed
		res.AudioLate += c.AudioLate
		res.AudioUnderruns += c.AudioUnderruns
		video = append(video, p.VideoLatenciesSince(stamped[i])...)
		if lateStamped[i] >= 0 {
			late = append(late, p.VideoLatenciesSince(lateStamped[i])...)
		}
		if call := s.Kit.LastCall(); call != nil {
			r := call.Repair()
			res.MediaBytes += r.Retransmit.MediaBytes
			res.Retransmitted += r.Retransmit.RetransmittedBytes
			res.VideoMissing += r.NACK.Missing
			res.VideoLateOriginals += r.NACK.Reordered
		}
		st := s.Eng.State()
		if !st.Deadline.IsZero() {
			res.EndSkewMS = max(res.EndSkewMS, ms(time.Since(st.Deadline)))
		}
	}
	if !restored.IsZero() && !firstAfter[0].IsZero() && !firstAfter[1].IsZero() {
		res.FirstFrameAfterMS = ms(max(firstAfter[0].Sub(restored), firstAfter[1].Sub(restored)))
	}
	res.Video = Summarise(video)
	if len(late) > 0 {
		sort.Slice(late, func(i, j int) bool { return late[i] < late[j] })
		res.VideoLateP95MS = ms(late[len(late)*95/100])
	}
	for _, r := range reorders {
		sent, late := r.stats()
		res.Datagrams += sent
		res.Reordered += late
	}
	if res.LostBytes, err = path.lostBytes(); err != nil {
		return res, err
	}
	res.DeadlineHeld = res.EndSkewMS <= ms(deadlineSlack)
	return res, nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// newSideOn is NewSide with its media on n, the server at url, and a
// steady tone.
func (e *Env) newSideOn(toneHz float64, n transport.Net, url string) (*Side, error) {
	return e.openSide("net", url, kit.Options{ToneHz: toneHz, Net: n})
}

// ErrNoScenario means no network scenario has the name asked for.
var ErrNoScenario = errors.New("no network scenario matches")

// Networks runs, a discussion of d each, the scenarios whose name
// contains only (any case; "": all); say hears which runs now.
func Networks(f Fabric, d time.Duration, only string, say func(string)) ([]NetworkResult, error) {
	var out []NetworkResult
	for _, sc := range NetworkScenarios {
		if only != "" && !strings.Contains(strings.ToLower(sc.Name), strings.ToLower(only)) {
			continue
		}
		say(fmt.Sprintf("network (%s), %s, a discussion of %v", f, sc.Name, d))
		ctx, cancel := context.WithTimeout(context.Background(), d+3*NetworkSetupLimit)
		r, err := Network(ctx, f, sc, d)
		cancel()
		if err != nil {
			return out, fmt.Errorf("%s: %w", sc.Name, err)
		}
		out = append(out, r)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: %q", ErrNoScenario, only)
	}
	return out, nil
}
