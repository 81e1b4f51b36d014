package engine

import (
	"strings"
	"time"

	"github.com/parley-lab/parley/signaling/client"
	"github.com/parley-lab/parley/signaling/participant"
	"github.com/parley-lab/parley/signaling/protocol"
)

// handler receives the session's messages; it is the engine seen from the
// session's goroutine.
type handler Engine

func (h *handler) Online(up bool) {
	e := (*Engine)(h)
	e.mu.Lock()
	if e.ended {
		e.mu.Unlock()
		return // the session was let go at the end; not a lost connection
	}
	e.st.ServerOnline = up
	if up {
		e.st.ServerUnreachable = false
		if e.unreachable != nil {
			e.unreachable.Stop()
			e.unreachable = nil
		}
	} else {
		e.armUnreachableLocked()
	}
	e.mu.Unlock()
	if up && e.cfg.Recorder != nil {
		e.cfg.Recorder.Upload()
	}
	e.notify()
}

// Plain-language texts for refusals the participant can act on. The UI
// translates by Code; these are the English fallbacks.
var noticeText = map[string]string{
	protocol.CodeBadPseudonym:   "Please choose another name: ",
	protocol.CodeTooLong:        "Your message is too long: ",
	protocol.CodeRateLimited:    "You are sending messages too quickly. Please wait a moment.",
	protocol.CodeChatClosed:     "The discussion has ended; the chat is closed.",
	protocol.CodeSeatTaken:      "This workstation is already taking part. Please ask the experimenter.",
	protocol.CodeNoSession:      "The session has not started yet. Please wait; you will join as soon as it starts.",
	protocol.CodePseudonymTaken: "Another participant already uses this name. Please choose another one.",
}

func notice(e *protocol.Error, clientMsgID string) *participant.Notice {
	text := e.Message
	if prefix, ok := noticeText[e.Code]; ok {
		if strings.HasSuffix(prefix, ": ") {
			text = prefix + e.Message
		} else {
			text = prefix
		}
	}
	return &participant.Notice{Code: e.Code, Text: text, ClientMsgID: clientMsgID}
}

