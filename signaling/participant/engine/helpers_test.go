package engine_test

// The opening the engine tests share: two sides joined as Ann and Ben,
// waited for until both are paired (or in a call). The tests serve them
// themselves: several stop and restart the server, whose Close may run
// only once.

import (
	"testing"

	"github.com/pion/transport/v4"

	"github.com/parley-lab/parley/signaling/participant"
	"github.com/parley-lab/parley/signaling/participant/engine"
)

// joinedPair opens the sides "a" and "b" with open, joins them as Ann and
// Ben, and waits until the state of each meets until (what names it in a
// failure).
func joinedPair(t *testing.T, open func(name string) *side, what string, until func(participant.State) bool) (a, b *side) {
	t.Helper()
	a, b = open("a"), open("b")
	a.eng.Join("Ann")
	b.eng.Join("Ben")
	for _, s := range []*side{a, b} {
		waitFor(t, s, what, until)
	}
	return a, b
}

// pairedPair is joinedPair until both are paired.
func pairedPair(t *testing.T, open func(name string) *side) (a, b *side) {
	t.Helper()
	return joinedPair(t, open, "paired", func(st participant.State) bool { return st.Phase >= participant.PhasePaired })
}

// stillSides opens stillSide in the room "lab" at url, each changed by mod.
func stillSides(t *testing.T, url, dir string, mod func(*engine.Config)) func(name string) *side {
	return func(name string) *side { return stillSide(t, name, url, "lab", dir, mod) }
}

// mediaSides opens newSide at url: a with a 440 Hz tone, b with 660 Hz,
// over nets[0] and nets[1] when given.
func mediaSides(t *testing.T, url, dir string, nets ...transport.Net) func(name string) *side {
	return func(name string) *side {
		i := map[string]int{"a": 0, "b": 1}[name]
		var n transport.Net
		if len(nets) > i {
			n = nets[i]
		}
		return newSide(t, name, url, dir, []float64{440, 660}[i], n)
	}
}
