// Package pairing decides who discusses with whom: it forms groups from the
// participants waiting in a session by the session's matching rule, and
// decides which member of a group makes each WebRTC offer. It is pure: no
// clock, no network, no store, so every rule is a table test.
package pairing

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
)

// Rule is a session's matching rule.
type Rule string

// Matching rules.
const (
	// Arrival groups participants in the order they arrive.
	Arrival Rule = "arrival"
	// Random groups, at random, those present when the experimenter starts
	// the session; later arrivals are grouped by arrival.
	Random Rule = "random"
	// Fixed groups the seat labels listed in the session settings.
	Fixed Rule = "fixed"
)

// ErrUnknownRule is returned for a rule not listed above.
var ErrUnknownRule = errors.New("unknown matching rule")

// ErrBadFixedGroups is returned for fixed groups that do not fit the group size
// or name a seat twice.
var ErrBadFixedGroups = errors.New("bad fixed groups")

// ParseRule checks a rule name.
func ParseRule(s string) (Rule, error) {
	switch r := Rule(s); r {
	case Arrival, Random, Fixed:
		return r, nil
	}
	return "", fmt.Errorf("%w %q: use arrival, random or fixed", ErrUnknownRule, s)
}

// Candidate is a participant waiting for a group.
type Candidate struct {
	ID   string
	Seat string
	// Order is the arrival order (smaller arrived earlier).
	Order int64
}

// ValidateFixed checks fixed groups of seat labels against the group size.
func ValidateFixed(groups [][]string, size int) error {
	seen := map[string]bool{}
	for i, g := range groups {
		if len(g) != size {
			return fmt.Errorf("%w: group %d has %d seats, the group size is %d", ErrBadFixedGroups, i+1, len(g), size)
		}
		for _, s := range g {
			if s == "" {
				return fmt.Errorf("%w: group %d has an empty seat label", ErrBadFixedGroups, i+1)
			}
			if seen[s] {
				return fmt.Errorf("%w: seat %q is in more than one group", ErrBadFixedGroups, s)
			}
			seen[s] = true
		}
	}
	return nil
}

// Form returns the groups that can be formed now from waiting (member ids in
// each group, in arrival order). Candidates not in a returned group keep
// waiting. rng is used by Random only; shuffle says whether a Random session
// is being started now (true) or is taking later arrivals (false).
func Form(rule Rule, waiting []Candidate, size int, fixed [][]string, rng *rand.Rand, shuffle bool) [][]string {
	if size < 1 {
		return nil
	}
	ws := append([]Candidate(nil), waiting...)
	sort.SliceStable(ws, func(i, j int) bool { return ws[i].Order < ws[j].Order })
	switch rule {
	case Arrival:
		return chunk(ws, size)
	case Random:
		if shuffle && rng != nil {
			rng.Shuffle(len(ws), func(i, j int) { ws[i], ws[j] = ws[j], ws[i] })
		}
		return chunk(ws, size)
	case Fixed:
		bySeat := map[string]Candidate{}
		for _, c := range ws {
			if _, dup := bySeat[c.Seat]; !dup {
				bySeat[c.Seat] = c
			}
		}
		var out [][]string
		for _, g := range fixed {
			members := make([]Candidate, 0, len(g))
			for _, seat := range g {
				c, ok := bySeat[seat]
				if !ok {
					break
				}
				members = append(members, c)
			}
			if len(members) != len(g) || len(g) == 0 {
				continue
			}
			sort.SliceStable(members, func(i, j int) bool { return members[i].Order < members[j].Order })
			ids := make([]string, len(members))
			for i, m := range members {
				ids[i] = m.ID
			}
			out = append(out, ids)
		}
		return out
	}
	return nil
}

func chunk(ws []Candidate, size int) [][]string {
	var out [][]string
	for len(ws) >= size {
		ids := make([]string, size)
		for i := range size {
			ids[i] = ws[i].ID
		}
		out = append(out, ids)
		ws = ws[size:]
	}
	return out
}

// OfferTo returns, for each member of a group, the members it must send an
// offer to. The earlier member of each pair offers, so for any two members
// exactly one offers: there is never glare.
func OfferTo(members []string) map[string][]string {
	out := make(map[string][]string, len(members))
	for i, m := range members {
		out[m] = append([]string{}, members[i+1:]...)
	}
	return out
}