func (h *handler) Message(typ, ref string, body any) {
	e := (*Engine)(h)
	now := e.cfg.Now()
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return
	}
	var after func()
	switch b := body.(type) {
	case *protocol.Welcome:
		e.selfID = b.ParticipantID
		e.st.Pseudonym, e.st.Session, e.st.Seat = b.Pseudonym, b.Session, b.Seat
		e.st.AllowMuteAudio, e.st.AllowMuteVideo = b.Settings.AllowMuteAudio, b.Settings.AllowMuteVideo
		e.st.SelfView, e.st.MaxMessageRunes = b.Settings.SelfView, b.Settings.MaxMessageRunes
		e.st.Duration = time.Duration(b.Settings.DurationS) * time.Second
		e.st.Channels = channels(b.Channels)
		e.st.ServerOnline = true
		e.st.WaitingForSession = false
		if e.st.Phase < participant.PhaseWaiting {
			e.st.Phase = participant.PhaseWaiting
		}
		e.st.LastError = nil
		e.st.DeviceCheck = b.Settings.DeviceCheck
		// The experimenter sees what works at this workstation.
		e.sess.Send(protocol.TypeDevices, e.devicesLocked())
		// Ready as the server has it, or as this kiosk already said (the
		// session resends it), or needing no check. It can turn false: a
		// server that lost its data welcomes a new participant.
		auto := b.Settings.DeviceCheck == protocol.DeviceCheckOff || e.cfg.AutoReady
		e.st.Ready = b.Ready || auto || e.sess.ReadyAsked()
		rec := e.welcomeRecordingLocked(b)
		ready := auto && !b.Ready
		after = func() {
			rec()
			if ready {
				e.sess.Ready()
			}
		}
	case *protocol.Waiting:
		e.st.Present, e.st.Needed = b.Present, b.Needed
		e.st.NoPartner = b.NoPartner
	case *protocol.Paired:
		after = e.pairedLocked(b)
	case *protocol.Clock:
		e.st.Paused, e.st.PausedLeft = b.Paused, time.Duration(b.RemainingMS)*time.Millisecond
		if b.Paused {
			// The deadline as if the clock ran on: the UI shows PausedLeft.
			e.st.Deadline = now.Add(e.st.PausedLeft)
		} else {
			e.st.Deadline = time.UnixMilli(b.DeadlineMS).Add(-e.sess.Offset())
		}
		e.st.Duration = time.Duration(b.DeadlineMS-b.StartedAtMS) * time.Millisecond
	case *protocol.Signal:
		after = e.signalLocked(b)
	case *protocol.PeerState:
		if b.ParticipantID != e.selfID {
			e.partnerAtServer = b.Online
			e.updatePartnerOnlineLocked()
			if b.Online {
				after = e.redialIfDownLocked(b.ParticipantID)
			}
		}
	case *protocol.ChatAck:
		e.addMessageLocked(b.Message) // the session has taken it out of its outbox
	case *protocol.ChatMessage:
		e.addMessageLocked(*b)
	case *protocol.Ended:
		after = e.endLocked(b.Reason)
	case *protocol.Error:
		switch {
		case ref == "join" && b.Code == protocol.CodeNoSession:
			// The server keeps the join: it goes through when a session opens.
			e.st.WaitingForSession = true
			e.st.LastError = nil
		case ref == "join":
			e.st.LastError = notice(b, "")
			if b.Code != protocol.CodeBadToken {
				e.st.Phase = participant.PhaseIdle
			}
		case strings.HasPrefix(ref, client.ChatRefPrefix):
			id := strings.TrimPrefix(ref, client.ChatRefPrefix)
			n := notice(b, id)
			if cs, ok := e.sess.RefusedChat(id); ok {
				n.Channel, n.Body = cs.Channel, cs.Body
			}
			e.st.LastError = n
		default:
			e.log.Warn("server refused a request", "code", b.Code, "message", b.Message, "ref", ref)
		}
	}
	e.mu.Unlock()
	if after != nil {
		after()
	}
	e.notify()
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

// pairedLocked records the group and starts a call with each partner that
// has none (a resume keeps calls that are running: media flow peer to peer
// while the server is away).
func (e *Engine) pairedLocked(p *protocol.Paired) func() {
	e.group = p.Group
	e.ice = p.ICEServers
	e.members = map[string]string{}
	var partners []string
	for _, m := range p.Members {
		e.members[m.ID] = m.Pseudonym
		if m.ID != e.selfID {
			partners = append(partners, m.Pseudonym)
		}
	}
	e.st.Partners = partners
	e.partnerAtServer = true
	e.updatePartnerOnlineLocked()
	e.st.Channels = channels(p.Channels)
	e.st.Duration = time.Duration(p.DurationS) * time.Second
	if e.st.Phase < participant.PhasePaired {
		e.st.Phase = participant.PhasePaired
	}
	if e.ended {
		return nil
	}
	offerTo := map[string]bool{}
	for _, id := range p.OfferTo {
		offerTo[id] = true
	}
	var dials []func()
	for _, id := range e.partnerIDsLocked() {
		if e.calls[id] != nil {
			continue
		}
		dials = append(dials, e.dialLocked(id, offerTo[id]))
	}
	return func() {
		for _, d := range dials {
			d()
		}
	}
}

