package server

// join.go: joining, resuming and leaving: who may join where, the seat rule,
// the welcome, and what a connection's end means.

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/gorilla/websocket"

	"github.com/parley-lab/parley/signaling/protocol"
	"github.com/parley-lab/parley/signaling/store"
)

// openSessionLocked returns the room's newest session that has not ended,
// opening one with the room's defaults if the room allows it. A workstation
// check (checkID set) gets its own session in the check room.
func (h *Hub) openSessionLocked(room Room, checkID string, now time.Time) (*session, error) {
	if checkID != "" {
		if s := h.checks[checkID]; s != nil && s.rec.State != store.SessionEnded {
			return s, nil
		}
		s, err := h.createSessionLocked(room.Name, room.Defaults, now)
		if err == nil {
			s.checkID = checkID
			h.checks[checkID] = s
		}
		return s, err
	}
	for i := len(h.order) - 1; i >= 0; i-- {
		if s := h.order[i]; s.rec.Room == room.Name && s.rec.State != store.SessionEnded {
			return s, nil
		}
	}
	if !room.AutoSession {
		return nil, errNoSession
	}
	return h.createSessionLocked(room.Name, room.Defaults, now)
}

var errNoSession = errors.New("no session is open in this room; ask the experimenter to create one")

func (h *Hub) createSessionLocked(room string, settings SessionSettings, now time.Time) (*session, error) {
	settings = settings.WithDefaults()
	if err := settings.Validate(); err != nil {
		return nil, err
	}
	raw, _ := json.Marshal(settings)
	rec := store.Session{Code: randomCode(8), Room: room, Settings: raw, State: store.SessionOpen, CreatedMS: ms(now)}
	if err := h.st.CreateSession(rec, ev(rec.Code, "", "", EvSessionCreated, map[string]any{"room": room, "settings": settings}, now)); err != nil {
		return nil, err
	}
	s := &session{rec: rec, settings: settings}
	h.sessions[rec.Code] = s
	h.order = append(h.order, s)
	if room != protocol.CheckRoom {
		h.log.Info("session created", "session", rec.Code, "room", room)
		h.joinPendingLocked(room, now)
	}
	return s, nil
}

// joinPendingLocked joins whoever was waiting for a session in room.
func (h *Hub) joinPendingLocked(room string, now time.Time) {
	for c, pj := range h.pending {
		if pj.req.Room != room {
			continue
		}
		delete(h.pending, c)
		c.parked.Store(false)
		req := pj.req
		if refusal := h.joinLocked(c, pj.ref, &req); refusal != nil {
			c.sendErrorValue(pj.ref, *refusal)
		}
	}
}

