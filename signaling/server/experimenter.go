package server

// experimenter.go: what the experimenter can see and do, as operations on the
// hub that the HTTP API (api.go), the CLI and a dashboard all call.

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/parley-lab/parley/pairing"
	"github.com/parley-lab/parley/signaling/protocol"
	"github.com/parley-lab/parley/signaling/store"
)

// API errors.
var (
	// ErrUnknownSession: no session with that code.
	ErrUnknownSession = errors.New("unknown session")
	// ErrUnknownChannel: no such channel in the session.
	ErrUnknownChannel = errors.New("unknown channel")
	// ErrSessionState: the session is not in a state that allows this.
	ErrSessionState = errors.New("session state does not allow this")
)

// sessionLocked finds a session by code.
func (h *Hub) sessionLocked(code string) (*session, error) {
	s, ok := h.sessions[code]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownSession, code)
	}
	return s, nil
}

// SessionView is a session as the API shows it.
type SessionView struct {
	Code         string          `json:"code"`
	Room         string          `json:"room"`
	State        string          `json:"state"`
	Settings     SessionSettings `json:"settings"`
	CreatedAt    time.Time       `json:"created_at"`
	StartedAt    *time.Time      `json:"started_at,omitempty"`
	EndedAt      *time.Time      `json:"ended_at,omitempty"`
	Participants int             `json:"participants"`
	Connected    int             `json:"connected"`
	Groups       int             `json:"groups"`
	// AllGroupsEnded: every group's discussion is over (the session itself
	// stays open for latecomers until the experimenter ends it).
	AllGroupsEnded bool `json:"all_groups_ended"`
}

func optTime(msec int64) *time.Time {
	if msec == 0 {
		return nil
	}
	t := time.UnixMilli(msec).UTC()
	return &t
}

func (h *Hub) viewLocked(s *session) SessionView {
	v := SessionView{Code: s.rec.Code, Room: s.rec.Room, State: s.rec.State, Settings: s.settings,
		CreatedAt: time.UnixMilli(s.rec.CreatedMS).UTC(), StartedAt: optTime(s.rec.StartedMS), EndedAt: optTime(s.rec.EndedMS),
		Participants: len(s.participants), Groups: len(s.groups)}
	for _, p := range s.participants {
		if p.conn != nil {
			v.Connected++
		}
	}
	v.AllGroupsEnded = len(s.groups) > 0
	for _, g := range s.groups {
		if g.rec.EndedMS == 0 {
			v.AllGroupsEnded = false
		}
	}
	return v
}

// StartView is a started session with who was paired and who was left.
type StartView struct {
	SessionView
	// Paired lists each group formed at the start by its members' seats;
	// LeftOver the seats of connected participants without a group.
	Paired   [][]string `json:"paired"`
	LeftOver []string   `json:"left_over"`
}

// SessionViews lists every session, oldest first.
func (h *Hub) SessionViews() []SessionView {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := []SessionView{}
	for _, s := range h.order {
		if s.checkID == "" && s.rec.Room != protocol.CheckRoom {
			out = append(out, h.viewLocked(s))
		}
	}
	return out
}

// SessionView shows one session.
func (h *Hub) SessionView(code string) (SessionView, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s, err := h.sessionLocked(code)
	if err != nil {
		return SessionView{}, err
	}
	return h.viewLocked(s), nil
}