// dialLocked reserves a call slot for peer and returns the function that
// starts it (outside the lock: a dialer may block briefly).
func (e *Engine) dialLocked(peer string, offerer bool) func() {
	ce := &callEntry{offerer: offerer, state: protocol.CallConnecting}
	e.calls[peer] = ce
	time.AfterFunc(e.cfg.CallSetupTimeout, func() {
		e.mu.Lock()
		stuck := !e.closed && e.calls[peer] == ce && ce.state == protocol.CallConnecting
		e.mu.Unlock()
		if stuck {
			e.log.Warn("call set-up timed out; starting afresh", "peer", peer, "offerer", offerer)
			e.callState(peer, ce, protocol.CallFailed)
		}
	})
	params := CallParams{
		Peer: peer, Offerer: offerer, ICEServers: e.ice,
		Send: func(s protocol.Signal) error {
			e.mu.Lock()
			ended := e.ended
			e.mu.Unlock()
			if ended {
				return ErrEnded // hung up: nothing more goes to the partner
			}
			if s.Kind == protocol.SignalOffer {
				e.mu.Lock()
				if ce.offerID == "" {
					ce.offerID = sdpSessionID(s.SDP)
				}
				e.mu.Unlock()
			}
			s.To = peer
			return e.sess.Send(protocol.TypeSignal, s)
		},
		OnState: func(state string) { e.callState(peer, ce, state) },
	}
	return func() {
		c, err := e.cfg.Dial(params)
		e.mu.Lock()
		if err != nil {
			e.log.Error("call", "peer", peer, "err", err)
			if e.calls[peer] == ce {
				delete(e.calls, peer)
			}
			e.st.LastError = &participant.Notice{Code: "call_failed", Text: "The video call could not be started: " + err.Error()}
			e.mu.Unlock()
			e.notify()
			return
		}
		if e.calls[peer] != ce || e.closed {
			e.mu.Unlock()
			c.Close() // replaced or ended meanwhile
			return
		}
		ce.call = c
		e.mu.Unlock()
	}
}

// callState is called by a call's goroutine.
func (e *Engine) callState(peer string, ce *callEntry, state string) {
	e.setCallState(peer, ce, state, false)
}

// setCallState records a call's state; a failed call is closed and made
// afresh. byPartner: the partner gave up on it (its give_up), so none is
// sent back; otherwise the partner is told, so both make the fresh call.
func (e *Engine) setCallState(peer string, ce *callEntry, state string, byPartner bool) {
	e.mu.Lock()
	if e.calls[peer] != ce || e.closed {
		e.mu.Unlock()
		return
	}
	prev := ce.state
	ce.state = state
	if state == protocol.CallConnected && prev != protocol.CallConnected {
		ce.connectedAt = time.Now()
	}
	connected := state == protocol.CallConnected
	e.st.MediaConnected = connected
	e.updatePartnerOnlineLocked()
	e.st.Reconnecting = !connected && prev == protocol.CallConnected || state == protocol.CallFailed
	if connected && e.st.Phase == participant.PhasePaired {
		e.st.Phase = participant.PhaseInCall
	}
	var redial func()
	var old Call
	var giveUp *protocol.Signal
	if state == protocol.CallFailed && !e.ended {
		// A fresh call rather than an ICE restart: simpler, and recovers from
		// a partner's kiosk restarting too. The offerer offers again; the
		// answerer waits for that offer. The partner hears of it first
		// (give_up before the new offer): its side of the call may look
		// connected (one side's DTLS can finish alone) and would wait
		// for its own failure.
		old = ce.call
		delete(e.calls, peer)
		if !byPartner && ce.offerID != "" {
			giveUp = &protocol.Signal{To: peer, Kind: protocol.SignalGiveUp, Call: ce.offerID}
		}
		if ce.offerer {
			redial = e.dialLocked(peer, true)
		}
	}
	e.mu.Unlock()
	if giveUp != nil {
		e.log.Info("call given up; telling the partner", "peer", peer, "call", giveUp.Call)
		e.sess.Send(protocol.TypeSignal, *giveUp)
	}
	e.sess.Send(protocol.TypeCallState, protocol.CallState{Peer: peer, State: state})
	e.syncRecording(protocol.SegmentCallLost, false)
	if old != nil {
		go old.Close()
	}
	if redial != nil {
		redial()
	}
	e.notify()
}

