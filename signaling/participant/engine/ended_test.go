package engine_test

import (
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-lab/parley/media/kit"
	"github.com/parley-lab/parley/signaling/client"
	"github.com/parley-lab/parley/signaling/participant"
	"github.com/parley-lab/parley/signaling/participant/engine"
	"github.com/parley-lab/parley/signaling/protocol"
)

// signalWatch counts what a side's calls do after its discussion ended.
type signalWatch struct {
	eng              atomic.Pointer[engine.Engine]
	dialsAfterEnd    atomic.Int64
	sentAfterEnd     atomic.Int64
	refusedAfterEnd  atomic.Int64
	signalsBeforeEnd atomic.Int64
}

func (w *signalWatch) ended() bool {
	e := w.eng.Load()
	return e != nil && e.State().Phase == participant.PhaseEnded
}

func (w *signalWatch) wrap(dial engine.Dialer) engine.Dialer {
	return func(p engine.CallParams) (engine.Call, error) {
		if w.ended() {
			w.dialsAfterEnd.Add(1)
		}
		send := p.Send
		p.Send = func(s protocol.Signal) error {
			ended := w.ended()
			err := send(s)
			switch {
			case !ended:
				w.signalsBeforeEnd.Add(1)
			case err == nil:
				w.sentAfterEnd.Add(1)
			case errors.Is(err, engine.ErrEnded):
				w.refusedAfterEnd.Add(1)
			}
			return err
		}
		return dial(p)
	}
}

// newWatchedSide is newSide with its dialer watched.
func newWatchedSide(t *testing.T, name, url, dir string, tone float64, w *signalWatch) *side {
	t.Helper()
	k, err := kit.Open(kit.Options{VideoSource: "test", AudioSource: "test", ToneHz: tone,
		LoopbackCandidates: true, Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.New(engine.Config{
		Session: client.SessionConfig{URL: url, Room: "lab", Seat: name, StateFile: filepath.Join(dir, name+".json"),
			BackoffMin: 50 * time.Millisecond, BackoffMax: 500 * time.Millisecond},
		Media: k.Media(), Dial: w.wrap(k.Dialer()), Log: quiet, AutoReady: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	w.eng.Store(eng)
	return &side{name: name, kit: k, eng: eng, tone: tone}
}

// At the end of the discussion both sides hang up: no new call, no offer,
// no candidate leaves either side after "ended", even though each side's
// call sees the other hang up first.
func TestNoSignalAfterEnded(t *testing.T) {
	const durationS = 3
	dir := t.TempDir()
	srv := startServer(t, filepath.Join(dir, "srv"), "127.0.0.1:0", durationS)
	defer srv.Close()
	url := "ws://" + srv.Addr() + "/ws"
	var sides []*side
	var watches []*signalWatch
	for i, name := range []string{"a", "b"} {
		w := &signalWatch{}
		s := newWatchedSide(t, name, url, dir, []float64{440, 660}[i], w)
		defer s.eng.Leave()
		sides, watches = append(sides, s), append(watches, w)
	}
	sides[0].eng.Join("Ann")
	sides[1].eng.Join("Ben")
	for _, s := range sides {
		waitFor(t, s, "the call", func(st participant.State) bool { return st.MediaConnected })
	}
	for _, s := range sides {
		waitFor(t, s, "the end", func(st participant.State) bool { return st.Phase == participant.PhaseEnded })
	}
	// Both calls closed by the end: nothing is left that could signal,
	// except a fresh call, which the watch would count.
	for _, s := range sides {
		eventually(t, s.name+"'s call closed after the end", func() bool {
			c := s.kit.LastCall()
			return c != nil && c.Closed()
		})
	}
	for i, w := range watches {
		name := sides[i].name
		t.Logf("%s: %d signals during the call; after the end %d dials, %d sent, %d refused",
			name, w.signalsBeforeEnd.Load(), w.dialsAfterEnd.Load(), w.sentAfterEnd.Load(), w.refusedAfterEnd.Load())
		if w.signalsBeforeEnd.Load() == 0 {
			t.Errorf("%s: no signal seen during the call: the watch sees nothing", name)
		}
		if n := w.dialsAfterEnd.Load(); n != 0 {
			t.Errorf("%s: %d calls made after the end", name, n)
		}
		if n := w.sentAfterEnd.Load(); n != 0 {
			t.Errorf("%s: %d signals sent after the end", name, n)
		}
	}
}
