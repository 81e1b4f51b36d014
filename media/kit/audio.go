package kit

// audio.go: the audio sent: the microphone or the test tone (with bursts
// for latency measurements), handed to the taps as captured and as
// encoded, 20 ms Opus packets.

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/hraban/opus"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"

	"github.com/parley-lab/parley/media/capture"
	"github.com/parley-lab/parley/media/internal/rtc"
	"github.com/parley-lab/parley/media/sched"
	"github.com/parley-lab/parley/media/testsrc"
)

func (k *Kit) openAudio() error {
	var fill func(pcm []int16) error
	switch k.o.AudioSource {
	case SourceNone, "":
		k.micOff = true
		return nil
	case SourceMicrophone:
		m, err := openMic(k)
		switch {
		case err != nil && k.o.FallbackToTest:
			k.log.Info("no microphone: using the test tone", "err", err)
			k.noMic.Store(true)
			fill = k.toneFill()
		case err != nil && k.o.MicrophoneOptional:
			k.log.Error("no microphone: the call goes on without sound from this side until one is found", "err", err)
			k.noMic.Store(true)
			fill = k.microphoneReader(nil)
		case err != nil:
			return err
		default:
			fill = k.microphoneReader(m)
		}
	case SourceTest:
		fill = k.toneFill()
	default:
		return fmt.Errorf("audio source %q is not microphone, test or none", k.o.AudioSource)
	}
	track, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", "parley")
	if err != nil {
		return err
	}
	k.audioTrack = track
	enc, err := opus.NewEncoder(rtc.SampleRate, 1, opus.AppVoIP)
	if err != nil {
		return fmt.Errorf("Opus encoder: %w", err)
	}
	enc.SetBitrate(DefaultAudioBitrate)
	enc.SetInBandFEC(true)
	enc.SetPacketLossPerc(ExpectedLoss)
	k.wg.Add(1)
	go func() {
		defer k.wg.Done()
		if err := sched.Audio(); err != nil {
			k.log.Debug("audio loop at normal priority", "err", err)
		}
		pcm := make([]int16, rtc.FrameSamples)
		out := make([]byte, 1500)
		for {
			if err := fill(pcm); err != nil {
				if !errors.Is(err, errStopped) {
					k.log.Error("audio capture", "err", err)
				}
				return
			}
			captured := time.Now().Add(-20 * time.Millisecond) // the frame's first sample
			taps := k.taps.load()
			for _, t := range taps {
				t.CapturedAudio(pcm, captured)
			}
			k.micLevel.Store(math.Float64bits(testsrc.Level(pcm)))
			if k.muteAudio.Load() {
				clear(pcm)
			}
			if k.calls.Load() == 0 {
				continue
			}
			n, err := enc.Encode(pcm, out)
			if err != nil {
				k.log.Error("Opus encode", "err", err)
				continue
			}
			track.WriteSample(media.Sample{Data: append([]byte(nil), out[:n]...), Duration: 20 * time.Millisecond})
			for _, t := range taps {
				t.SentAudio(out[:n], captured)
			}
		}
	}()
	return nil
}

// toneFill paces the test tone in real time, 20 ms at a time.
func (k *Kit) toneFill() func([]int16) error {
	tone := testsrc.NewTone(k.o.ToneHz, rtc.SampleRate)
	next := time.Now()
	var chunk int
	period, on := int(BurstEvery/(20*time.Millisecond)), int(BurstOn/(20*time.Millisecond))
	return func(pcm []int16) error {
		next = next.Add(20 * time.Millisecond)
		if d := time.Until(next); d > 0 {
			select {
			case <-time.After(d):
			case <-k.stop:
				return errStopped
			}
		} else if d < -100*time.Millisecond {
			next = time.Now()
		}
		tone.Fill(pcm)
		if k.o.ToneBursts {
			if chunk%period >= on {
				clear(pcm)
			}
			chunk++
		}
		return nil
	}
}

// Tone bursts for measuring audio latency.
const (
	BurstEvery = 500 * time.Millisecond
	BurstOn    = 100 * time.Millisecond
)

// micDevice is an open microphone: capture's, or a test's stand-in.
// Close must be safe to call more than once.
type micDevice interface {
	Read(pcm []int16) error
	Close() error
	Label() string
	// Lost counts the samples skipped or dropped because the audio loop
	// fell behind.
	Lost() uint64
}

type captureMic struct{ *capture.Mic }

