package server

// chat.go: a participant's chat message, from its checks to its delivery
// once committed (late messages included).

import (
	"fmt"
	"strings"
	"time"

	"github.com/parley-lab/parley/signaling/protocol"
	"github.com/parley-lab/parley/signaling/store"
)

func (h *Hub) chatLocked(p *participant, ref string, cs *protocol.ChatSend) *protocol.Error {
	now := h.clock.Now()
	fail := func(code, msg, field string) *protocol.Error {
		return &protocol.Error{Code: code, Message: msg, Field: field}
	}
	key, writable, ok := h.resolveLocked(p, cs.Channel)
	if !ok {
		return fail(protocol.CodeNoChannel, fmt.Sprintf("you cannot read or write channel %q", cs.Channel), "channel")
	}
	late := false
	if !writable {
		closedAt := h.closedAtLocked(p, key)
		switch {
		case closedAt == 0:
			return fail(protocol.CodeReadOnly, fmt.Sprintf("channel %q is read-only for participants", cs.Channel), "channel")
		case !h.lateAllowedLocked(p, cs.TypedAtMS, closedAt, now):
			return fail(protocol.CodeChatClosed, "the discussion has ended; the chat is closed", "channel")
		}
		late = true // typed before the end, delivered after it: kept, marked late
	}
	if len(cs.ClientMsgID) > protocol.MaxClientMsgIDBytes {
		return fail(protocol.CodeBadField, fmt.Sprintf("field \"client_msg_id\" is longer than %d bytes", protocol.MaxClientMsgIDBytes), "client_msg_id")
	}
	if code, err := protocol.CheckChatBody(cs.Body, p.sess.settings.MaxMessageRunes); err != nil {
		return fail(code, err.Error(), "body")
	}
	if wait, ok := p.allow(now, p.sess.settings); !ok {
		return &protocol.Error{Code: protocol.CodeRateLimited, RetryAfterMS: max(wait.Milliseconds(), 1),
			Message: "too many messages in a short time; wait a moment and send again"}
	}
	h.enqueueLocked(&commitReq{sess: p.sess, from: p, msgRef: ref, msg: &store.Message{
		ID: "m_" + randomCode(14), Session: p.sess.rec.Code, Channel: key, SenderID: p.rec.ID,
		SenderRole: protocol.RoleParticipant, Nickname: p.rec.Pseudonym, Body: cs.Body, TimeMS: ms(now),
		ClientMsgID: cs.ClientMsgID, TypedMS: cs.TypedAtMS, Late: late,
	}})
	return nil
}

// closedAtLocked is when a channel p may no longer write to was closed to
// participants (its group's or the session's end), or 0 if it is read-only.
func (h *Hub) closedAtLocked(p *participant, key string) int64 {
	if key == protocol.ChannelExperimenter {
		return 0
	}
	if strings.HasPrefix(key, protocol.PrivateKeyPrefix) && p.rec.RemovedMS != 0 {
		return p.rec.RemovedMS
	}
	end := p.sess.rec.EndedMS
	if strings.HasPrefix(key, protocol.GroupKeyPrefix) && p.group != nil && p.group.rec.EndedMS != 0 {
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

// deliverLocked sends a committed message to every online reader but skip.
func (h *Hub) deliverLocked(s *session, m store.Message, skip *participant) {
	wm := wireMessage(m)
	for _, r := range h.readersLocked(s, m.Channel) {
		if r != skip {
			h.sendLocked(r, protocol.TypeChatMsg, "", wm)
		}
	}
}
