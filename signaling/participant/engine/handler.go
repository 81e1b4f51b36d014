package engine

// handler.go: what the server says, as the session hands it on (on the
// session's goroutine): each message changes the state under the lock, and
// what must not run under it (dialling, sending, recording) runs after.

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
		e.armDeadlineLocked(now)
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
		after = e.endLocked(b.Reason, true)
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
