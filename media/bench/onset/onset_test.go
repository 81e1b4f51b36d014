package onset

import (
	"testing"
	"time"
)

func TestDetector(t *testing.T) {
	const rate = 48000
	quiet := int(Quiet * rate / time.Second)
	loud := Level16 + 1
	for _, c := range []struct {
		name string
		set  map[int]int16 // sample index: value; every other sample 0
		n    int
		want []int
	}{
		{"nothing before the quiet time", map[int]int16{quiet - 1: loud}, 2 * quiet, nil},
		{"after the quiet time", map[int]int16{quiet: loud}, 2 * quiet, []int{quiet}},
		{"negative", map[int]int16{quiet: -loud}, 2 * quiet, []int{quiet}},
		{"at the level is quiet", map[int]int16{quiet: Level16, quiet + 1: -Level16}, 2 * quiet, nil},
		{"a burst counts once", map[int]int16{quiet: loud, quiet + 50: loud, 2*quiet + 49: loud}, 3 * quiet, []int{quiet}},
		{"two bursts", map[int]int16{quiet: loud, 2*quiet + 1: loud}, 3 * quiet, []int{quiet, 2*quiet + 1}},
	} {
		d := New(rate)
		var got []int
		for i := range c.n {
			if d.Next(c.set[i]) {
				got = append(got, i)
			}
		}
		if len(got) != len(c.want) {
			t.Fatalf("%s: onsets at %v, want %v", c.name, got, c.want)
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Fatalf("%s: onsets at %v, want %v", c.name, got, c.want)
			}
		}
	}
}
