package client

// unsent.go: delivering what earlier participants at this seat left
// unsent (see Session.Close). At a start, before this session joins, a
// short-lived session per earlier participant resumes with its token,
// sends its chat and reports, and leaves; then the entry leaves the state
// file. The server drops duplicates by id, so a delivery cut short and
// repeated stores nothing twice.

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/parley-lab/parley/signaling/protocol"
)

// Unsent is what one participant who is done had not delivered: chat and
// reports with the token that lets a later start deliver them as that
// participant. It is never resumed as a participant at the kiosk.
type Unsent struct {
	Identity
	Outbox  []protocol.ChatSend `json:"outbox,omitempty"`
	Reports []Report            `json:"reports,omitempty"`
}

// unsentLocked is what this session's participant has not delivered, if
// anything (and it can be delivered: a token is known).
func (s *Session) unsentLocked() (Unsent, bool) {
	if s.st.Token == "" || len(s.st.Outbox) == 0 && len(s.st.Reports) == 0 {
		return Unsent{}, false
	}
	return Unsent{Identity: Identity{URL: s.cfg.URL, Room: s.cfg.Room, Seat: s.cfg.Seat, Token: s.st.Token,
		ParticipantID: s.st.ParticipantID, Session: s.st.Session},
		Outbox:  append([]protocol.ChatSend(nil), s.st.Outbox...),
		Reports: append([]Report(nil), s.st.Reports...)}, true
}

// deliverUnsent delivers s.st.Unsent, one earlier participant at a time.
func (s *Session) deliverUnsent(ctx context.Context) {
	s.mu.Lock()
	pending := slices.Clone(s.st.Unsent)
	s.mu.Unlock()
	for _, u := range pending {
		if ctx.Err() != nil {
			return
		}
		left, done := s.deliver(ctx, u)
		s.mu.Lock()
		if i := slices.IndexFunc(s.st.Unsent, func(x Unsent) bool { return x.Token == u.Token }); i >= 0 {
			if done {
				s.st.Unsent = slices.Delete(s.st.Unsent, i, i+1)
			} else {
				s.st.Unsent[i] = left
			}
		}
		s.dirty, s.durable = true, true
		s.mu.Unlock()
		s.save()
	}
}

// deliver sends u's chat and reports as u's participant. done: nothing of
// u is left to deliver (delivered, or refused for good and logged); else
// left is what remains for the next start.
func (s *Session) deliver(ctx context.Context, u Unsent) (left Unsent, done bool) {
	h := &deliveryHandler{joinRefused: make(chan *protocol.Error, 1), stateFile: s.cfg.StateFile}
	d := newSession(SessionConfig{URL: u.URL, Room: u.Room, Seat: u.Seat, Client: s.cfg.Client,
		BackoffMin: s.cfg.BackoffMin, BackoffMax: s.cfg.BackoffMax, MaxQueued: s.cfg.MaxQueued, Log: s.log}, h)
	h.d = d
	d.delivery = true
	d.st = State{Identity: u.Identity,
		Since: map[string]int64{}, Outbox: slices.Clone(u.Outbox), Reports: slices.Clone(u.Reports)}
	remaining := func() Unsent {
		d.mu.Lock()
		defer d.mu.Unlock()
		r := u
		r.Outbox, r.Reports = slices.Clone(d.st.Outbox), slices.Clone(d.st.Reports)
		return r
	}
	s.log.Info("delivering what an earlier participant at this seat left unsent", "participant", u.ParticipantID,
		"session", u.Session, "chat_messages", len(u.Outbox), "reports", len(u.Reports))
	d.Start("")
	timer := time.NewTimer(UnsentDeliveryTimeout)
	defer timer.Stop()
	for {
		d.mu.Lock()
		empty := len(d.st.Outbox) == 0 && len(d.st.Reports) == 0
		d.mu.Unlock()
		if empty {
			break
		}
		select {
		case <-d.settled:
		case e := <-h.joinRefused:
			d.Close(false)
			if e.Code == protocol.CodeBadToken {
				// The server does not know the participant (a new
				// database): nothing can ever deliver these.
				keepLost(s.log, s.cfg.StateFile, "the server no longer knows its participant", u.ParticipantID, u.Session, d.st.Outbox...)
				return Unsent{}, true
			}
			s.log.Warn("unsent chat or reports of an earlier participant not delivered: the server refused the join; kept for the next start",
				"participant", u.ParticipantID, "code", e.Code, "message", e.Message)
			return remaining(), false
		case <-timer.C:
			d.Close(false)
			r := remaining()
			s.log.Error("unsent chat or reports of an earlier participant not delivered in time; kept for the next start",
				"err", ErrUndelivered, "participant", u.ParticipantID, "chat_messages", len(r.Outbox), "reports", len(r.Reports),
				"waited", UnsentDeliveryTimeout)
			return r, false
		case <-ctx.Done():
			d.Close(false)
			return remaining(), false
		}
	}
	d.leaveAndStop()
	s.log.Info("delivered what an earlier participant left unsent", "participant", u.ParticipantID)
	return Unsent{}, true
}

// leaveAndStop says "leave" and stops once the server has closed the
// connection (it frees the seat first), or after LeaveTimeout.
func (s *Session) leaveAndStop() {
	s.mu.Lock()
	c, cancel, done := s.conn, s.cancel, s.done
	s.mu.Unlock()
	frame, _ := protocol.Encode(protocol.TypeLeave, "", nil)
	sent := c != nil && c.SendRawWithin(frame, LeaveTimeout) == nil
	cancel() // no reconnect after the server's close
	if sent {
		t := time.NewTimer(LeaveTimeout)
		select {
		case <-done:
		case <-t.C:
		}
		t.Stop()
	}
	if c != nil {
		c.Close()
	}
	<-done
}

// deliveryHandler hears a delivering session: refusals are logged, the
// join's refusal ends the delivery.
type deliveryHandler struct {
	d           *Session
	joinRefused chan *protocol.Error
	stateFile   string // the seat's, beside which lost chat is kept
}

func (h *deliveryHandler) Online(bool) {}

func (h *deliveryHandler) Message(typ, ref string, body any) {
	e, ok := body.(*protocol.Error)
	if !ok {
		return
	}
	if ref == "join" {
		select {
		case h.joinRefused <- e:
		default:
		}
		return
	}
	if id, ok := strings.CutPrefix(ref, ChatRefPrefix); ok {
		if cs, ok := h.d.RefusedChat(id); ok {
			keepLost(h.d.log, h.stateFile, "refused by the server: "+e.Code+": "+e.Message, h.d.st.ParticipantID, h.d.st.Session, cs)
		}
	}
}