func (h *Hub) joinLocked(c *conn, ref string, req *protocol.JoinRequest) *protocol.Error {
	if c.p != nil {
		return &protocol.Error{Code: protocol.CodeAlreadyJoined, Message: "this connection has already joined"}
	}
	now := h.clock.Now()
	if !h.admit.join(c.addr) {
		return &protocol.Error{Code: protocol.CodeRateLimited, Message: fmt.Sprintf("too many joins from this address in a minute (max_joins_per_addr_per_minute = %d); try again shortly", h.cfg.MaxJoinsPerAddrPerMinute)}
	}
	if req.Token != "" {
		p := h.byToken[hashToken(req.Token)]
		if p == nil {
			return &protocol.Error{Code: protocol.CodeBadToken, Message: "the resume token is not known to this server; join with a pseudonym instead", Field: "token"}
		}
		if other := p.sess.seatHolder(p.rec.Seat, p); other != nil && other.conn != nil {
			return &protocol.Error{Code: protocol.CodeSeatTaken, Message: fmt.Sprintf("seat %q is now used by another participant in this session", p.rec.Seat), Field: "seat"}
		}
		h.attachLocked(c, p, ref, req.Since, true, now)
		return nil
	}
	roomName := req.Room
	if req.Check != "" {
		roomName = protocol.CheckRoom
	}
	room, ok := h.cfg.room(roomName)
	if !ok {
		return &protocol.Error{Code: protocol.CodeUnknownRoom, Message: fmt.Sprintf("room %q is not configured on this server", req.Room), Field: "room"}
	}
	seat, err := CheckSeat(req.Seat)
	if err != nil {
		return &protocol.Error{Code: protocol.CodeBadSeat, Message: err.Error(), Field: "seat"}
	}
	// The pseudonym is checked before the session is looked for, so a
	// participant who waits for the session has a name that will do.
	var pseudonym string
	if req.Pseudonym != "" || !room.Defaults.AssignPseudonyms {
		if pseudonym, err = CheckPseudonym(req.Pseudonym); err != nil {
			return &protocol.Error{Code: protocol.CodeBadPseudonym, Message: err.Error(), Field: "pseudonym"}
		}
	}
	s, err := h.openSessionLocked(room, req.Check, now)
	if err != nil {
		if errors.Is(err, errNoSession) {
			// Kept: the participant joins the moment a session opens.
			h.pending[c] = pendingJoin{ref: ref, req: *req}
			c.parked.Store(true) // the join timeout lets it wait
			return &protocol.Error{Code: protocol.CodeNoSession, Message: err.Error(), Field: "room"}
		}
		h.log.Error("open session", "err", err)
		return &protocol.Error{Code: protocol.CodeInternal, Message: "the server could not open a session"}
	}
	if pseudonym == "" {
		if !s.settings.AssignPseudonyms {
			return &protocol.Error{Code: protocol.CodeBadPseudonym, Message: "the pseudonym is empty", Field: "pseudonym"}
		}
		pseudonym = assignedPseudonym(func(n string) bool { return s.pseudonymTaken(n) })
	} else if s.pseudonymTaken(pseudonym) {
		return &protocol.Error{Code: protocol.CodePseudonymTaken, Field: "pseudonym",
			Message: fmt.Sprintf("another participant in this session is already called %q; please choose another pseudonym", pseudonym)}
	}
	if other := s.seatHolder(seat, nil); other != nil {
		msg := fmt.Sprintf("seat %q is already connected in this session", seat)
		if other.conn == nil {
			msg = fmt.Sprintf("seat %q belongs to a participant whose discussion is still running; that participant can rejoin from this seat, or the experimenter can end the discussion", seat)
		}
		return &protocol.Error{Code: protocol.CodeSeatTaken, Message: msg, Field: "seat"}
	}
	token, hash := newToken()
	id := "p_" + randomCode(12)
	rec, err := h.st.AddParticipant(store.Participant{
		ID: id, Session: s.rec.Code, Code: randomCode(8), Seat: seat,
		Pseudonym: pseudonym, TokenHash: hash, JoinedMS: ms(now),
	}, ev(s.rec.Code, id, "", EvJoin, map[string]any{"seat": seat, "pseudonym": pseudonym, "client": req.Client}, now))
	if err != nil {
		h.log.Error("add participant", "err", err)
		return &protocol.Error{Code: protocol.CodeInternal, Message: "the server could not store the participant; nothing was joined"}
	}
	p := &participant{rec: rec, sess: s, connectedTo: map[string]bool{}}
	s.participants = append(s.participants, p)
	h.byToken[hash] = p
	h.byID[rec.ID] = p
	if s.checkID == "" {
		h.log.Info("join", "session", s.rec.Code, "seat", seat, "participant", rec.ID, "client", req.Client)
	}
	c.p, p.conn = p, c
	c.joined.Store(true)
	h.welcomeLocked(p, ref, token, false, now)
	h.replayLocked(p, req.Since)
	h.pairLocked(s, now, false)
	return nil
}

// attachLocked connects c to an existing participant (a resume).
func (h *Hub) attachLocked(c *conn, p *participant, ref string, since map[string]int64, resumed bool, now time.Time) {
	if old := p.conn; old != nil {
		old.p = nil
		old.sendError("", protocol.CodeReplaced, "this participant was resumed on another connection", "")
		old.shut(websocket.ClosePolicyViolation, "replaced")
		// The old connection's own end will find itself replaced and log
		// nothing: its disconnect is logged here, before the reconnect.
		h.event(p.sess.rec.Code, p.rec.ID, p.groupID(), EvDisconnect, map[string]any{"reason": "replaced"}, now)
	}
	c.p, p.conn, p.left = p, c, false
	c.joined.Store(true)
	h.event(p.sess.rec.Code, p.rec.ID, p.groupID(), EvReconnect, nil, now)
	h.log.Info("resume", "session", p.sess.rec.Code, "group", p.groupID(), "seat", p.rec.Seat, "participant", p.rec.ID)
	h.welcomeLocked(p, ref, "", resumed, now)
	if p.rec.RemovedMS != 0 {
		h.sendLocked(p, protocol.TypeEnded, "", protocol.Ended{Reason: protocol.EndRemoved, AtMS: p.rec.RemovedMS})
		return
	}
	if g := p.group; g != nil {
		h.sendLocked(p, protocol.TypePaired, "", h.pairedMsg(p))
		if g.rec.ClockStartedMS != 0 {
			h.sendLocked(p, protocol.TypeClock, "", h.clockMsg(g, now))
		}
	}
	h.replayLocked(p, since)
	if g := p.group; g != nil {
		for _, m := range g.members {
			if m != p {
				h.sendLocked(p, protocol.TypePeerState, "", protocol.PeerState{ParticipantID: m.rec.ID, Online: m.conn != nil})
				h.sendLocked(m, protocol.TypePeerState, "", protocol.PeerState{ParticipantID: p.rec.ID, Online: true})
			}
		}
		for _, hs := range p.held {
			p.conn.enqueue(hs.frame)
		}
		p.held = nil
		if g.rec.EndedMS != 0 {
			h.sendLocked(p, protocol.TypeEnded, "", protocol.Ended{Reason: g.rec.EndReason, AtMS: g.rec.EndedMS})
		}
		return
	}
	if p.sess.rec.State == store.SessionEnded {
		h.sendLocked(p, protocol.TypeEnded, "", protocol.Ended{Reason: protocol.EndSession, AtMS: p.sess.rec.EndedMS})
		return
	}
	h.pairLocked(p.sess, now, false)
}

