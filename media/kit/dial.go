package kit

// dial.go: the calls this kit starts: the shared tracks, the video
// bitrate the calls allow, the received media handed to the player and
// the taps, and what the benchmarks count.

import (
	"image"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/parley-lab/parley/media/internal/rtc"
	"github.com/parley-lab/parley/signaling/participant/engine"
	"github.com/parley-lab/parley/signaling/protocol"
)

// LastCall is the newest call this kit dialed (for measurements), or nil.
func (k *Kit) LastCall() *rtc.Call { return k.lastCall.Load() }

// FramesSent is how many video frames were encoded and sent.
func (k *Kit) FramesSent() int64 { return k.framesSent.Load() }

// Dialer starts calls that send this kit's tracks.
func (k *Kit) Dialer() engine.Dialer {
	return func(p engine.CallParams) (engine.Call, error) {
		var vt, at webrtc.TrackLocal
		if k.videoTrack != nil {
			vt = k.videoTrack
		}
		if k.audioTrack != nil {
			at = k.audioTrack
		}
		c, err := rtc.New(rtc.Config{
			Peer: p.Peer, Offerer: p.Offerer, ICEServers: p.ICEServers, Send: p.Send, OnState: p.OnState,
			Video: vt, Audio: at,
			OnKeyframeRequest: func() { k.keyframe.Store(true) },
			OnVideo:           k.onVideo(),
			OnAudio:           k.onAudio,
			VideoCeiling:      k.o.VideoBitrate,
			Loopback:          k.o.LoopbackCandidates, Net: k.o.Net, Log: k.log,
		})
		if err != nil {
			return nil, err
		}
		k.calls.Add(1)
		k.keyframe.Store(true)
		k.lastCall.Store(c)
		cc := &countedCall{Call: c, k: k, sentAt: time.Now(), sentAtPrevious: k.framesSent.Load()}
		k.liveMu.Lock()
		if k.live == nil {
			k.live = map[*countedCall]struct{}{}
		}
		k.live[cc] = struct{}{}
		k.liveMu.Unlock()
		return cc, nil
	}
}

// bitrateStep is the least relative change of the congestion target that
// is handed to the encoder (libvpx reconfigures on each change).
const bitrateStep = 0.05

func differs(target, current int) bool {
	d := float64(target - current)
	return d > bitrateStep*float64(current) || -d > bitrateStep*float64(current)
}

// videoTarget is the video bitrate for the encoder: the ceiling, lowered
// to what the most congested running call's estimate leaves for video.
func (k *Kit) videoTarget() int {
	target := k.o.VideoBitrate
	k.liveMu.Lock()
	defer k.liveMu.Unlock()
	for c := range k.live {
		target = min(target, c.TargetVideoBitrate())
	}
	return target
}

// countedCall keeps the kit's count of running calls: with none, nothing is encoded.
type countedCall struct {
	*rtc.Call
	k    *Kit
	once sync.Once
	// for Stats: frames the kit had sent at the previous report, and when
	statsMu        sync.Mutex
	sentAt         time.Time
	sentAtPrevious int64
}

// Stats is the call's report with what the kit measures: the frames it
// encoded and sent in the interval, and the partner's audio waiting in the
// jitter buffer now.
func (c *countedCall) Stats() protocol.Stats {
	s := c.Call.Stats()
	now, sent := time.Now(), c.k.framesSent.Load()
	c.statsMu.Lock()
	if !c.sentAt.IsZero() {
		if dt := now.Sub(c.sentAt).Seconds(); dt > 0 {
			s.FPSSent = float64(sent-c.sentAtPrevious) / dt
		}
	}
	c.sentAt, c.sentAtPrevious = now, sent
	c.statsMu.Unlock()
	s.AudioDelayMS = float64(c.k.jb.delay()) / float64(time.Millisecond)
	return s
}

func (c *countedCall) Close() error {
	err := c.Call.Close()
	c.once.Do(func() {
		c.k.calls.Add(-1)
		c.k.liveMu.Lock()
		delete(c.k.live, c)
		c.k.liveMu.Unlock()
	})
	return err
}

func (k *Kit) onAudio(pcm []int16, seq uint16, lost bool) {
	used, replaced := k.jb.pushFrame(pcm, seq, lost)
	if !used {
		return // too late to be played
	}
	k.counters.audio(lost, replaced)
	if taps := k.taps.load(); len(taps) > 0 {
		now := time.Now()
		for _, t := range taps {
			t.PartnerAudio(pcm, now)
		}
	}
}

// onVideo is the calls' hook for decoded frames: a count, and the taps.
func (k *Kit) onVideo() rtc.VideoHook {
	return func(img *image.YCbCr, at time.Time) {
		k.framesDecoded.Add(1)
		k.counters.frame(at)
		for _, t := range k.taps.load() {
			t.PartnerVideo(img, at)
		}
	}
}

// tapPlayed hands the taps what the player plays, timed at the callback.
func (k *Kit) tapPlayed(pcm []int16) {
	if taps := k.taps.load(); len(taps) > 0 {
		now := time.Now()
		for _, t := range taps {
			t.PlayedAudio(pcm, now)
		}
	}
}

// FramesDecoded is how many partner frames this kit's calls decoded.
func (k *Kit) FramesDecoded() int64 { return k.framesDecoded.Load() }

// AudioDelay is the partner's audio now waiting in the jitter buffer.
func (k *Kit) AudioDelay() time.Duration { return k.jb.delay() }

// PlayedSamples is how many samples the player has played (0 without output).
func (k *Kit) PlayedSamples() int64 {
	if k.player == nil {
		return 0
	}
	return k.player.playedSamples()
}
