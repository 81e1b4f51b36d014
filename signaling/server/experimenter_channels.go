package server

// experimenter_channels.go: a session's chat channels as the experimenter
// sees them (named by key, by group number or by seat), their messages, and
// posting to one as the experimenter.

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/parley-lab/parley/signaling/protocol"
	"github.com/parley-lab/parley/signaling/store"
)

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
