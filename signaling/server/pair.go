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
		if p.group == nil && p.conn != nil && p.rec.RemovedMS == 0 {
			waiting = append(waiting, p)
			if p.pairable() {
				cands = append(cands, pairing.Candidate{ID: p.rec.ID, Seat: p.rec.Seat, Order: p.rec.Arrival})
			}
		}
	}
	var formed [][]string
	if rule != pairing.Random || s.rec.State == store.SessionStarted {
		formed = pairing.Form(rule, cands, s.settings.GroupSize, s.settings.FixedGroups, h.rng, starting)
	}
	for _, ids := range formed {
		h.formGroupLocked(s, ids, now, nil)
	}
	present := 0
	for _, p := range waiting {
		if p.group == nil {
			present++
		}
	}
	for _, p := range waiting {
		if p.group == nil {
			h.armNoPartnerLocked(p, now)
			h.sendLocked(p, protocol.TypeWaiting, "", protocol.Waiting{Present: present, Needed: s.settings.GroupSize, NoPartner: p.noPartner})
		}
	}
}

// armNoPartnerLocked schedules telling p that no partner came: the
// session's no_partner_after_s after the session started (or was created)
// or p became ready, whichever is later.
func (h *Hub) armNoPartnerLocked(p *participant, now time.Time) {
	if p.noPartner || p.noPartnerTimer != nil || !p.pairable() {
		return
	}
	from := max(p.sess.rec.StartedMS, p.sess.rec.CreatedMS, p.rec.ReadyMS, p.rec.JoinedMS)
	at := time.UnixMilli(from).Add(time.Duration(p.sess.settings.NoPartnerAfterS) * time.Second)
	p.noPartnerTimer = h.clock.AfterFunc(max(at.Sub(now), 0), func() { h.noPartnerDue(p) })
}

func (h *Hub) noPartnerDue(p *participant) {
	h.mu.Lock()
	defer h.mu.Unlock()
	p.noPartnerTimer = nil
	if h.closed || p.group != nil || p.noPartner || p.sess.rec.State == store.SessionEnded {
		return
	}
	now := h.clock.Now()
	p.noPartner = true
	h.event(p.sess.rec.Code, p.rec.ID, "", EvNoPartner, map[string]any{"waited_s": p.sess.settings.NoPartnerAfterS}, now)
	if p.sess.checkID == "" {
		h.log.Info("no partner", "session", p.sess.rec.Code, "seat", p.rec.Seat, "participant", p.rec.ID)
	}
	h.pairLocked(p.sess, now, false) // tells p (and refreshes the others' counts)
}

// formGroupLocked forms a group of ids; byHand, when not nil, is the data
// of the experimenter's pairing (the seats named), recorded as
// paired_by_hand in the group's own transaction.
func (h *Hub) formGroupLocked(s *session, ids []string, now time.Time, byHand map[string]any) error {
	num := len(s.groups) + 1
	rec := store.Group{ID: fmt.Sprintf("%s-g%d", s.rec.Code, num), Session: s.rec.Code, Num: num, Members: ids, PairedMS: ms(now)}
	codes := make([]string, len(ids))
	for i, id := range ids {
		codes[i] = h.byID[id].rec.Code
	}
	evs := []store.Event{ev(s.rec.Code, "", rec.ID, EvPaired, map[string]any{"members": ids, "member_codes": codes, "num": num}, now)}
	if byHand != nil {
		evs = append(evs, ev(s.rec.Code, "", rec.ID, EvPairedByHand, byHand, now))
	}
	if err := h.st.CreateGroup(rec, evs...); err != nil {
		h.log.Error("create group", "err", err)
		return err
	}
	g := &group{rec: rec}
	for _, id := range ids {
		p := h.byID[id]
		p.group = g
		g.members = append(g.members, p)
		if p.noPartnerTimer != nil {
			p.noPartnerTimer.Stop()
			p.noPartnerTimer = nil
		}
		p.noPartner = false
		// One paired again after its group ended starts afresh: nothing of
		// the old group's calls carries over.
		p.held, p.connectedTo, p.callUp = nil, map[string]bool{}, nil
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
	return nil
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
