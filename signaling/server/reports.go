package server

// reports.go: what kiosks report about their calls (call states, stats),
// stored once each and acknowledged.

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/parley-lab/parley/signaling/protocol"
	"github.com/parley-lab/parley/signaling/store"
)

// Reports (call states and stats) per kiosk: a token bucket, so a
// misbehaving kiosk cannot flood the events table while the reports a kiosk
// kept through an outage (one a second) still drain when it returns.
const (
	reportBurst   = 20
	reportPerSec  = 2.0
	reportRefused = "too many reports in a short time; send again after the wait"
)

func (h *Hub) callStateLocked(p *participant, ref string, cs *protocol.CallState) *protocol.Error {
	g := p.group
	if g == nil {
		return &protocol.Error{Code: protocol.CodeNotPaired, Message: "call state is only reported after pairing"}
	}
	if !g.has(cs.Peer) || cs.Peer == p.rec.ID {
		return &protocol.Error{Code: protocol.CodeNotInGroup, Message: fmt.Sprintf("%q is not another member of your group", cs.Peer), Field: "peer"}
	}
	switch cs.State {
	case protocol.CallConnecting, protocol.CallConnected, protocol.CallDisconnected, protocol.CallFailed:
	default:
		return &protocol.Error{Code: protocol.CodeBadField, Message: fmt.Sprintf("call state %q is not connecting, connected, disconnected or failed", cs.State), Field: "state"}
	}
	now := h.clock.Now()
	if err := h.allowReport(p, now); err != nil {
		return err
	}
	at := h.reportedAt(p, cs.AtMS, now)
	e := ev(p.sess.rec.Code, p.rec.ID, g.rec.ID, EvCallState, map[string]any{"peer": cs.Peer, "peer_code": h.codeOf(cs.Peer),
		"state": cs.State, "since_paired_ms": ms(at) - g.rec.PairedMS, "received_ms": ms(now)}, at)
	e.ClientID = cs.ID
	report := &commitReq{events: []store.Event{e}, from: p, ackRef: ref}
	defer h.enqueueLocked(report)
	if cs.ID != "" && p.reported[cs.ID] {
		return nil // a resend: stored (or queued) already; acknowledged again
	}
	p.rememberReport(cs.ID)
	p.connectedTo[cs.Peer] = cs.State == protocol.CallConnected
	if cs.State == protocol.CallConnected {
		if p.callUp == nil {
			p.callUp = map[string]bool{}
		}
		p.callUp[cs.Peer] = true
	}
	if g.rec.ClockStartedMS != 0 || g.rec.EndedMS != 0 || cs.State != protocol.CallConnected {
		return nil
	}
	for _, m := range g.members {
		for _, o := range g.members {
			if m != o && !m.connectedTo[o.rec.ID] {
				return nil
			}
		}
	}
	h.startClockLocked(g, now, ClockAllConnected, ev(p.sess.rec.Code, "", g.rec.ID, EvCallConnected, map[string]any{"setup_ms": ms(now) - g.rec.PairedMS}, now))
	return nil
}

// maxClockSkew is how far into the future a kiosk's reported time may lie
// (its estimate of the server's clock is off by a round trip at most).
const maxClockSkew = 5 * time.Second

// reportedAt is when a kiosk says something happened, if that is plausible
// (after it joined, not in the future), else now.
func (h *Hub) reportedAt(p *participant, atMS int64, now time.Time) time.Time {
	if atMS == 0 || atMS < p.rec.JoinedMS || atMS > ms(now.Add(maxClockSkew)) {
		return now
	}
	return time.UnixMilli(atMS)
}

// codeOf is a participant's code (as exports name participants), or "".
func (h *Hub) codeOf(id string) string {
	if p := h.byID[id]; p != nil {
		return p.rec.Code
	}
	return ""
}

// maxRememberedReports bounds the report ids a participant's state keeps to
// recognise resends without asking the store; the store's unique index
// catches older ones.
const maxRememberedReports = 256

func (p *participant) rememberReport(id string) {
	if id == "" {
		return
	}
	if p.reported == nil {
		p.reported = map[string]bool{}
	}
	if len(p.reported) >= maxRememberedReports {
		clear(p.reported)
	}
	p.reported[id] = true
}

// allowReport applies the report bucket; the refusal says when to resend.
func (h *Hub) allowReport(p *participant, now time.Time) *protocol.Error {
	wait, ok := p.reports.take(now, reportBurst, reportPerSec)
	if !ok {
		return &protocol.Error{Code: protocol.CodeRateLimited, RetryAfterMS: max(wait.Milliseconds(), 1), Message: reportRefused}
	}
	return nil
}

// devicesLocked records a kiosk's device report, for the events and the
// experimenter's view.
func (h *Hub) devicesLocked(p *participant, ref string, d *protocol.Devices) *protocol.Error {
	for field, v := range map[string]string{"camera": d.Camera, "microphone": d.Microphone, "speaker": d.Speaker} {
		switch v {
		case protocol.DeviceOK, protocol.DeviceOff, protocol.DeviceMissing:
		default:
			return &protocol.Error{Code: protocol.CodeBadField, Field: field,
				Message: fmt.Sprintf("%s %q is not %q, %q or %q", field, v, protocol.DeviceOK, protocol.DeviceOff, protocol.DeviceMissing)}
		}
	}
	now := h.clock.Now()
	if err := h.allowReport(p, now); err != nil {
		return err
	}
	report := &commitReq{from: p, ackRef: ref}
	defer h.enqueueLocked(report)
	p.devices = &protocol.Devices{Camera: d.Camera, Microphone: d.Microphone, Speaker: d.Speaker}
	if d.ID != "" && p.reported[d.ID] {
		return nil
	}
	p.rememberReport(d.ID)
	e := ev(p.sess.rec.Code, p.rec.ID, p.groupID(), EvDevices, p.devices, h.reportedAt(p, d.AtMS, now))
	e.ClientID = d.ID
	report.events = []store.Event{e}
	return nil
}

func (h *Hub) statsLocked(p *participant, ref string, st *protocol.Stats) *protocol.Error {
	now := h.clock.Now()
	if err := h.allowReport(p, now); err != nil {
		return err
	}
	at := h.reportedAt(p, st.AtMS, now)
	ack := &commitReq{from: p, ackRef: ref}
	defer h.enqueueLocked(ack)
	if st.ID != "" && p.reported[st.ID] {
		return nil
	}
	p.rememberReport(st.ID)
	q := *st
	q.ID, q.AtMS = "", 0
	p.quality = &q
	data := map[string]any{}
	raw, _ := json.Marshal(st)
	json.Unmarshal(raw, &data)
	delete(data, "id")
	delete(data, "at_ms")
	data["peer_code"] = h.codeOf(st.Peer)
	data["received_ms"] = ms(now)
	e := ev(p.sess.rec.Code, p.rec.ID, p.groupID(), EvStats, data, at)
	e.ClientID = st.ID
	ack.events = []store.Event{e}
	return nil
}
