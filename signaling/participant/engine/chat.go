package engine

// chat.go: chat: sending, the messages the server delivers (each shown once,
// replays included), and the experimenter's announcements.

import (
	"time"

	"github.com/parley-lab/parley/signaling/participant"
	"github.com/parley-lab/parley/signaling/protocol"
)

// Dismiss hides the announcement with this message id.
func (e *Engine) Dismiss(messageID string) {
	e.mu.Lock()
	e.dismissed[messageID] = true
	if a := e.st.Announcement; a != nil && a.ID == messageID {
		e.st.Announcement = nil
	}
	e.mu.Unlock()
	e.notify()
}

// SendChat posts a message; it shows as pending until the server commits it.
func (e *Engine) SendChat(channel, body string) string {
	id := e.sess.Chat(channel, body)
	e.notify()
	return id
}

func channels(cs []protocol.Channel) []participant.Channel {
	out := make([]participant.Channel, len(cs))
	for i, c := range cs {
		out[i] = participant.Channel{Name: c.Name, Kind: c.Kind, Writable: c.Writable}
	}
	return out
}

func (e *Engine) addMessageLocked(m protocol.ChatMessage) {
	if e.seen[m.ID] {
		return
	}
	e.seen[m.ID] = true
	pm := participant.Message{
		ID: m.ID, Channel: m.Channel, Seq: m.Seq, Pseudonym: m.Pseudonym, Role: m.Role, Body: m.Body,
		Time: time.UnixMilli(m.TimeMS).Add(-e.sess.Offset()), Own: m.SenderID != "" && m.SenderID == e.selfID,
	}
	e.st.Messages = append(e.st.Messages, pm)
	// An experimenter's announcement shows over the screen until dismissed;
	// history replayed after a restart is not announced again.
	toMe := m.Channel == protocol.ChannelExperimenter || m.Channel == protocol.ChannelPrivate && m.Role == protocol.RoleExperimenter
	if toMe && !m.Replay && !e.dismissed[m.ID] {
		e.st.Announcement = &pm
	}
}