func (m captureMic) Label() string { return m.Device().Label() }
func (m captureMic) Lost() uint64  { st := m.Stats(); return st.Skipped + st.Dropped }

// openMic opens the kit's microphone (capture.Select chooses it); a
// variable so tests can stand in a microphone that fails and comes back.
var openMic = func(k *Kit) (micDevice, error) {
	m, err := capture.Open(capture.Config{Backends: k.o.AudioBackends, Name: k.o.Microphone, CloseLimit: DeviceCloseLimit, MaxBacklog: MicMaxBacklog})
	if err != nil {
		return nil, fmt.Errorf("microphone: %w", err)
	}
	k.log.Info("microphone", "device", m.Device().Label(), "key", m.Device().Key)
	return captureMic{m}, nil
}

// openMicOrStop opens the microphone, or returns errStopped as soon as
// the kit stops (a microphone opened meanwhile is closed when it is).
func (k *Kit) openMicOrStop() (micDevice, error) {
	type opened struct {
		m   micDevice
		err error
	}
	ch := make(chan opened, 1)
	go func() {
		m, err := openMic(k)
		ch <- opened{m, err}
	}()
	select {
	case o := <-ch:
		return o.m, o.err
	case <-k.stop:
		go func() {
			if o := <-ch; o.m != nil {
				o.m.Close()
			}
		}()
		return nil, errStopped
	}
}

// microphoneReader returns the capture loop's fill, reading m (nil: none
// yet). A microphone that stops delivering is logged once and sent as
// silence meanwhile, so the call carries on; when it delivers again the
// log says so. With MicrophoneOptional, a microphone that is missing,
// whose reads fail, or that delivers nothing for MicSilentReopen is
// reported (NoMicrophone) and opened again every MicRetryInterval (at
// once after RetryDevices) until the kit stops; without it a failed read
// ends the loop.
func (k *Kit) microphoneReader(m micDevice) func([]int16) error {
	var mu sync.Mutex
	cur := m
	// Closing the microphone ends a Read waiting for it.
	k.interrupt = append(k.interrupt, func() error {
		mu.Lock()
		defer mu.Unlock()
		if cur != nil {
			return cur.Close()
		}
		return nil
	})
	stopped := func() bool {
		select {
		case <-k.stop:
			return true
		default:
			return false
		}
	}
	var silentSince time.Time // zero: delivering
	var lost uint64
	return func(pcm []int16) error {
		for {
			mu.Lock()
			rd := cur
			mu.Unlock()
			if rd != nil {
				err := rd.Read(pcm)
				switch {
				case err == nil:
					if !silentSince.IsZero() {
						k.log.Info("the microphone delivers again", "device", rd.Label())
						silentSince = time.Time{}
					}
					if n := rd.Lost(); n > lost {
						k.log.Warn("the audio loop fell behind the microphone: skipped to its newest samples",
							"lost_ms", (n-lost)*1000/capture.SampleRate, "total_ms", n*1000/capture.SampleRate)
						lost = n
					}
					return nil
				case errors.Is(err, capture.ErrClosed) || stopped():
					return errStopped
				case errors.Is(err, capture.ErrNoSignal):
					if silentSince.IsZero() {
						k.log.Error("microphone: sending silence until it delivers again", "device", rd.Label(), "err", err)
						silentSince = time.Now()
					}
					if !k.o.MicrophoneOptional || time.Since(silentSince) < MicSilentReopen {
						clear(pcm)
						return nil
					}
					err = fmt.Errorf("%w for %v", err, MicSilentReopen)
				case !k.o.MicrophoneOptional:
					return err
				}
				k.log.Error("the microphone stopped; trying it again", "device", rd.Label(), "err", err)
				mu.Lock()
				cur = nil
				mu.Unlock()
				rd.Close()
				k.noMic.Store(true)
				k.micLevel.Store(0)
				silentSince, lost = time.Time{}, 0
			}
			if !k.retryWait(MicRetryInterval, k.retryMic) {
				return errStopped
			}
			nm, err := k.openMicOrStop()
			if errors.Is(err, errStopped) {
				return errStopped
			}
			if err != nil {
				continue
			}
			mu.Lock()
			if stopped() { // Close has run its interrupts: nobody else closes it
				mu.Unlock()
				nm.Close()
				return errStopped
			}
			cur = nm
			mu.Unlock()
			k.noMic.Store(false)
			k.log.Info("microphone found", "device", nm.Label())
		}
	}
}