func (h *Hub) welcomeLocked(p *participant, ref, token string, resumed bool, now time.Time) {
	st := p.sess.settings
	h.sendLocked(p, protocol.TypeWelcome, ref, protocol.Welcome{
		ParticipantID: p.rec.ID, Token: token, Pseudonym: p.rec.Pseudonym, Session: p.sess.rec.Code,
		Room: p.sess.rec.Room, Seat: p.rec.Seat, Resumed: resumed, ServerTimeMS: ms(now),
		Settings: protocol.Settings{
			DurationS: st.DurationS, GroupSize: st.GroupSize, MaxMessageRunes: st.MaxMessageRunes,
			AllowMuteAudio: st.AllowMuteAudio, AllowMuteVideo: st.AllowMuteVideo,
			SelfView: *st.SelfView, ChatEnabled: *st.ChatEnabled,
			DeviceCheck: st.DeviceCheck, NoPartnerAfterS: st.NoPartnerAfterS, Record: st.Record,
		},
		Channels: h.channelsLocked(p),
		Ready:    p.rec.ReadyMS != 0,
		Consent:  p.rec.Consent,
	})
}

// disconnected is called by a connection's reader when it ends.
func (h *Hub) disconnected(c *conn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.pending, c)
	p := c.p
	if p == nil || p.conn != c || h.closed {
		if p != nil && p.conn == c {
			p.conn, c.p = nil, nil
		}
		return
	}
	h.detachLocked(c, p, "connection_lost", h.clock.Now())
}

// leaveLocked: p's kiosk said it leaves. The participant is detached at
// once, before its connection closes, so the seat is free the moment the
// kiosk sees the close (a kiosk delivering an earlier participant's unsent
// messages then joins as the next one).
func (h *Hub) leaveLocked(c *conn, p *participant) {
	now := h.clock.Now()
	p.left = true // the event's commit moves the dashboard's version
	h.event(p.sess.rec.Code, p.rec.ID, p.groupID(), EvLeave, nil, now)
	h.log.Info("leave", "session", p.sess.rec.Code, "group", p.groupID(), "seat", p.rec.Seat, "participant", p.rec.ID)
	h.detachLocked(c, p, "left", now)
	c.shut(websocket.CloseNormalClosure, "left")
}

// detachLocked ends p's connection c: logged with reason, and told to the
// others.
func (h *Hub) detachLocked(c *conn, p *participant, reason string, now time.Time) {
	p.conn, c.p = nil, nil
	h.event(p.sess.rec.Code, p.rec.ID, p.groupID(), EvDisconnect, map[string]any{"reason": reason}, now)
	h.log.Info("disconnect", "session", p.sess.rec.Code, "group", p.groupID(), "seat", p.rec.Seat, "participant", p.rec.ID, "reason", reason)
	if g := p.group; g != nil {
		for _, m := range g.members {
			if m != p {
				h.sendLocked(m, protocol.TypePeerState, "", protocol.PeerState{ParticipantID: p.rec.ID, Online: false})
			}
		}
		return
	}
	h.pairLocked(p.sess, now, false) // update the others' waiting counts
}

// readyLocked records that p finished the device check, and pairs.
func (h *Hub) readyLocked(p *participant, ref string) *protocol.Error {
	now := h.clock.Now()
	if p.rec.ReadyMS == 0 {
		ok, err := h.st.SetReady(p.rec.ID, ms(now), ev(p.sess.rec.Code, p.rec.ID, p.groupID(), EvReady, nil, now))
		if err != nil {
			h.log.Error("store ready", "err", err)
			return &protocol.Error{Code: protocol.CodeInternal, Message: "the server could not record that you are ready; it will be sent again"}
		}
		if ok {
			p.rec.ReadyMS = ms(now)
		}
	}
	if ref != "" {
		h.ackLocked(p, ref)
	}
	if p.group == nil {
		h.pairLocked(p.sess, now, false)
	}
	return nil
}
