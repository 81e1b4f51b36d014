package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/parley-lab/parley/pairing"
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

// Event kinds in the events table and export.
const (
	EvSessionCreated = "session_created"
	EvSessionStarted = "session_started"
	EvSessionEnded   = "session_ended"
	EvJoin           = "join"
	EvReconnect      = "reconnect"
	EvDisconnect     = "disconnect"
	EvLeave          = "leave"
	EvPaired         = "paired"
	EvCallState      = "call_state"
	EvCallConnected  = "call_connected"
	EvClockStart     = "clock_start"
	EvClockEnd       = "clock_end"
	EvStats          = "stats"
	EvWebhookGaveUp  = "webhook_gave_up"
)

// Hub owns all live state: sessions, participants, groups, connections.
// One mutex guards it; every store write that changes what participants see
// happens under it, so the order of commits is the order of delivery.
type Hub struct {
	cfg   Config
	st    *store.Store
	clock Clock
	log   *slog.Logger
	rng   *rand.Rand
	// notifyWebhooks wakes the webhook dispatcher after a message commit.
	notifyWebhooks func()
	// admit caps connections and joins per remote address.
	admit *admission

	// commitMu is taken before mu by whatever must not interleave with a
	// batch between its commit and its delivery: the committer, and joins
	// (whose history replay would otherwise show a message twice).
	commitMu sync.Mutex
	cqMu     sync.Mutex
	cq       []*commitReq
	cqWake   chan struct{}
	cqDone   chan struct{}

	mu       sync.Mutex
	closed   bool
	sessions map[string]*session
	order    []*session // creation order
	byToken  map[string]*participant
	byID     map[string]*participant
}

type session struct {
	rec          store.Session
	settings     SessionSettings
	participants []*participant
	groups       []*group
	groupByID    map[string]*group // the same groups: a chat message finds its readers without a scan
	webhooks     []store.Webhook
}

// addGroupLocked adds g to s.
func (s *session) addGroupLocked(g *group) {
	if s.groupByID == nil {
		s.groupByID = map[string]*group{}
	}
	s.groups = append(s.groups, g)
	s.groupByID[g.rec.ID] = g
}

type participant struct {
	rec   store.Participant
	sess  *session
	group *group
	conn  *conn
	// held are signaling frames for this participant while it is offline.
	held []heldSignal
	// connectedTo: peers this participant reported the call connected with.
	connectedTo map[string]bool
	chat        bucket // chat messages
	reports     bucket // call states and stats
	// reported: ids of recent call-state and stats reports, so a resend
	// after a drop changes nothing twice.
	reported map[string]bool
}

// heldSignal is a relayed signal waiting for its recipient to come back.
type heldSignal struct {
	from  *participant
	frame []byte
}

type group struct {
	rec     store.Group
	members []*participant
	timer   Timer
}

func newHub(cfg Config, st *store.Store, clock Clock, log *slog.Logger) *Hub {
	return &Hub{
		cfg: cfg, st: st, clock: clock, log: log,
		rng:            rand.New(rand.NewPCG(uint64(clock.Now().UnixNano()), 0x9a7e1e)),
		notifyWebhooks: func() {},
		admit:          newAdmission(cfg, clock, log),
		cqWake:         make(chan struct{}, 1),
		cqDone:         make(chan struct{}),
		sessions:       map[string]*session{},
		byToken:        map[string]*participant{},
		byID:           map[string]*participant{},
	}
}

