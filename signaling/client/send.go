package client

// send.go: what the engine hands the session to send: chat (Chat, Pending,
// RefusedChat), reports and signals (Send), and ready (Ready), each with an id
// unique across restarts and the server's time it was made at (Offset).

import (
	"encoding/json"
	"slices"
	"strconv"
	"time"

	"github.com/parley-lab/parley/signaling/protocol"
)

// now is the local time; serverNowMS the server's, as the session knows it.
func (s *Session) serverNowMSLocked() int64 { return time.Now().Add(s.clock.offset()).UnixMilli() }

// Offset is the server's clock minus this machine's, as well as the
// kiosk knows it (see clock.go); 0 before the first welcome.
func (s *Session) Offset() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.clock.offset()
}

// Send sends a signal, call state or stats message. Call states and stats
// are kept until the server acknowledges them, across drops (and, on a
// best-effort basis, restarts); signals until the server acknowledges them
// or they grow older than MaxSignalAge.
func (s *Session) Send(typ string, v any) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch b := v.(type) {
	case protocol.CallState:
		return s.reportLocked(typ, &b, &b.ID, &b.AtMS, false)
	case protocol.Stats:
		return s.reportLocked(typ, &b, &b.ID, &b.AtMS, false)
	case protocol.Devices:
		return s.reportLocked(typ, &b, &b.ID, &b.AtMS, false)
	case protocol.Consent:
		return s.reportLocked(typ, &b, &b.ID, &b.AtMS, false)
	case protocol.RecordingState:
		// AtMS is the segment's own start or end (a segment repaired after
		// a crash ended before this kiosk started).
		return s.reportLocked(typ, &b, &b.ID, &b.AtMS, true)
	}
	if len(s.signals) >= s.cfg.MaxQueued {
		return ErrQueueFull
	}
	s.msgSeq++
	ref := signalRefPrefix + strconv.Itoa(s.msgSeq)
	frame, err := protocol.Encode(typ, ref, v)
	if err != nil {
		return err
	}
	s.signals = append(s.signals, pendingSignal{ref: ref, frame: frame, at: time.Now()})
	s.kick()
	return nil
}

// reportLocked gives report v (pointed to) a fresh id and the server's time
// now (keepAt: unless it carries a time of its own), and queues it.
func (s *Session) reportLocked(typ string, v any, id *string, atMS *int64, keepAt bool) error {
	*id = s.newIDLocked("r")
	if !keepAt || *atMS == 0 {
		*atMS = s.serverNowMSLocked()
	}
	return s.addReportLocked(typ, *id, v)
}

// addReportLocked queues a report. At MaxQueued (a long outage) the
// oldest stats go first, a new stats report included when nothing else can
// go; call states, devices, consent and recording states are never dropped
// (they are few, and each is an event of the record).
func (s *Session) addReportLocked(typ, id string, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if len(s.st.Reports) >= s.cfg.MaxQueued {
		i := slices.IndexFunc(s.st.Reports, func(r Report) bool { return r.Type == protocol.TypeStats })
		switch {
		case i >= 0:
			s.st.Reports = slices.Delete(s.st.Reports, i, i+1)
			s.droppedStats++
			if s.droppedStats == 1 || s.droppedStats%droppedStatsLogEvery == 0 {
				s.log.Warn("report queue full while offline: the oldest stats dropped to keep call states", "dropped_stats", s.droppedStats, "max_queued", s.cfg.MaxQueued)
			}
		case typ == protocol.TypeStats:
			return ErrQueueFull
		}
	}
	s.st.Reports = append(s.st.Reports, Report{Type: typ, ID: id, Data: raw})
	s.dirty = true
	s.kick()
	return nil
}

// droppedStatsLogEvery: a long outage logs its dropped stats now and then,
// not once each.
const droppedStatsLogEvery = 100

// readyRef is the ref of the ready message.
const readyRef = signalRefPrefix + "ready"

// maxRefusedKept bounds the refused chat messages kept for RefusedChat.
const maxRefusedKept = 16

// Pending returns the chat messages not yet acknowledged, in the order typed.
func (s *Session) Pending() []protocol.ChatSend {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]protocol.ChatSend(nil), s.st.Outbox...)
}

// RefusedChat returns a chat message the server refused for good (so a
// UI can show what was not sent, and where).
func (s *Session) RefusedChat(id string) (protocol.ChatSend, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, cs := range s.refusedCS {
		if cs.ClientMsgID == id {
			return cs, true
		}
	}
	return protocol.ChatSend{}, false
}

// Ready tells the server the participant finished the device check, so it
// may be paired. It is sent again after a reconnect until the server has it.
func (s *Session) Ready() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.Ready = true
	s.dirty = true
	s.queueReadyLocked()
}

// ReadyAsked reports whether Ready was called for the participant the
// session holds (it is resent until the server has it).
func (s *Session) ReadyAsked() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st.Ready
}

func (s *Session) queueReadyLocked() {
	for _, sg := range s.signals {
		if sg.ref == readyRef {
			return
		}
	}
	frame, _ := protocol.Encode(protocol.TypeReady, readyRef, nil)
	s.signals = append(s.signals, pendingSignal{ref: readyRef, frame: frame, at: time.Now()})
	s.kick()
}

// newIDLocked makes an id unique for this participant across restarts.
func (s *Session) newIDLocked(kind string) string {
	s.msgSeq++
	return s.st.ParticipantID + "-" + kind + strconv.FormatInt(time.Now().UnixNano(), 36) + "-" + strconv.Itoa(s.msgSeq)
}

// Chat sends a chat message and returns its client message id. It is kept
// (on disk too) until the server acknowledges it or refuses it for good,
// and resent after a reconnect or restart. It records when it was typed,
// in server time, so a message typed before the deadline while offline is
// still accepted (marked late).
func (s *Session) Chat(channel, body string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.newIDLocked("")
	s.st.Outbox = append(s.st.Outbox, protocol.ChatSend{Channel: channel, Body: body, ClientMsgID: id, TypedAtMS: s.serverNowMSLocked()})
	s.dirty, s.durable = true, true
	s.kick()
	return id
}
