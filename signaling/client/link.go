package client

// link.go: the session's connection to the server: the join, the
// reconnects with backoff, the one writer goroutine, and the reader that
// hands messages on and settles what the server answered.

import (
	"context"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/parley-lab/parley/signaling/protocol"
)

func (s *Session) sendJoin(c *Conn) {
	s.mu.Lock()
	req := protocol.JoinRequest{Room: s.cfg.Room, Seat: s.cfg.Seat, Client: s.cfg.Client, Since: maps.Clone(s.st.Since), Check: s.cfg.Check}
	if s.st.Token != "" {
		req.Token = s.st.Token
	} else {
		req.Pseudonym = s.pseudonym
	}
	s.joinSent = time.Now()
	s.mu.Unlock()
	c.Send(protocol.TypeJoin, "join", req)
}

func (s *Session) run(ctx context.Context) {
	defer close(s.done)
	writerDone := make(chan struct{})
	go func() { defer close(writerDone); s.writer(ctx) }()
	defer func() { <-writerDone }()
	s.deliverUnsent(ctx)
	backoff := s.cfg.BackoffMin
	for ctx.Err() == nil {
		c, err := Dial(ctx, s.cfg.URL)
		if err != nil {
			if ctx.Err() == nil {
				s.log.Warn("server not reachable", "url", s.cfg.URL, "err", err, "retry_in", backoff)
			}
		} else {
			s.mu.Lock()
			s.conn = c
			s.mu.Unlock()
			s.sendJoin(c)
			welcomed := s.read(ctx, c)
			s.mu.Lock()
			s.conn = nil
			wasOnline := s.online
			s.online = false
			s.inFlight.reset()
			s.mu.Unlock()
			c.Close()
			if wasOnline {
				s.h.Online(false)
			}
			if welcomed {
				backoff = s.cfg.BackoffMin
			}
		}
		// Jitter keeps a lab's kiosks from reconnecting in lockstep after a server restart.
		wait := backoff/2 + rand.N(backoff/2+1)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		backoff = min(backoff*2, s.cfg.BackoffMax)
	}
}

// writerTick is how often the writer looks for due resends and dead
// connections when nothing wakes it.
const writerTick = 250 * time.Millisecond

// writer is the one goroutine that saves the state file and writes the
// outbox to the connection.
func (s *Session) writer(ctx context.Context) {
	t := time.NewTicker(writerTick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case <-t.C:
		}
		// Saved before sending: a message the server may acknowledge is on
		// disk first, so a crash cannot lose what the partner saw.
		s.save()
		c, frames, dead := s.due(time.Now())
		if dead {
			s.log.Warn("server connection silent: nothing acknowledged within the limit; reconnecting", "limit", AckTimeout)
			c.Close()
			continue
		}
		for _, f := range frames {
			if err := c.SendRaw(f); err != nil {
				c.Close() // the reader sees it and reconnects; everything is resent
				break
			}
		}
	}
}

// due picks what to send now on the current connection, marking it in
// flight; dead reports that the connection left something unacknowledged
// for longer than AckTimeout.
func (s *Session) due(now time.Time) (c *Conn, frames [][]byte, dead bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c = s.conn
	if c == nil || !s.online {
		return nil, nil, false
	}
	if o := s.inFlight.oldest(); !o.IsZero() && now.Sub(o) > AckTimeout {
		return c, nil, true
	}
	for _, sg := range s.signals {
		if !s.inFlight.has(sg.ref) {
			s.inFlight.add(sg.ref, now)
			frames = append(frames, sg.frame)
		}
	}
	if now.Before(s.retryAt) {
		return c, frames, false
	}
	for _, cs := range s.st.Outbox {
		ref := ChatRefPrefix + cs.ClientMsgID
		if s.inFlight.count(ChatRefPrefix) >= ChatWindow {
			break
		}
		if !s.inFlight.has(ref) {
			if f, err := protocol.Encode(protocol.TypeChat, ref, cs); err == nil {
				s.inFlight.add(ref, now)
				frames = append(frames, f)
			}
		}
	}
	for _, r := range s.st.Reports {
		ref := reportRefPrefix + r.ID
		if s.inFlight.count(reportRefPrefix) >= ReportWindow {
			break
		}
		if !s.inFlight.has(ref) {
			if f, err := protocol.Encode(r.Type, ref, r.Data); err == nil {
				s.inFlight.add(ref, now)
				frames = append(frames, f)
			}
		}
	}
	return c, frames, false
}