// restore loads every session from the store and re-arms the clocks of
// groups whose discussion is running, so a restarted server carries on.
func (h *Hub) restore() error {
	sessions, err := h.st.Sessions()
	if err != nil {
		return fmt.Errorf("load sessions: %w", err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, rec := range sessions {
		s := &session{rec: rec}
		if err := json.Unmarshal(rec.Settings, &s.settings); err != nil {
			return fmt.Errorf("session %s settings: %w", rec.Code, err)
		}
		s.settings = s.settings.WithDefaults()
		ps, err := h.st.Participants(rec.Code)
		if err != nil {
			return fmt.Errorf("session %s participants: %w", rec.Code, err)
		}
		for _, pr := range ps {
			p := &participant{rec: pr, sess: s, connectedTo: map[string]bool{}}
			s.participants = append(s.participants, p)
			h.byToken[pr.TokenHash] = p
			h.byID[pr.ID] = p
		}
		gs, err := h.st.Groups(rec.Code)
		if err != nil {
			return fmt.Errorf("session %s groups: %w", rec.Code, err)
		}
		for _, gr := range gs {
			g := &group{rec: gr}
			for _, id := range gr.Members {
				if p := h.byID[id]; p != nil {
					p.group = g
					g.members = append(g.members, p)
				}
			}
			s.addGroupLocked(g)
		}
		if s.webhooks, err = h.st.Webhooks(rec.Code); err != nil {
			return err
		}
		h.sessions[rec.Code] = s
		h.order = append(h.order, s)
	}
	now := h.clock.Now()
	for _, s := range h.order {
		for _, g := range s.groups {
			h.armLocked(g, now)
		}
	}
	return nil
}

// armLocked schedules a group's next clock event: the end at the deadline,
// or the fallback start if the call never reports connected.
func (h *Hub) armLocked(g *group, now time.Time) {
	if g.timer != nil {
		g.timer.Stop()
		g.timer = nil
	}
	if g.rec.EndedMS != 0 {
		return
	}
	if g.rec.ClockStartedMS != 0 {
		d := time.UnixMilli(g.rec.DeadlineMS).Sub(now)
		g.timer = h.clock.AfterFunc(max(d, 0), func() { h.deadline(g) })
		return
	}
	s := g.members[0].sess
	if s.settings.ClockStart == ClockPaired {
		h.startClockLocked(g, now, ClockPaired)
		return
	}
	fallback := time.UnixMilli(g.rec.PairedMS).Add(time.Duration(s.settings.ClockFallbackS) * time.Second)
	g.timer = h.clock.AfterFunc(max(fallback.Sub(now), 0), func() { h.fallback(g) })
}

func (h *Hub) fallback(g *group) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed || g.rec.ClockStartedMS != 0 || g.rec.EndedMS != 0 {
		return
	}
	h.startClockLocked(g, h.clock.Now(), "fallback")
}

func (h *Hub) deadline(g *group) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed || g.rec.EndedMS != 0 {
		return
	}
	h.endGroupLocked(g, "deadline", g.rec.DeadlineMS)
}

// close stops timers and drops every connection; the committer finishes
// what is queued (see Server.Close).
func (h *Hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for _, s := range h.order {
		for _, g := range s.groups {
			if g.timer != nil {
				g.timer.Stop()
			}
		}
		for _, p := range s.participants {
			if p.conn != nil {
				p.conn.shut(websocket.CloseGoingAway, "server restarting")
			}
		}
	}
}

// ev builds an event record.
func ev(sess, pid, gid, kind string, data any, at time.Time) store.Event {
	var raw json.RawMessage
	if data != nil {
		raw, _ = json.Marshal(data)
	}
	return store.Event{Session: sess, Participant: pid, Group: gid, Kind: kind, Data: raw, TimeMS: ms(at)}
}

// event queues an event that records no state change of its own for the
// batched committer (one disk sync for many, never under the hub's lock).
// Events that record a state change are written in that change's
// transaction instead.
func (h *Hub) event(sess, pid, gid, kind string, data any, at time.Time) {
	h.enqueueLocked(&commitReq{events: []store.Event{ev(sess, pid, gid, kind, data, at)}})
}

// sendLocked encodes and queues a message for an online participant.
func (h *Hub) sendLocked(p *participant, typ, ref string, v any) {
	if p.conn == nil {
		return
	}
	frame, err := protocol.Encode(typ, ref, v)
	if err != nil {
		h.log.Error("encode", "type", typ, "err", err)
		return
	}
	p.conn.enqueue(frame)
}

