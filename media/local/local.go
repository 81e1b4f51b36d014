// Package local assembles one participant on this machine: the kit (its
// camera, microphone and speaker, or test sources) and the engine that
// joins the server and holds the calls with those media. The kiosk, the
// demo, the self-test and the benchmarks all make their participants here.
package local

import (
	"log/slog"
	"sync"
	"time"

	"github.com/parley-lab/parley/media/kit"
	"github.com/parley-lab/parley/media/recording"
	"github.com/parley-lab/parley/signaling/participant/engine"
)

// Participant is one local participant.
type Participant struct {
	Kit      *kit.Kit
	Engine   *engine.Engine
	Recorder *recording.Recorder // nil without a recordings directory
}

// Open opens the media of kitOptions and starts an engine on them with
// cfg (its Media and Dial are the kit's). With recordDir set, the
// participant's calls are recorded there from the kit's sent frames (a
// kit.Tap) when the session records and they consent, and what earlier
// runs left there is recovered and uploaded.
func Open(kitOptions kit.Options, cfg engine.Config, recordDir string) (*Participant, error) {
	k, err := kit.Open(kitOptions)
	if err != nil {
		return nil, err
	}
	p := &Participant{Kit: k}
	if recordDir != "" {
		video, audio, w, h := k.Sends()
		p.Recorder, err = recording.Open(recording.Config{Dir: recordDir, Video: video, Audio: audio, Width: w, Height: h, Log: cfg.Log,
			Attach: attacher(k)})
		if err != nil {
			// The kiosk still serves its participant; a session that
			// records says in the log that this one cannot.
			log := cfg.Log
			if log == nil {
				log = slog.Default()
			}
			log.Error("recordings cannot be kept on this workstation; a session that records will not be recorded here", "dir", recordDir, "err", err)
			p.Recorder = nil
		} else {
			cfg.Recorder = p.Recorder
		}
	}
	cfg.Media, cfg.Dial = k.Media(), k.Dialer()
	if p.Engine, err = engine.New(cfg); err != nil {
		if p.Recorder != nil {
			p.Recorder.Close()
		}
		k.Close()
		return nil, err
	}
	return p, nil
}

// attacher hands a recording's segment what k sends, through a tap that
// starts at a keyframe; nil takes it off.
func attacher(k *kit.Kit) func(recording.Sink) {
	var mu sync.Mutex
	remove := func() {}
	return func(s recording.Sink) {
		mu.Lock()
		defer mu.Unlock()
		remove()
		remove = func() {}
		if s != nil {
			remove = k.Tap(sentTap{sink: s})
			k.RequestKeyframe()
		}
	}
}

// sentTap is a kit tap that takes only what is sent, for a recording.
type sentTap struct {
	kit.NoTap
	sink recording.Sink
}

func (t sentTap) SentVideo(frame []byte, at time.Time)  { t.sink.Video(frame, at) }
func (t sentTap) SentAudio(packet []byte, at time.Time) { t.sink.Audio(packet, at) }

// Close stops the engine, which releases the media, keeping the stored
// token (a restarted kiosk rejoins); then the recorder (what is not
// uploaded yet goes at the next start).
func (p *Participant) Close() {
	p.Engine.Close()
	p.closeRecorder()
}

// Leave ends participation: the engine forgets the token and releases
// the media.
func (p *Participant) Leave() {
	p.Engine.Leave()
	p.closeRecorder()
}

func (p *Participant) closeRecorder() {
	if p.Recorder != nil {
		p.Recorder.Close()
	}
}
