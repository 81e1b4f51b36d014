package server

// channels.go: chat channels: their keys, who reads and writes each, and the
// history a (re)joining kiosk is replayed.

import (
	"strings"

	"github.com/parley-lab/parley/signaling/protocol"
	"github.com/parley-lab/parley/signaling/store"
)

func groupKey(g *group) string { return protocol.GroupKey(g.rec.ID) }

// wireName is the channel's name as kiosks see it.
func wireName(key string) string {
	if _, ok := protocol.GroupOfKey(key); ok {
		return protocol.ChannelGroup
	}
	if strings.HasPrefix(key, protocol.PrivateKeyPrefix) {
		return protocol.ChannelPrivate
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
	out = append(out, protocol.Channel{Name: protocol.ChannelPrivate, Kind: protocol.ChannelPrivate, Writable: sessionOpen && p.rec.RemovedMS == 0})
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
		if ch.Kind == protocol.ChannelPrivate {
			return protocol.PrivateKey(p.rec.Code), ch.Writable, true
		}
		return ch.Name, ch.Writable, true
	}
	return "", false, false
}

// readersLocked lists the participants of s who may read the channel key.
func (h *Hub) readersLocked(s *session, key string) []*participant {
	switch {
	case strings.HasPrefix(key, protocol.GroupKeyPrefix):
		gid, _ := protocol.GroupOfKey(key)
		if g := s.groupByID[gid]; g != nil {
			return g.members
		}
		return nil
	case key == protocol.ChannelSession, key == protocol.ChannelExperimenter:
		return s.participants
	case strings.HasPrefix(key, protocol.PrivateKeyPrefix):
		code := strings.TrimPrefix(key, protocol.PrivateKeyPrefix)
		for _, p := range s.participants {
			if p.rec.Code == code {
				return []*participant{p}
			}
		}
		return nil
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