// read handles one connection until it ends; it reports whether it was welcomed.
func (s *Session) read(ctx context.Context, c *Conn) bool {
	welcomed := false
	for ctx.Err() == nil {
		env, err := c.Recv()
		if err != nil {
			return welcomed
		}
		body, err := protocol.DecodeBody(env)
		if err != nil {
			continue // a newer server's message: ignore what we do not know
		}
		pass := true
		switch b := body.(type) {
		case *protocol.Welcome:
			welcomed = true
			s.mu.Lock()
			if b.Token != "" {
				s.st.Token = b.Token
			}
			s.st.URL, s.st.Room, s.st.Seat = s.cfg.URL, s.cfg.Room, s.cfg.Seat
			s.st.ParticipantID, s.st.Session, s.st.Pseudonym = b.ParticipantID, b.Session, b.Pseudonym
			s.clock.add(b.ServerTimeMS, s.joinSent, time.Now())
			s.dirty, s.durable = true, true
			s.online = true
			s.inFlight.reset()
			s.retryAt = time.Time{}
			// Signals of a call attempt that has moved on are not resent.
			kept := s.signals[:0]
			for _, sg := range s.signals {
				if time.Since(sg.at) < MaxSignalAge && sg.ref != readyRef {
					kept = append(kept, sg)
				}
			}
			s.signals = kept
			if s.st.Ready && !b.Ready {
				s.queueReadyLocked()
			}
			s.mu.Unlock()
			s.kick()
			s.h.Online(true)
		case *protocol.ChatMessage:
			s.seen(b.Channel, b.Seq)
		case *protocol.ChatAck:
			s.mu.Lock()
			s.inFlight.done(env.Ref)
			s.st.Outbox = slices.DeleteFunc(s.st.Outbox, func(cs protocol.ChatSend) bool { return cs.ClientMsgID == b.ClientMsgID })
			if ch := b.Message.Channel; b.Message.Seq > s.st.Since[ch] {
				s.st.Since[ch] = b.Message.Seq
			}
			s.dirty, s.durable = true, true
			s.mu.Unlock()
			s.kick()
			s.poke()
		case *protocol.Ack:
			s.settle(env.Ref, b.ServerTimeMS)
			pass = false
		case *protocol.Error:
			pass = s.refused(env.Ref, b)
		}
		if pass {
			s.h.Message(env.Type, env.Ref, body)
		}
	}
	return welcomed
}

// settle removes the report or signal ref names: the server has it. Its
// ack's time, from serverMS, is a sample of the server's clock.
func (s *Session) settle(ref string, serverMS int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sent, ok := s.inFlight.sent[ref]; ok && serverMS != 0 {
		s.clock.add(serverMS, sent, time.Now())
	}
	s.inFlight.done(ref)
	if id, ok := strings.CutPrefix(ref, reportRefPrefix); ok {
		s.st.Reports = slices.DeleteFunc(s.st.Reports, func(r Report) bool { return r.ID == id })
		s.dirty = true
	}
	s.signals = slices.DeleteFunc(s.signals, func(sg pendingSignal) bool { return sg.ref == ref })
	s.kick()
	s.poke()
}

// refused handles an error from the server; it reports whether the handler
// should hear of it (not for a refusal the session retries by itself).
func (s *Session) refused(ref string, e *protocol.Error) bool {
	if ref == "join" && e.Code == protocol.CodeBadToken && !s.delivery {
		// The server no longer knows us (a new database): start over, on
		// this connection, as a new participant with the pseudonym typed
		// (without one, the server says so and the kiosk asks for it).
		s.mu.Lock()
		s.st = State{Since: map[string]int64{}, Outbox: s.st.Outbox}
		s.dirty, s.durable = true, true
		c := s.conn
		s.mu.Unlock()
		if c != nil {
			go s.sendJoin(c)
		}
		return true
	}
	isChat, isReport, isSignal := strings.HasPrefix(ref, ChatRefPrefix), strings.HasPrefix(ref, reportRefPrefix), strings.HasPrefix(ref, signalRefPrefix)
	if !isChat && !isReport && !isSignal {
		return true
	}
	if protocol.Retryable(e.Code) {
		wait := DefaultRetryWait
		if e.RetryAfterMS > 0 {
			wait = time.Duration(e.RetryAfterMS) * time.Millisecond
		}
		s.mu.Lock()
		s.inFlight.done(ref) // sent again once the wait is over
		if !isSignal {
			s.retryAt = time.Now().Add(wait)
		}
		s.mu.Unlock()
		return false
	}
	// Refused for good: the handler shows why (a chat message as "not sent").
	s.mu.Lock()
	s.inFlight.done(ref)
	if id, ok := strings.CutPrefix(ref, ChatRefPrefix); ok {
		if i := slices.IndexFunc(s.st.Outbox, func(cs protocol.ChatSend) bool { return cs.ClientMsgID == id }); i >= 0 {
			s.refusedCS = append(s.refusedCS, s.st.Outbox[i])
			if len(s.refusedCS) > maxRefusedKept {
				s.refusedCS = s.refusedCS[1:]
			}
			s.st.Outbox = slices.Delete(s.st.Outbox, i, i+1)
		}
		s.dirty, s.durable = true, true
	}
	s.mu.Unlock()
	s.settle(ref, 0)
	if isReport || isSignal {
		s.log.Warn("server refused a report or signal", "code", e.Code, "message", e.Message, "ref", ref)
	}
	return true
}

func (s *Session) seen(channel string, seq int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if seq > s.st.Since[channel] {
		s.st.Since[channel] = seq
	}
}
