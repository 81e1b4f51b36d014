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
// opening one with the room's defaults if the room allows it.
func (h *Hub) openSessionLocked(room Room, now time.Time) (*session, error) {
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
	h.log.Info("session created", "session", rec.Code, "room", room)
	return s, nil
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
	room, ok := h.cfg.room(req.Room)
	if !ok {
		return &protocol.Error{Code: protocol.CodeUnknownRoom, Message: fmt.Sprintf("room %q is not configured on this server", req.Room), Field: "room"}
	}
	seat, err := CheckSeat(req.Seat)
	if err != nil {
		return &protocol.Error{Code: protocol.CodeBadSeat, Message: err.Error(), Field: "seat"}
	}
	s, err := h.openSessionLocked(room, now)
	if err != nil {
		if errors.Is(err, errNoSession) {
			return &protocol.Error{Code: protocol.CodeNoSession, Message: err.Error(), Field: "room"}
		}
		h.log.Error("open session", "err", err)
		return &protocol.Error{Code: protocol.CodeInternal, Message: "the server could not open a session"}
	}
	var pseudonym string
	if req.Pseudonym == "" && s.settings.AssignPseudonyms {
		pseudonym = assignedPseudonym(func(n string) bool { return s.pseudonymTaken(n) })
	} else {
		pseudonym, err = CheckPseudonym(req.Pseudonym)
		if err != nil {
			return &protocol.Error{Code: protocol.CodeBadPseudonym, Message: err.Error(), Field: "pseudonym"}
		}
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
	h.log.Info("join", "session", s.rec.Code, "seat", seat, "participant", rec.ID, "client", req.Client)
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
	c.p, p.conn = p, c
	c.joined.Store(true)
	h.event(p.sess.rec.Code, p.rec.ID, p.groupID(), EvReconnect, nil, now)
	h.log.Info("resume", "session", p.sess.rec.Code, "group", p.groupID(), "seat", p.rec.Seat, "participant", p.rec.ID)
	h.welcomeLocked(p, ref, "", resumed, now)
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
		},
		Channels: h.channelsLocked(p),
	})
}

// disconnected is called by a connection's reader when it ends.
func (h *Hub) disconnected(c *conn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	p := c.p
	if p == nil || p.conn != c {
		return
	}
	p.conn, c.p = nil, nil
	if h.closed {
		return
	}
	now := h.clock.Now()
	h.event(p.sess.rec.Code, p.rec.ID, p.groupID(), EvDisconnect, map[string]any{"reason": "connection_lost"}, now)
	h.log.Info("disconnect", "session", p.sess.rec.Code, "group", p.groupID(), "seat", p.rec.Seat, "participant", p.rec.ID)
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