// updatePartnerOnlineLocked: the partner counts as there while the server
// sees it or while its media reach us (a partner who only lost the server
// is still talking peer to peer; the UI must not cover that video).
func (e *Engine) updatePartnerOnlineLocked() {
	e.st.PartnerOnline = e.partnerAtServer || e.st.MediaConnected
}

// redialIfDownLocked: the partner came back to the server; if our call
// with it is down (its kiosk restarted), the offerer starts a fresh one. A
// call still connecting is left alone: it may be the fresh one already.
// The answerer's fresh call is made when the new offer comes.
func (e *Engine) redialIfDownLocked(peer string) func() {
	ce := e.calls[peer]
	if e.ended || ce == nil || !ce.offerer || (ce.state != protocol.CallDisconnected && ce.state != protocol.CallFailed) {
		return nil
	}
	old := ce.call
	delete(e.calls, peer)
	start := e.dialLocked(peer, true)
	return func() {
		if old != nil {
			old.Close()
		}
		start()
	}
}

func (e *Engine) signalLocked(s *protocol.Signal) func() {
	if e.ended {
		return nil
	}
	peer := s.From
	if _, ok := e.members[peer]; !ok || peer == e.selfID {
		return nil
	}
	ce := e.calls[peer]
	if s.Kind == protocol.SignalGiveUp {
		// The partner gave up on a call: close ours too if it is that one
		// (not a fresh call made since) and make the fresh call together.
		if ce == nil || ce.offerID == "" || ce.offerID != s.Call {
			return nil
		}
		e.log.Info("the partner gave up on the call", "peer", peer, "call", s.Call)
		return func() { e.setCallState(peer, ce, protocol.CallFailed, true) }
	}
	var prelude func()
	if s.Kind == protocol.SignalOffer && ce != nil && ce.gotOffer && !ce.offerer {
		// A second offer means the partner made a fresh call (its kiosk
		// restarted, or its call failed): answer it with a fresh one too.
		old := ce.call
		delete(e.calls, peer)
		ce = nil
		prelude = func() {
			if old != nil {
				old.Close()
			}
		}
	}
	if ce == nil {
		if s.Kind != protocol.SignalOffer {
			return prelude // a late candidate of a call that is gone
		}
		start := e.dialLocked(peer, false)
		ce = e.calls[peer]
		ce.gotOffer = true
		ce.offerID = sdpSessionID(s.SDP)
		sig := *s
		return func() {
			if prelude != nil {
				prelude()
			}
			start()
			e.applySignal(peer, ce, sig)
		}
	}
	if s.Kind == protocol.SignalOffer {
		ce.gotOffer = true
		if ce.offerID == "" {
			ce.offerID = sdpSessionID(s.SDP)
		}
	}
	sig := *s
	return func() { e.applySignal(peer, ce, sig) }
}

func (e *Engine) applySignal(peer string, ce *callEntry, s protocol.Signal) {
	e.mu.Lock()
	c := ce.call
	e.mu.Unlock()
	if c == nil {
		return
	}
	if err := c.HandleSignal(s); err != nil {
		e.log.Warn("signal", "peer", peer, "kind", s.Kind, "err", err)
	}
}

// endLocked ends the discussion: calls close at once, devices are released.
// The first end is the one the participant is told: a later "ended" (the
// group's end after this participant was removed) does not replace it.
func (e *Engine) endLocked(reason string) func() {
	if e.ended {
		return nil
	}
	e.st.Phase = participant.PhaseEnded
	e.st.EndReason = reason
	e.st.MediaConnected = false
	e.ended = true
	calls := e.takeCallsLocked()
	return func() {
		e.syncRecording(protocol.SegmentCallEnded, true)
		closeCalls(calls)
		e.cfg.Media.Close()
		// Nothing is left to resume: the session delivers what its outbox
		// still holds (chat typed before the end is accepted late), then
		// forgets the token so a restarted kiosk greets the next
		// participant instead of this one's end screen; what the server
		// did not take in time is kept for the next start.
		// (Run apart: this is the session's own goroutine, which Close waits for.)
		go e.sess.Close(true)
	}
}
