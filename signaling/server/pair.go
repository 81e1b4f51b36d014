package server

// pair.go: forming groups from waiting participants and telling them.

import (
	"fmt"
	"time"

	"github.com/parley-lab/parley/pairing"
	"github.com/parley-lab/parley/signaling/protocol"
	"github.com/parley-lab/parley/signaling/store"
)

// pairLocked forms every group that can be formed in s now.
func (h *Hub) pairLocked(s *session, now time.Time, starting bool) {
	if s.rec.State == store.SessionEnded {
		return
	}
	rule := pairing.Rule(s.settings.Matching)
	var waiting []*participant
	var cands []pairing.Candidate
	for _, p := range s.participants {
		if p.group == nil && p.conn != nil {
			waiting = append(waiting, p)
			cands = append(cands, pairing.Candidate{ID: p.rec.ID, Seat: p.rec.Seat, Order: p.rec.Arrival})
		}
	}
	var formed [][]string
	if rule != pairing.Random || s.rec.State == store.SessionStarted {
		formed = pairing.Form(rule, cands, s.settings.GroupSize, s.settings.FixedGroups, h.rng, starting)
	}
	for _, ids := range formed {
		h.formGroupLocked(s, ids, now)
	}
	present := 0
	for _, p := range waiting {
		if p.group == nil {
			present++
		}
	}
	for _, p := range waiting {
		if p.group == nil {
			h.sendLocked(p, protocol.TypeWaiting, "", protocol.Waiting{Present: present, Needed: s.settings.GroupSize})
		}
	}
}

func (h *Hub) formGroupLocked(s *session, ids []string, now time.Time) {
	num := len(s.groups) + 1
	rec := store.Group{ID: fmt.Sprintf("%s-g%d", s.rec.Code, num), Session: s.rec.Code, Num: num, Members: ids, PairedMS: ms(now)}
	codes := make([]string, len(ids))
	for i, id := range ids {
		codes[i] = h.byID[id].rec.Code
	}
	if err := h.st.CreateGroup(rec, ev(s.rec.Code, "", rec.ID, EvPaired, map[string]any{"members": ids, "member_codes": codes, "num": num}, now)); err != nil {
		h.log.Error("create group", "err", err)
		return
	}
	g := &group{rec: rec}
	for _, id := range ids {
		p := h.byID[id]
		p.group = g
		g.members = append(g.members, p)
	}
	s.addGroupLocked(g)
	h.log.Info("paired", "session", s.rec.Code, "group", rec.ID, "num", num, "members", ids)
	// The fallback timer is armed before anyone hears of the group, so no
	// member can act on the pairing before its timer exists; a clock that
	// starts at pairing is sent after the pairing itself.
	startsNow := s.settings.ClockStart == ClockPaired
	if !startsNow {
		h.armLocked(g, now)
	}
	for _, p := range g.members {
		h.sendLocked(p, protocol.TypePaired, "", h.pairedMsg(p))
	}
	if startsNow {
		h.armLocked(g, now)
	}
}

func (h *Hub) pairedMsg(p *participant) protocol.Paired {
	g := p.group
	ids := make([]string, len(g.members))
	members := make([]protocol.Member, len(g.members))
	for i, m := range g.members {
		ids[i] = m.rec.ID
		members[i] = protocol.Member{ID: m.rec.ID, Pseudonym: m.rec.Pseudonym}
	}
	ice := h.cfg.ICEServers
	if ice == nil {
		ice = []protocol.ICEServer{}
	}
	return protocol.Paired{
		Group: g.rec.ID, Members: members, OfferTo: pairing.OfferTo(ids)[p.rec.ID], ICEServers: ice,
		DurationS: p.sess.settings.DurationS, PairedAtMS: g.rec.PairedMS, Channels: h.channelsLocked(p),
	}
}