// CreateSession opens a session in room. settings (JSON, may be empty)
// override the room's defaults field by field.
func (h *Hub) CreateSession(room string, settings json.RawMessage) (SessionView, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r, ok := h.cfg.room(room)
	if !ok {
		return SessionView{}, fmt.Errorf("%w: room %q is not configured on this server", ErrBadRequest, room)
	}
	st := r.Defaults
	if len(settings) > 0 && string(settings) != "null" {
		dec := json.NewDecoder(strings.NewReader(string(settings)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&st); err != nil {
			return SessionView{}, fmt.Errorf("%w: settings: %s", ErrBadRequest, protocol.DescribeJSONError(err, "settings."))
		}
	}
	s, err := h.createSessionLocked(room, st, h.clock.Now())
	if err != nil {
		return SessionView{}, err
	}
	return h.viewLocked(s), nil
}

// StartSession starts a session; random matching pairs those present now.
// It says who was paired and who was left over.
func (h *Hub) StartSession(code string) (StartView, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s, err := h.sessionLocked(code)
	if err != nil {
		return StartView{}, err
	}
	if s.rec.State != store.SessionOpen {
		return StartView{}, fmt.Errorf("%w: session %s is %s, only an open session can be started", ErrSessionState, code, s.rec.State)
	}
	now := h.clock.Now()
	if err := h.st.SetSessionState(code, store.SessionStarted, ms(now), ev(code, "", "", EvSessionStarted, nil, now)); err != nil {
		return StartView{}, err
	}
	s.rec.State, s.rec.StartedMS = store.SessionStarted, ms(now)
	h.log.Info("session started", "session", code)
	before := len(s.groups)
	h.pairLocked(s, now, pairing.Rule(s.settings.Matching) == pairing.Random)
	out := StartView{SessionView: h.viewLocked(s), Paired: [][]string{}, LeftOver: []string{}}
	for _, g := range s.groups[before:] {
		var seats []string
		for _, m := range g.members {
			seats = append(seats, m.rec.Seat)
		}
		out.Paired = append(out.Paired, seats)
	}
	for _, p := range s.participants {
		if p.group == nil && p.conn != nil {
			out.LeftOver = append(out.LeftOver, p.rec.Seat)
		}
	}
	return out, nil
}

// EndSession ends a session and every discussion still running in it.
func (h *Hub) EndSession(code string) (SessionView, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s, err := h.sessionLocked(code)
	if err != nil {
		return SessionView{}, err
	}
	if s.rec.State == store.SessionEnded {
		return SessionView{}, fmt.Errorf("%w: session %s has already ended", ErrSessionState, code)
	}
	now := h.clock.Now()
	for _, g := range s.groups {
		if g.rec.EndedMS == 0 {
			h.endGroupLocked(g, protocol.EndExperimenter, ms(now))
		}
	}
	if err := h.st.SetSessionState(code, store.SessionEnded, ms(now), ev(code, "", "", EvSessionEnded, nil, now)); err != nil {
		return SessionView{}, err
	}
	s.rec.State, s.rec.EndedMS = store.SessionEnded, ms(now)
	h.log.Info("session ended", "session", code)
	for _, p := range s.participants {
		if p.group == nil && p.rec.RemovedMS == 0 {
			h.sendLocked(p, protocol.TypeEnded, "", protocol.Ended{Reason: protocol.EndSession, AtMS: ms(now)})
		}
	}
	return h.viewLocked(s), nil
}

// ParticipantView is a participant as the experimenter sees it. The resume
// token is never shown.
type ParticipantView struct {
	ID          string   `json:"id"`
	Code        string   `json:"participant_code"`
	IDInSession int      `json:"id_in_session"`
	Seat        string   `json:"seat"`
	Pseudonym   string   `json:"pseudonym"`
	Connected   bool     `json:"connected"`
	State       string   `json:"state"` // one of the State constants: connecting, device_check, waiting, in_call, left...
	Group       int      `json:"group,omitempty"`
	TimeLeftS   *float64 `json:"time_left_s,omitempty"`
	// Devices is the kiosk's report of its camera, microphone and speaker;
	// Quality its latest call statistics; LastSeen when it last sent anything.
	Devices  *protocol.Devices `json:"devices,omitempty"`
	Quality  *protocol.Stats   `json:"quality,omitempty"`
	LastSeen *time.Time        `json:"last_seen,omitempty"`
	// Consent (when the session records): "given", "declined" or "" (not
	// answered yet); Recording the kiosk's recording and its uploads.
	Consent   string         `json:"consent,omitempty"`
	Recording *RecordingView `json:"recording,omitempty"`
	// CanPair: the experimenter may pair this participant by hand now
	// (waiting, or in a group that ended; see handPairRefusal).
	CanPair bool `json:"can_pair"`
}

// Participants lists a session's participants with their state.
func (h *Hub) Participants(code string) ([]ParticipantView, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s, err := h.sessionLocked(code)
	if err != nil {
		return nil, err
	}
	now := h.clock.Now()
	out := []ParticipantView{}
	for _, p := range s.participants {
		out = append(out, h.participantViewLocked(p, now))
	}
	return out, nil
}

// Participant states as the experimenter sees them (ParticipantView.State).
const (
	StateConnecting          = "connecting"           // offline; its kiosk may come back (it did not leave)
	StateLeft                = "left"                 // its kiosk left before the discussion ended
	StateConsent             = "consent"              // answering the consent screen
	StateDeclined            = "declined"             // declined to be recorded: never paired
	StateDeviceCheck         = "device_check"         // in the device check
	StateWaiting             = "waiting"              // ready, waiting for a partner
	StateNoPartner           = "no_partner"           // waited past no_partner_after_s
	StatePaired              = "paired"               // in a group, the call not (yet) up
	StateInCall              = "in_call"              // the call with every partner is up
	StatePartnerReconnecting = "partner_reconnecting" // a partner is offline, or their call dropped
	StatePartnerLeft         = "partner_left"         // a partner left before the end
	StatePaused              = "paused"               // the group's clock is paused
	StateEnded               = "ended"                // the discussion (or the session) is over
	StateRemoved             = "removed"              // the experimenter removed them
)

// participantViewLocked is one participant as the experimenter sees it.
func (h *Hub) participantViewLocked(p *participant, now time.Time) ParticipantView {
	v := ParticipantView{ID: p.rec.ID, Code: p.rec.Code, IDInSession: p.rec.IDInSession, Seat: p.rec.Seat,
		Pseudonym: p.rec.Pseudonym, Connected: p.conn != nil, Devices: p.devices, Quality: p.quality}
	if !p.lastSeen.IsZero() {
		t := p.lastSeen.UTC()
		v.LastSeen = &t
	}
	if p.sess.settings.Record != protocol.RecordOff {
		v.Consent, v.Recording = p.rec.Consent, p.recording.view()
	}
	if g := p.group; g != nil {
		v.Group = g.rec.Num
		if gv := h.groupViewLocked(g, now); gv.TimeLeftS != nil {
			v.TimeLeftS = gv.TimeLeftS
		}
		if g.rec.EndedMS != 0 {
			zero := 0.0
			v.TimeLeftS = &zero
		}
	}
	v.State = p.stateLocked()
	v.CanPair = p.sess.rec.State != store.SessionEnded && p.handPairRefusal() == nil
	return v
}

// stateLocked is p's state, the most pressing first: what ended it, then
// its own connection, then where it is (before pairing in the kiosk's
// order: the consent screen comes before the device check), then its
// partners' connections and calls.
func (p *participant) stateLocked() string {
	g := p.group
	switch {
	case p.rec.RemovedMS != 0:
		return StateRemoved
	case g != nil && g.rec.EndedMS != 0, g == nil && p.sess.rec.State == store.SessionEnded:
		return StateEnded
	case p.left:
		return StateLeft
	case p.conn == nil:
		return StateConnecting
	case g == nil:
		switch {
		case p.rec.Consent == protocol.ConsentDeclined && !p.consentOK():
			return StateDeclined
		case !p.consentOK():
			return StateConsent
		case !p.ready():
			return StateDeviceCheck
		case p.noPartner:
			return StateNoPartner
		}
		return StateWaiting
	}
	state := StateInCall
	for _, o := range g.members {
		switch {
		case o == p:
		case o.left && o.rec.RemovedMS == 0:
			return StatePartnerLeft
		case o.conn == nil || p.callUp[o.rec.ID] && !p.connectedTo[o.rec.ID]:
			state = StatePartnerReconnecting
		case !p.connectedTo[o.rec.ID] && state == StateInCall:
			state = StatePaired
		}
	}
	if state != StatePartnerReconnecting && g.rec.PausedMS != 0 && g.rec.ClockStartedMS != 0 {
		return StatePaused
	}
	return state
}

// ChannelView is a channel as the experimenter sees it.
type ChannelView struct {
	Key      string   `json:"channel"`
	Kind     string   `json:"kind"`
	Members  []string `json:"members"` // participant ids
	Messages int64    `json:"messages"`
	Closed   bool     `json:"closed"`
}

func (h *Hub) channelKeysLocked(s *session) []ChannelView {
	var out []ChannelView
	for _, g := range s.groups {
		out = append(out, ChannelView{Key: groupKey(g), Kind: protocol.ChannelGroup, Closed: g.rec.EndedMS != 0})
	}
	if s.settings.SessionChat {
		out = append(out, ChannelView{Key: protocol.ChannelSession, Kind: protocol.ChannelSession})
	}
	out = append(out, ChannelView{Key: protocol.ChannelExperimenter, Kind: protocol.ChannelExperimenter})
	for _, nc := range s.settings.Channels {
		out = append(out, ChannelView{Key: nc.Name, Kind: protocol.ChannelNamed})
	}
	for _, p := range s.participants {
		out = append(out, ChannelView{Key: protocol.PrivateKey(p.rec.Code), Kind: protocol.ChannelPrivate})
	}
	counts, err := h.st.ChannelCounts(s.rec.Code)
	if err != nil {
		h.log.Error("channel counts", "session", s.rec.Code, "err", err)
	}
	for i := range out {
		out[i].Messages = counts[out[i].Key]
		out[i].Members = []string{}
		for _, p := range h.readersLocked(s, out[i].Key) {
			out[i].Members = append(out[i].Members, p.rec.ID)
		}
		if s.rec.State == store.SessionEnded {
			out[i].Closed = true
		}
	}
	return out
}

// Channels lists a session's channels.
func (h *Hub) Channels(code string) ([]ChannelView, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s, err := h.sessionLocked(code)
	if err != nil {
		return nil, err
	}
	return h.channelKeysLocked(s), nil
}

// Channel shows one channel: 404 when it does not exist (uproot's exists).
func (h *Hub) Channel(code, key string) (ChannelView, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s, err := h.sessionLocked(code)
	if err != nil {
		return ChannelView{}, err
	}
	return h.channelLocked(s, key)
}

func (h *Hub) channelLocked(s *session, key string) (ChannelView, error) {
	key, _ = url.PathUnescape(key)
	// A group may be named by the number `participants` shows: group:1.
	if n, err := strconv.Atoi(strings.TrimPrefix(key, protocol.GroupKeyPrefix)); err == nil && strings.HasPrefix(key, protocol.GroupKeyPrefix) {
		if n < 1 || n > len(s.groups) {
			return ChannelView{}, fmt.Errorf("%w: session %s has no group %d", ErrUnknownChannel, s.rec.Code, n)
		}
		key = groupKey(s.groups[n-1])
	}
	// A participant's private channel may be named by seat, code or id.
	if who, ok := strings.CutPrefix(key, protocol.PrivateKeyPrefix); ok {
		p, err := h.participantLocked(s, who)
		if err != nil {
			return ChannelView{}, fmt.Errorf("%w: %v", ErrUnknownChannel, err)
		}
		key = protocol.PrivateKey(p.rec.Code)
	}
	for _, c := range h.channelKeysLocked(s) {
		if c.Key == key {
			return c, nil
		}
	}
	return ChannelView{}, fmt.Errorf("%w %q in session %s", ErrUnknownChannel, key, s.rec.Code)
}

// APIMessage is a message as the API shows it.
type APIMessage struct {
	ID         string    `json:"id"`
	Channel    string    `json:"channel"`
	Seq        int64     `json:"seq"`
	SenderID   string    `json:"sender_id,omitempty"`
	Nickname   string    `json:"nickname,omitempty"`
	SenderRole string    `json:"sender_role"`
	Body       string    `json:"body"`
	Time       time.Time `json:"time"`
}

func apiMessage(m store.Message) APIMessage {
	return APIMessage{ID: m.ID, Channel: m.Channel, Seq: m.Seq, SenderID: m.SenderID, Nickname: m.Nickname,
		SenderRole: m.SenderRole, Body: m.Body, Time: time.UnixMilli(m.TimeMS).UTC()}
}

// ChannelMessages lists a channel's messages in order.
func (h *Hub) ChannelMessages(code, key string) ([]APIMessage, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s, err := h.sessionLocked(code)
	if err != nil {
		return nil, err
	}
	c, err := h.channelLocked(s, key)
	if err != nil {
		return nil, err
	}
	msgs, err := h.st.Messages(code, c.Key, 0)
	out := []APIMessage{}
	for _, m := range msgs {
		out = append(out, apiMessage(m))
	}
	return out, err
}

// PostMessage posts as the experimenter (or the system) to a channel.
func (h *Hub) PostMessage(code, key, role, body string) (APIMessage, error) {
	if role == "" {
		role = protocol.RoleExperimenter
	}
	if role != protocol.RoleExperimenter && role != protocol.RoleSystem {
		return APIMessage{}, fmt.Errorf("%w: role must be %q or %q", ErrBadRequest, protocol.RoleExperimenter, protocol.RoleSystem)
	}
	h.mu.Lock()
	s, err := h.sessionLocked(code)
	if err != nil {
		h.mu.Unlock()
		return APIMessage{}, err
	}
	if _, err := protocol.CheckChatBody(body, s.settings.MaxMessageRunes); err != nil {
		h.mu.Unlock()
		return APIMessage{}, fmt.Errorf("%w: body: %v", ErrBadRequest, err)
	}
	c, err := h.channelLocked(s, key)
	if err != nil {
		h.mu.Unlock()
		return APIMessage{}, err
	}
	done := make(chan commitResult, 1)
	h.enqueueLocked(&commitReq{sess: s, done: done, msg: &store.Message{ID: "m_" + randomCode(14), Session: code, Channel: c.Key,
		SenderRole: role, Body: body, TimeMS: ms(h.clock.Now())}})
	h.mu.Unlock()
	r := <-done
	if r.err != nil {
		return APIMessage{}, r.err
	}
	// What was said is the research data's, not the log's.
	h.log.Info("experimenter message", "session", code, "channel", c.Key, "role", role, "message", r.stored.ID)
	return apiMessage(r.stored), nil
}

// AddWebhook registers url to receive every new message of the session, or
// of one channel.
func (h *Hub) AddWebhook(code, channel, rawURL string) (store.Webhook, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return store.Webhook{}, fmt.Errorf("%w: url %q is not an http(s) URL", ErrBadRequest, rawURL)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	s, err := h.sessionLocked(code)
	if err != nil {
		return store.Webhook{}, err
	}
	if channel != "" {
		if _, err := h.channelLocked(s, channel); err != nil && !strings.HasPrefix(channel, protocol.GroupKeyPrefix) {
			return store.Webhook{}, err
		}
	}
	w := store.Webhook{ID: "w_" + randomCode(10), Session: code, Channel: channel, URL: rawURL, CreatedMS: ms(h.clock.Now())}
	if err := h.st.AddWebhook(w); err != nil {
		return store.Webhook{}, err
	}
	s.webhooks = append(s.webhooks, w)
	// The host only: a webhook's path or query may hold its secret.
	h.log.Info("webhook added", "session", code, "channel", channel, "webhook", w.ID, "host", u.Host)
	return w, nil
}

// DeleteWebhook stops a webhook.
func (h *Hub) DeleteWebhook(id string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.st.DeleteWebhook(id, ms(h.clock.Now())); err != nil {
		return err
	}
	for _, s := range h.order {
		for i, w := range s.webhooks {
			if w.ID == id {
				s.webhooks = append(s.webhooks[:i], s.webhooks[i+1:]...)
				h.log.Info("webhook removed", "session", s.rec.Code, "webhook", id)
				return nil
			}
		}
	}
	return nil
}