// handle processes one frame from a connection.
func (h *Hub) handle(c *conn, frame []byte) {
	env, err := protocol.Decode(frame)
	if err != nil {
		code := protocol.CodeMalformed
		switch {
		case errors.Is(err, protocol.ErrVersion):
			code = protocol.CodeBadVersion
		case errors.Is(err, protocol.ErrBadText):
			code = protocol.CodeBadField
		}
		c.sendError(env.Ref, code, err.Error(), protocol.ErrorField(err))
		return
	}
	body, err := protocol.DecodeBody(env)
	if err != nil {
		code := protocol.CodeMalformed
		if errors.Is(err, protocol.ErrUnknownType) {
			code = protocol.CodeUnknownType
		}
		c.sendError(env.Ref, code, err.Error(), protocol.ErrorField(err))
		return
	}
	if env.Type == protocol.TypeJoin {
		h.commitMu.Lock()
		defer h.commitMu.Unlock()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	if env.Type == protocol.TypeJoin {
		h.joinLocked(c, env.Ref, body.(*protocol.JoinRequest))
		return
	}
	p := c.p
	if p == nil {
		c.sendError(env.Ref, protocol.CodeNotJoined, "send \"join\" first", "")
		return
	}
	switch b := body.(type) {
	case *protocol.Signal:
		h.signalLocked(p, env.Ref, b)
	case *protocol.ChatSend:
		h.chatLocked(p, env.Ref, b)
	case *protocol.CallState:
		h.callStateLocked(p, env.Ref, b)
	case *protocol.Stats:
		h.statsLocked(p, env.Ref, b)
	default:
		if env.Type == protocol.TypeLeave {
			h.event(p.sess.rec.Code, p.rec.ID, p.groupID(), EvLeave, nil, h.clock.Now())
			h.log.Info("leave", "session", p.sess.rec.Code, "group", p.groupID(), "seat", p.rec.Seat, "participant", p.rec.ID)
			c.shut(websocket.CloseNormalClosure, "left")
			return
		}
		c.sendError(env.Ref, protocol.CodeUnknownType, fmt.Sprintf("%q is sent by the server, not by a kiosk", env.Type), "")
	}
}

func (p *participant) groupID() string {
	if p.group == nil {
		return ""
	}
	return p.group.rec.ID
}

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

func (h *Hub) joinLocked(c *conn, ref string, req *protocol.JoinRequest) {
	if c.p != nil {
		c.sendError(ref, protocol.CodeAlreadyJoined, "this connection has already joined", "")
		return
	}
	now := h.clock.Now()
	if !h.admit.join(c.addr) {
		c.sendError(ref, protocol.CodeRateLimited, fmt.Sprintf("too many joins from this address in a minute (max_joins_per_addr_per_minute = %d); try again shortly", h.cfg.MaxJoinsPerAddrPerMinute), "")
		return
	}
	if req.Token != "" {
		p := h.byToken[hashToken(req.Token)]
		if p == nil {
			c.sendError(ref, protocol.CodeBadToken, "the resume token is not known to this server; join with a pseudonym instead", "token")
			return
		}
		if other := p.sess.seatHolder(p.rec.Seat, p); other != nil && other.conn != nil {
			c.sendError(ref, protocol.CodeSeatTaken, fmt.Sprintf("seat %q is now used by another participant in this session", p.rec.Seat), "seat")
			return
		}
		h.attachLocked(c, p, ref, req.Since, true, now)
		return
	}
	room, ok := h.cfg.room(req.Room)
	if !ok {
		c.sendError(ref, protocol.CodeUnknownRoom, fmt.Sprintf("room %q is not configured on this server", req.Room), "room")
		return
	}
	seat, err := CheckSeat(req.Seat)
	if err != nil {
		c.sendError(ref, protocol.CodeBadSeat, err.Error(), "seat")
		return
	}
	s, err := h.openSessionLocked(room, now)
	if err != nil {
		if errors.Is(err, errNoSession) {
			c.sendError(ref, protocol.CodeNoSession, err.Error(), "room")
		} else {
			h.log.Error("open session", "err", err)
			c.sendError(ref, protocol.CodeInternal, "the server could not open a session", "")
		}
		return
	}
	var pseudonym string
	if req.Pseudonym == "" && s.settings.AssignPseudonyms {
		pseudonym = assignedPseudonym(func(n string) bool { return s.pseudonymTaken(n) })
	} else {
		pseudonym, err = CheckPseudonym(req.Pseudonym)
		if err != nil {
			c.sendError(ref, protocol.CodeBadPseudonym, err.Error(), "pseudonym")
			return
		}
	}
	if other := s.seatHolder(seat, nil); other != nil {
		msg := fmt.Sprintf("seat %q is already connected in this session", seat)
		if other.conn == nil {
			msg = fmt.Sprintf("seat %q belongs to a participant whose discussion is still running; that participant can rejoin from this seat, or the experimenter can end the discussion", seat)
		}
		c.sendError(ref, protocol.CodeSeatTaken, msg, "seat")
		return
	}
	token, hash := newToken()
	id := "p_" + randomCode(12)
	rec, err := h.st.AddParticipant(store.Participant{
		ID: id, Session: s.rec.Code, Code: randomCode(8), Seat: seat,
		Pseudonym: pseudonym, TokenHash: hash, JoinedMS: ms(now),
	}, ev(s.rec.Code, id, "", EvJoin, map[string]any{"seat": seat, "pseudonym": pseudonym, "client": req.Client}, now))
	if err != nil {
		h.log.Error("add participant", "err", err)
		c.sendError(ref, protocol.CodeInternal, "the server could not store the participant; nothing was joined", "")
		return
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
}

// seatHolder returns the participant other than except who holds seat in s:
// one connected there, or one whose discussion is still running (it may
// resume at any moment). A seat never has two connected participants.
func (s *session) seatHolder(seat string, except *participant) *participant {
	for _, p := range s.participants {
		if p == except || p.rec.Seat != seat {
			continue
		}
		if p.conn != nil {
			return p
		}
		if g := p.group; g != nil && g.rec.EndedMS == 0 && s.rec.State != store.SessionEnded {
			return p
		}
	}
	return nil
}

func (s *session) pseudonymTaken(n string) bool {
	key := PseudonymKey(n)
	for _, p := range s.participants {
		if PseudonymKey(p.rec.Pseudonym) == key {
			return true
		}
	}
	return false
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
		h.sendLocked(p, protocol.TypeEnded, "", protocol.Ended{Reason: "session_ended", AtMS: p.sess.rec.EndedMS})
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

// Channel keys: how a channel is named in the store, the API and exports.
const (
	keyGroupPrefix = "group:"
)

func groupKey(g *group) string { return keyGroupPrefix + g.rec.ID }

// wireName is the channel's name as kiosks see it.
func wireName(key string) string {
	if strings.HasPrefix(key, keyGroupPrefix) {
		return protocol.ChannelGroup
	}
	return key
}

// channelsLocked lists what p may read, with what it may write.
func (h *Hub) channelsLocked(p *participant) []protocol.Channel {
	var out []protocol.Channel
	st := p.sess.settings
	sessionOpen := p.sess.rec.State != store.SessionEnded
	if g := p.group; g != nil && *st.ChatEnabled {
		out = append(out, protocol.Channel{Name: protocol.ChannelGroup, Kind: protocol.ChannelGroup, Writable: g.rec.EndedMS == 0 && sessionOpen})
	}
	if st.SessionChat {
		out = append(out, protocol.Channel{Name: protocol.ChannelSession, Kind: protocol.ChannelSession, Writable: sessionOpen})
	}
	out = append(out, protocol.Channel{Name: protocol.ChannelExperimenter, Kind: protocol.ChannelExperimenter})
	for _, nc := range st.Channels {
		if contains(nc.Seats, p.rec.Seat) {
			out = append(out, protocol.Channel{Name: nc.Name, Kind: protocol.ChannelNamed, Writable: sessionOpen})
		}
	}
	return out
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// resolveLocked maps a wire channel name to its key for p, and whether p
// may write to it. ok is false when p may not read it.
func (h *Hub) resolveLocked(p *participant, name string) (key string, writable, ok bool) {
	for _, ch := range h.channelsLocked(p) {
		if ch.Name != name {
			continue
		}
		if ch.Kind == protocol.ChannelGroup {
			return groupKey(p.group), ch.Writable, true
		}
		return ch.Name, ch.Writable, true
	}
	return "", false, false
}

// readersLocked lists the participants of s who may read the channel key.
func (h *Hub) readersLocked(s *session, key string) []*participant {
	switch {
	case strings.HasPrefix(key, keyGroupPrefix):
		if g := s.groupByID[key[len(keyGroupPrefix):]]; g != nil {
			return g.members
		}
		return nil
	case key == protocol.ChannelSession, key == protocol.ChannelExperimenter:
		return s.participants
	}
	for _, nc := range s.settings.Channels {
		if nc.Name == key {
			var out []*participant
			for _, p := range s.participants {
				if contains(nc.Seats, p.rec.Seat) {
					out = append(out, p)
				}
			}
			return out
		}
	}
	return nil
}

// replayLocked sends p every message of its channels after since.
func (h *Hub) replayLocked(p *participant, since map[string]int64) {
	for _, ch := range h.channelsLocked(p) {
		key, _, _ := h.resolveLocked(p, ch.Name)
		msgs, err := h.st.Messages(p.sess.rec.Code, key, since[ch.Name])
		if err != nil {
			h.log.Error("replay", "channel", key, "err", err)
			h.sendLocked(p, protocol.TypeError, "", protocol.Error{Code: protocol.CodeInternal, Message: "the chat history could not be read; reconnect to try again"})
			continue
		}
		for _, m := range msgs {
			wm := wireMessage(m)
			wm.Replay = true
			h.sendLocked(p, protocol.TypeChatMsg, "", wm)
		}
	}
}

func wireMessage(m store.Message) protocol.ChatMessage {
	return protocol.ChatMessage{
		ID: m.ID, Channel: wireName(m.Channel), Seq: m.Seq, SenderID: m.SenderID, Pseudonym: m.Nickname,
		Role: m.SenderRole, Body: m.Body, TimeMS: m.TimeMS,
	}
}

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

func (h *Hub) clockMsg(g *group, now time.Time) protocol.Clock {
	return protocol.Clock{StartedAtMS: g.rec.ClockStartedMS, DeadlineMS: g.rec.DeadlineMS, ServerTimeMS: ms(now), Reason: g.rec.ClockReason}
}

// startClockLocked starts a group's discussion clock; evs (such as the
// call_connected that started it) commit with it.
func (h *Hub) startClockLocked(g *group, now time.Time, reason string, evs ...store.Event) {
	s := g.members[0].sess
	start := ms(now)
	deadline := start + int64(s.settings.DurationS)*1000
	evs = append(evs, ev(s.rec.Code, "", g.rec.ID, EvClockStart, map[string]any{"reason": reason, "deadline_ms": deadline, "paired_ms": g.rec.PairedMS, "setup_ms": start - g.rec.PairedMS}, now))
	ok, err := h.st.StartClock(g.rec.ID, start, deadline, reason, evs...)
	if err != nil {
		h.log.Error("start clock", "group", g.rec.ID, "err", err)
		return
	}
	if !ok {
		return
	}
	g.rec.ClockStartedMS, g.rec.DeadlineMS, g.rec.ClockReason = start, deadline, reason
	h.log.Info("clock start", "session", s.rec.Code, "group", g.rec.ID, "reason", reason, "deadline", time.UnixMilli(deadline).UTC().Format(time.RFC3339))
	// Arm the deadline before the members hear of the clock (see formGroupLocked).
	h.armLocked(g, now)
	for _, m := range g.members {
		h.sendLocked(m, protocol.TypeClock, "", h.clockMsg(g, now))
	}
}

// endGroupLocked ends a group's discussion at atMS and tells its members;
// the offline ones learn it when they return.
func (h *Hub) endGroupLocked(g *group, reason string, atMS int64) {
	now := h.clock.Now()
	s := g.members[0].sess
	ok, err := h.st.EndGroup(g.rec.ID, atMS, reason,
		ev(s.rec.Code, "", g.rec.ID, EvClockEnd, map[string]any{"reason": reason, "deadline_ms": g.rec.DeadlineMS, "processed_late_ms": ms(now) - atMS}, now))
	if err != nil {
		h.log.Error("end group", "group", g.rec.ID, "err", err)
		// Try again shortly: the end must be recorded.
		g.timer = h.clock.AfterFunc(time.Second, func() { h.deadline(g) })
		return
	}
	if !ok {
		return
	}
	if g.timer != nil {
		g.timer.Stop()
		g.timer = nil
	}
	g.rec.EndedMS, g.rec.EndReason = atMS, reason
	h.log.Info("clock end", "session", s.rec.Code, "group", g.rec.ID, "reason", reason)
	for _, m := range g.members {
		h.sendLocked(m, protocol.TypeEnded, "", protocol.Ended{Reason: reason, AtMS: atMS})
	}
}

func (h *Hub) signalLocked(p *participant, ref string, sig *protocol.Signal) {
	g := p.group
	if g == nil {
		p.conn.sendError(ref, protocol.CodeNotPaired, "signaling is only possible after pairing", "")
		return
	}
	var to *participant
	for _, m := range g.members {
		if m.rec.ID == sig.To && m != p {
			to = m
		}
	}
	if to == nil {
		p.conn.sendError(ref, protocol.CodeNotInGroup, fmt.Sprintf("%q is not another member of your group", sig.To), "to")
		return
	}
	switch sig.Kind {
	case protocol.SignalOffer, protocol.SignalAnswer:
		if sig.SDP == "" {
			p.conn.sendError(ref, protocol.CodeBadField, "an offer or answer needs \"sdp\"", "sdp")
			return
		}
	case protocol.SignalCandidate:
	default:
		p.conn.sendError(ref, protocol.CodeBadField, fmt.Sprintf("signal kind %q is not offer, answer or candidate", sig.Kind), "kind")
		return
	}
	out := *sig
	out.From, out.To = p.rec.ID, ""
	frame, _ := protocol.Encode(protocol.TypeSignal, "", out)
	// The ack tells the sender the signal reached the server (relayed or
	// held): one written into a connection that died unnoticed is resent.
	if ref != "" {
		h.sendLocked(p, protocol.TypeAck, ref, protocol.Ack{ID: ref})
	}
	if to.conn != nil && to.conn.enqueue(frame) {
		return
	}
	// Held until the partner is back; the oldest go first if it never is.
	// A new offer starts a new call: what is still held from the same
	// sender belongs to the call it replaces and would only confuse.
	if sig.Kind == protocol.SignalOffer {
		kept := to.held[:0]
		for _, hs := range to.held {
			if hs.from != p {
				kept = append(kept, hs)
			}
		}
		to.held = kept
	}
	if len(to.held) >= h.cfg.MaxHeldSignals {
		to.held = to.held[1:]
	}
	to.held = append(to.held, heldSignal{from: p, frame: frame})
}

func (h *Hub) chatLocked(p *participant, ref string, cs *protocol.ChatSend) {
	now := h.clock.Now()
	fail := func(code, msg, field string) {
		p.conn.sendError(ref, code, msg, field)
	}
	key, writable, ok := h.resolveLocked(p, cs.Channel)
	if !ok {
		fail(protocol.CodeNoChannel, fmt.Sprintf("you cannot read or write channel %q", cs.Channel), "channel")
		return
	}
	late := false
	if !writable {
		closedAt := h.closedAtLocked(p, key)
		switch {
		case closedAt == 0:
			fail(protocol.CodeReadOnly, fmt.Sprintf("channel %q is read-only for participants", cs.Channel), "channel")
			return
		case !h.lateAllowedLocked(p, cs.TypedAtMS, closedAt, now):
			fail(protocol.CodeChatClosed, "the discussion has ended; the chat is closed", "channel")
			return
		}
		late = true // typed before the end, delivered after it: kept, marked late
	}
	if len(cs.ClientMsgID) > protocol.MaxClientMsgIDBytes {
		fail(protocol.CodeBadField, fmt.Sprintf("field \"client_msg_id\" is longer than %d bytes", protocol.MaxClientMsgIDBytes), "client_msg_id")
		return
	}
	if code, err := protocol.CheckChatBody(cs.Body, p.sess.settings.MaxMessageRunes); err != nil {
		fail(code, err.Error(), "body")
		return
	}
	if wait, ok := p.allow(now, p.sess.settings); !ok {
		p.conn.sendErrorValue(ref, protocol.Error{Code: protocol.CodeRateLimited, RetryAfterMS: max(wait.Milliseconds(), 1),
			Message: "too many messages in a short time; wait a moment and send again"})
		return
	}
	h.enqueueLocked(&commitReq{sess: p.sess, from: p, msgRef: ref, msg: &store.Message{
		ID: "m_" + randomCode(14), Session: p.sess.rec.Code, Channel: key, SenderID: p.rec.ID,
		SenderRole: protocol.RoleParticipant, Nickname: p.rec.Pseudonym, Body: cs.Body, TimeMS: ms(now),
		ClientMsgID: cs.ClientMsgID, TypedMS: cs.TypedAtMS, Late: late,
	}})
}

// closedAtLocked is when a channel p may no longer write to was closed to
// participants (its group's or the session's end), or 0 if it is read-only.
func (h *Hub) closedAtLocked(p *participant, key string) int64 {
	if key == protocol.ChannelExperimenter {
		return 0
	}
	end := p.sess.rec.EndedMS
	if strings.HasPrefix(key, keyGroupPrefix) && p.group != nil && p.group.rec.EndedMS != 0 {
		if end == 0 || p.group.rec.EndedMS < end {
			end = p.group.rec.EndedMS
		}
	}
	return end
}

// lateAllowedLocked: a message typed (by the kiosk's account, in server
// time) after p joined and no later than closedAt is accepted late, as
// long as it arrives within the configured grace after the close.
func (h *Hub) lateAllowedLocked(p *participant, typedMS, closedAt int64, now time.Time) bool {
	return typedMS != 0 && typedMS <= closedAt && typedMS >= p.rec.JoinedMS &&
		ms(now)-closedAt <= h.cfg.LateChatGrace.Milliseconds()
}

// commitReq is one message, or events, waiting for the committer.
type commitReq struct {
	sess   *session
	msg    *store.Message // nil: events only
	events []store.Event
	from   *participant // nil for the experimenter
	msgRef string       // the envelope's ref, echoed in the ack
	// ackRef: the kiosk's ref of a reported event, acknowledged to from
	// once committed.
	ackRef string
	done   chan commitResult
}

type commitResult struct {
	stored store.Message
	err    error
}

// maxCommitBatch bounds one group commit.
const maxCommitBatch = 256

// enqueueLocked hands a validated message to the committer. It never blocks:
// the queue is bounded by the per-participant rate limit.
func (h *Hub) enqueueLocked(r *commitReq) {
	h.cqMu.Lock()
	h.cq = append(h.cq, r)
	h.cqMu.Unlock()
	select {
	case h.cqWake <- struct{}{}:
	default:
	}
}

// committer commits queued messages in batches (one disk sync per batch)
// and only then acknowledges and relays them, in queue order. It drains the
// queue before it stops, so nothing validated is dropped at shutdown.
func (h *Hub) committer(stop <-chan struct{}) {
	defer close(h.cqDone)
	for {
		h.cqMu.Lock()
		n := min(len(h.cq), maxCommitBatch)
		batch := append([]*commitReq(nil), h.cq[:n]...)
		h.cq = h.cq[n:]
		h.cqMu.Unlock()
		if n == 0 {
			select {
			case <-h.cqWake:
				continue
			case <-stop:
				h.cqMu.Lock()
				empty := len(h.cq) == 0
				h.cqMu.Unlock()
				if empty {
					return
				}
				continue
			}
		}
		h.commitBatch(batch)
	}
}

func (h *Hub) commitBatch(batch []*commitReq) {
	h.commitMu.Lock()
	defer h.commitMu.Unlock()
	var items []store.Append
	var events []store.Event
	index := make([]int, len(batch)) // batch entry -> its message in items, or -1
	hooked := false
	h.mu.Lock()
	for i, r := range batch {
		events = append(events, r.events...)
		index[i] = -1
		if r.msg == nil {
			continue
		}
		index[i] = len(items)
		it := store.Append{Msg: *r.msg}
		for _, w := range r.sess.webhooks {
			if w.Channel == "" || w.Channel == r.msg.Channel {
				it.Webhooks = append(it.Webhooks, w.ID)
				hooked = true
			}
		}
		items = append(items, it)
	}
	h.mu.Unlock()
	res, err := h.st.CommitBatch(items, events)
	h.mu.Lock()
	defer h.mu.Unlock()
	if err != nil {
		h.log.Error("store messages and events", "messages", len(items), "events", len(events), "err", err)
	}
	for i, r := range batch {
		if r.msg == nil {
			// Events: acknowledged once stored; on failure the kiosk
			// resends them (its outbox keeps what is not acknowledged).
			if r.ackRef != "" && r.from != nil && r.from.conn != nil {
				if err != nil {
					r.from.conn.sendError(r.ackRef, protocol.CodeInternal, "the report could not be saved; send it again", "")
				} else {
					h.sendLocked(r.from, protocol.TypeAck, r.ackRef, protocol.Ack{ID: r.ackRef})
				}
			}
			continue
		}
		if err != nil {
			if r.done != nil {
				r.done <- commitResult{err: err}
			} else if r.from != nil && r.from.conn != nil {
				r.from.conn.sendError(r.msgRef, protocol.CodeInternal, "the message could not be saved; it was not sent", "")
			}
			continue
		}
		stored, dup := res[index[i]].Stored, res[index[i]].Dup
		if r.from != nil {
			h.sendLocked(r.from, protocol.TypeChatAck, r.msgRef, protocol.ChatAck{ClientMsgID: r.msg.ClientMsgID, Message: wireMessage(stored)})
		}
		if !dup {
			h.deliverLocked(r.sess, stored, r.from)
		}
		if r.done != nil {
			r.done <- commitResult{stored: stored}
		}
	}
	if hooked && err == nil {
		h.notifyWebhooks()
	}
}

// deliverLocked sends a committed message to every online reader but skip.
func (h *Hub) deliverLocked(s *session, m store.Message, skip *participant) {
	wm := wireMessage(m)
	for _, r := range h.readersLocked(s, m.Channel) {
		if r != skip {
			h.sendLocked(r, protocol.TypeChatMsg, "", wm)
		}
	}
}

// allow applies the session's chat rate limit to p.
func (p *participant) allow(now time.Time, st SessionSettings) (wait time.Duration, ok bool) {
	return p.chat.take(now, st.RateBurst, st.RatePerSecond)
}

// bucket is a token bucket.
type bucket struct {
	tokens float64
	at     time.Time
}

// take takes a token: burst at once, refilled at perSec. When it refuses,
// wait says when the next token is there.
func (b *bucket) take(now time.Time, burst int, perSec float64) (wait time.Duration, ok bool) {
	if b.at.IsZero() {
		b.tokens, b.at = float64(burst), now
	}
	b.tokens = min(float64(burst), b.tokens+now.Sub(b.at).Seconds()*perSec)
	b.at = now
	if b.tokens < 1 {
		return time.Duration((1 - b.tokens) / perSec * float64(time.Second)), false
	}
	b.tokens--
	return 0, true
}

func (h *Hub) callStateLocked(p *participant, ref string, cs *protocol.CallState) {
	g := p.group
	if g == nil {
		p.conn.sendError(ref, protocol.CodeNotPaired, "call state is only reported after pairing", "")
		return
	}
	if !g.has(cs.Peer) || cs.Peer == p.rec.ID {
		p.conn.sendError(ref, protocol.CodeNotInGroup, fmt.Sprintf("%q is not another member of your group", cs.Peer), "peer")
		return
	}
	switch cs.State {
	case protocol.CallConnecting, protocol.CallConnected, protocol.CallDisconnected, protocol.CallFailed:
	default:
		p.conn.sendError(ref, protocol.CodeBadField, fmt.Sprintf("call state %q is not connecting, connected, disconnected or failed", cs.State), "state")
		return
	}
	now := h.clock.Now()
	if !h.allowReport(p, ref, now) {
		return
	}
	at := h.reportedAt(p, cs.AtMS, now)
	e := ev(p.sess.rec.Code, p.rec.ID, g.rec.ID, EvCallState, map[string]any{"peer": cs.Peer, "peer_code": h.codeOf(cs.Peer),
		"state": cs.State, "since_paired_ms": ms(at) - g.rec.PairedMS, "received_ms": ms(now)}, at)
	e.ClientID = cs.ID
	report := &commitReq{events: []store.Event{e}, from: p, ackRef: ref}
	defer h.enqueueLocked(report)
	if cs.ID != "" && p.reported[cs.ID] {
		return // a resend: stored (or queued) already; acknowledged again
	}
	p.rememberReport(cs.ID)
	p.connectedTo[cs.Peer] = cs.State == protocol.CallConnected
	if g.rec.ClockStartedMS != 0 || g.rec.EndedMS != 0 || cs.State != protocol.CallConnected {
		return
	}
	for _, m := range g.members {
		for _, o := range g.members {
			if m != o && !m.connectedTo[o.rec.ID] {
				return
			}
		}
	}
	h.startClockLocked(g, now, ClockAllConnected, ev(p.sess.rec.Code, "", g.rec.ID, EvCallConnected, map[string]any{"setup_ms": ms(now) - g.rec.PairedMS}, now))
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

func (g *group) has(id string) bool {
	for _, m := range g.members {
		if m.rec.ID == id {
			return true
		}
	}
	return false
}

// allowReport applies the report bucket; false means p was told to wait.
func (h *Hub) allowReport(p *participant, ref string, now time.Time) bool {
	wait, ok := p.reports.take(now, reportBurst, reportPerSec)
	if !ok {
		p.conn.sendErrorValue(ref, protocol.Error{Code: protocol.CodeRateLimited, RetryAfterMS: max(wait.Milliseconds(), 1), Message: reportRefused})
	}
	return ok
}

func (h *Hub) statsLocked(p *participant, ref string, st *protocol.Stats) {
	now := h.clock.Now()
	if !h.allowReport(p, ref, now) {
		return
	}
	at := h.reportedAt(p, st.AtMS, now)
	ack := &commitReq{from: p, ackRef: ref}
	defer h.enqueueLocked(ack)
	if st.ID != "" && p.reported[st.ID] {
		return
	}
	p.rememberReport(st.ID)
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
