package server

// hub.go: the Hub, the one owner of the server's live state, and the dispatch of
// each kiosk frame to its handler. Handlers return a *protocol.Error for a
// refusal; handle sends it, so a handler can be tested without a connection.

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/parley-lab/parley/signaling/protocol"
	"github.com/parley-lab/parley/signaling/store"
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
	EvReady          = "ready"      // the participant finished the device check
	EvNoPartner      = "no_partner" // a participant waited past no_partner_after_s unpaired
	EvDevices        = "devices"    // a kiosk's camera, microphone and speaker
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
	// version counts changes anyone watching could see (the dashboard
	// pushes a new view when it moves).
	version atomic.Uint64

	// commitMu is taken before mu by whatever must not interleave with a
	// batch between its commit and its delivery: the committer, and joins
	// (whose history replay would otherwise show a message twice).
	commitMu sync.Mutex
	cqMu     sync.Mutex
	cq       []*commitReq
	// cqRetry: server-made events whose commit failed, committed again
	// on their own once retryAt has passed (see commit.go).
	cqRetry    []*commitReq
	retryAt    time.Time
	retryTries int
	cqWake     chan struct{}
	cqDone     chan struct{}

	mu       sync.Mutex
	closed   bool
	sessions map[string]*session
	order    []*session // creation order
	byToken  map[string]*participant
	byID     map[string]*participant
	// pending are joins refused with no_session, kept until a session opens
	// in their room (then they are joined) or their connection ends.
	pending map[*conn]pendingJoin
	// checks maps a workstation check's id to its session.
	checks map[string]*session
}

// pendingJoin is a join waiting for a session to open.
type pendingJoin struct {
	ref string
	req protocol.JoinRequest
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
		pending:        map[*conn]pendingJoin{},
		checks:         map[string]*session{},
	}
}

// close stops timers and drops every connection; the committer finishes
// what is queued (see Server.Close).
func (h *Hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for _, s := range h.order {
		for _, p := range s.participants {
			if p.noPartnerTimer != nil {
				p.noPartnerTimer.Stop()
			}
		}
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
	h.version.Add(1)
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
	if p := c.p; p != nil {
		p.lastSeen = h.clock.Now()
	}
	if refusal := h.dispatchLocked(c, env, body); refusal != nil {
		c.sendErrorValue(env.Ref, *refusal)
	}
}

// dispatchLocked hands a decoded frame to its handler and returns the
// handler's refusal, if any.
func (h *Hub) dispatchLocked(c *conn, env protocol.Envelope, body any) *protocol.Error {
	if env.Type == protocol.TypeJoin {
		return h.joinLocked(c, env.Ref, body.(*protocol.JoinRequest))
	}
	p := c.p
	if p == nil {
		return &protocol.Error{Code: protocol.CodeNotJoined, Message: "send \"join\" first"}
	}
	switch b := body.(type) {
	case *protocol.Signal:
		return h.signalLocked(p, env.Ref, b)
	case *protocol.ChatSend:
		return h.chatLocked(p, env.Ref, b)
	case *protocol.CallState:
		return h.callStateLocked(p, env.Ref, b)
	case *protocol.Stats:
		return h.statsLocked(p, env.Ref, b)
	case *protocol.Devices:
		return h.devicesLocked(p, env.Ref, b)
	case *protocol.Consent:
		return h.consentLocked(p, env.Ref, b)
	case *protocol.RecordingState:
		return h.recordingLocked(p, env.Ref, b)
	}
	if env.Type == protocol.TypeReady {
		return h.readyLocked(p, env.Ref)
	}
	if env.Type == protocol.TypeLeave {
		h.leaveLocked(c, p)
		return nil
	}
	return &protocol.Error{Code: protocol.CodeUnknownType, Message: fmt.Sprintf("%q is sent by the server, not by a kiosk", env.Type)}
}
