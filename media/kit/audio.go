package kit

// audio.go: the audio sent: the microphone or the test tone (with bursts
// for latency measurements), encoded as 20 ms Opus packets.

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/hraban/opus"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"

	"github.com/parley-lab/parley/media/capture"
	"github.com/parley-lab/parley/media/rtc"
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
		f, err := k.openMicrophone()
		switch {
		case err != nil && k.o.FallbackToTest:
			k.log.Info("no microphone: using the test tone", "err", err)
			k.noMic = true
			fill = k.toneFill()
		case err != nil && k.o.MicrophoneOptional:
			k.log.Error("no microphone: the call goes on without sound from this side", "err", err)
			k.noMic = true
			return nil
		case err != nil:
			return err
		default:
			fill = f
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
			if r := k.rec.get(); r != nil {
				r.Audio(out[:n], captured)
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
			if chunk%period == 0 {
				k.probe.burstSent(time.Now())
			}
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

// openMicrophone opens the microphone (capture.Select chooses it) and
// returns the capture loop's fill. A microphone that stops delivering is
// logged once and sent as silence meanwhile, so the call carries on; when
// it delivers again the log says so.
func (k *Kit) openMicrophone() (func([]int16) error, error) {
	m, err := capture.Open(capture.Config{Backends: k.o.AudioBackends, Name: k.o.Microphone, CloseLimit: DeviceCloseLimit, MaxBacklog: MicMaxBacklog})
	if err != nil {
		return nil, fmt.Errorf("microphone: %w", err)
	}
	k.log.Info("microphone", "device", m.Device().Label(), "key", m.Device().Key)
	k.interrupt = append(k.interrupt, m.Close)
	silent := false
	var lost uint64
	fill := func(pcm []int16) error {
		err := m.Read(pcm)
		switch {
		case err == nil:
			if silent {
				k.log.Info("the microphone delivers again", "device", m.Device().Label())
				silent = false
			}
			if st := m.Stats(); st.Skipped+st.Dropped > lost {
				k.log.Warn("the audio loop fell behind the microphone: skipped to its newest samples",
					"lost_ms", (st.Skipped+st.Dropped-lost)*1000/capture.SampleRate, "total_ms", (st.Skipped+st.Dropped)*1000/capture.SampleRate)
				lost = st.Skipped + st.Dropped
			}
			return nil
		case errors.Is(err, capture.ErrClosed):
			return errStopped
		case errors.Is(err, capture.ErrNoSignal):
			if !silent {
				k.log.Error("microphone: sending silence until it delivers again", "device", m.Device().Label(), "err", err)
				silent = true
			}
			clear(pcm)
			return nil
		}
		return err
	}
	return fill, nil
}
