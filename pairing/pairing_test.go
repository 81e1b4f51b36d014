package pairing

import (
	"errors"
	"math/rand/v2"
	"reflect"
	"testing"
)

func cands(seats ...string) []Candidate {
	out := make([]Candidate, len(seats))
	for i, s := range seats {
		out[i] = Candidate{ID: "p" + s, Seat: s, Order: int64(i)}
	}
	return out
}

func TestForm(t *testing.T) {
	tests := []struct {
		name  string
		rule  Rule
		in    []Candidate
		size  int
		fixed [][]string
		want  [][]string
	}{
		{"one waits alone", Arrival, cands("a"), 2, nil, nil},
		{"two pair", Arrival, cands("a", "b"), 2, nil, [][]string{{"pa", "pb"}}},
		{"three: two pair, one waits", Arrival, cands("a", "b", "c"), 2, nil, [][]string{{"pa", "pb"}}},
		{"four: two groups in arrival order", Arrival, cands("a", "b", "c", "d"), 2, nil, [][]string{{"pa", "pb"}, {"pc", "pd"}}},
		{"groups of three", Arrival, cands("a", "b", "c", "d"), 3, nil, [][]string{{"pa", "pb", "pc"}}},
		{"arrival order not slice order", Arrival, []Candidate{{ID: "x", Order: 5}, {ID: "y", Order: 1}}, 2, nil, [][]string{{"y", "x"}}},
		{"fixed: only complete groups", Fixed, cands("a", "b", "c"), 2, [][]string{{"a", "c"}, {"b", "d"}}, [][]string{{"pa", "pc"}}},
		{"fixed: nobody listed", Fixed, cands("x", "y"), 2, [][]string{{"a", "b"}}, nil},
		{"random without shuffle is arrival", Random, cands("a", "b", "c", "d"), 2, nil, [][]string{{"pa", "pb"}, {"pc", "pd"}}},
		{"size zero forms nothing", Arrival, cands("a", "b"), 0, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Form(tc.rule, tc.in, tc.size, tc.fixed, nil, false)
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Form = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestRandomShufflesEveryoneIntoGroups(t *testing.T) {
	in := cands("a", "b", "c", "d", "e", "f", "g", "h")
	seenOther := false
	for seed := range uint64(20) {
		got := Form(Random, in, 2, nil, rand.New(rand.NewPCG(seed, 1)), true)
		if len(got) != 4 {
			t.Fatalf("seed %d: %d groups, want 4", seed, len(got))
		}
		all := map[string]bool{}
		for _, g := range got {
			for _, id := range g {
				if all[id] {
					t.Fatalf("seed %d: %s in two groups", seed, id)
				}
				all[id] = true
			}
		}
		if len(all) != 8 {
			t.Fatalf("seed %d: %d members placed, want 8", seed, len(all))
		}
		if !reflect.DeepEqual(got[0], []string{"pa", "pb"}) {
			seenOther = true
		}
	}
	if !seenOther {
		t.Fatal("random matching always produced the arrival order")
	}
}

func TestOfferToHasNoGlare(t *testing.T) {
	for n := 1; n <= 5; n++ {
		members := []string{"a", "b", "c", "d", "e"}[:n]
		offers := OfferTo(members)
		for i, x := range members {
			for j, y := range members {
				if i == j {
					continue
				}
				xy := contains(offers[x], y)
				yx := contains(offers[y], x)
				if xy == yx {
					t.Fatalf("n=%d: %s->%s %v, %s->%s %v: want exactly one offerer", n, x, y, xy, y, x, yx)
				}
			}
		}
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func TestValidateFixed(t *testing.T) {
	if err := ValidateFixed([][]string{{"a", "b"}, {"c", "d"}}, 2); err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][][]string{{{"a"}}, {{"a", "b"}, {"b", "c"}}, {{"a", ""}}} {
		if err := ValidateFixed(bad, 2); !errors.Is(err, ErrBadFixedGroups) {
			t.Fatalf("ValidateFixed(%v) = %v, want ErrBadFixedGroups", bad, err)
		}
	}
	if _, err := ParseRule("lottery"); !errors.Is(err, ErrUnknownRule) {
		t.Fatalf("ParseRule(lottery) = %v", err)
	}
}
