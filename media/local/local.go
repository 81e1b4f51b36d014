// Package local assembles one participant on this machine: the kit (its
// camera, microphone and speaker, or test sources) and the engine that
// joins the server and holds the calls with those media. The kiosk, the
// demo, the self-test and the benchmarks all make their participants here.
package local

import (
	"github.com/parley-lab/parley/media/engine"
	"github.com/parley-lab/parley/media/kit"
)

// Participant is one local participant.
type Participant struct {
	Kit    *kit.Kit
	Engine *engine.Engine
}

// Open opens the media of kitOptions and starts an engine on them with
// cfg (its Media and Dial are the kit's).
func Open(kitOptions kit.Options, cfg engine.Config) (*Participant, error) {
	k, err := kit.Open(kitOptions)
	if err != nil {
		return nil, err
	}
	cfg.Media, cfg.Dial = k.Media(), k.Dialer()
	eng, err := engine.New(cfg)
	if err != nil {
		k.Close()
		return nil, err
	}
	return &Participant{Kit: k, Engine: eng}, nil
}

// Close stops the engine, which releases the media, keeping the stored
// token (a restarted kiosk rejoins).
func (p *Participant) Close() { p.Engine.Close() }

// Leave ends participation: the engine forgets the token and releases
// the media.
func (p *Participant) Leave() { p.Engine.Leave() }
