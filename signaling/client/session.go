package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/parley-lab/parley/signaling/protocol"
)

// Defaults of a Session.
const (
	DefaultBackoffMin = 250 * time.Millisecond
	DefaultBackoffMax = 5 * time.Second
	// DefaultMaxQueued bounds the reports and signals kept for sending (chat
	// is never dropped).
	DefaultMaxQueued = 512
)

// Errors.
var (
	// ErrQueueFull is returned when too many reports or signals wait.
	ErrQueueFull = errors.New("send queue full while offline")
	// ErrStateFile is logged when the state file cannot be written: the
	// outbox then survives a drop but not a kiosk restart.
	ErrStateFile = errors.New("kiosk state file not written")
)

// SessionConfig says where and as whom to join.
type SessionConfig struct {
	URL       string // ws://host:port/ws
	Room      string
	Seat      string
	Client    string // software name and version
	StateFile string // where the resume token and last-seen seqs are kept; empty: memory only
	// Check, when set, joins the server's workstation-check room (see
	// protocol.JoinRequest.Check) instead of Room.
	Check string
	// BackoffMin and BackoffMax bound the wait between reconnect attempts.
	BackoffMin, BackoffMax time.Duration
	MaxQueued              int
	// Log receives the session's problems (nil: slog.Default()).
	Log *slog.Logger
}

// Handler receives what the server says, on the session's goroutine, in
// order. It must not block for long.
type Handler interface {
	// Online reports the server connection going up (after a welcome) or down.
	Online(up bool)
	// Message is every message from the server, decoded: *protocol.Welcome,
	// *protocol.Paired, *protocol.ChatMessage, *protocol.Error, ... ref is
	// the envelope's ref. Refusals the session retries by itself are not
	// passed on.
	Message(typ, ref string, body any)
}

// State is what a kiosk keeps on disk to rejoin as the same participant
// after a crash or restart.
type State struct {
	URL           string `json:"url"`
	Room          string `json:"room"`
	Seat          string `json:"seat"`
	Token         string `json:"token"`
	ParticipantID string `json:"participant_id"`
	Session       string `json:"session"`
	Pseudonym     string `json:"pseudonym"`
	// Since is the last seq seen per channel, for a reconnect within this
	// process; a restarted kiosk asks for the whole history (it shows it
	// again, as otreechat does on reload), so it is not kept on disk.
	Since map[string]int64 `json:"-"`
	// Outbox holds chat messages sent but not acknowledged, so a restarted
	// kiosk resends them (the server drops duplicates by client_msg_id).
	Outbox []protocol.ChatSend `json:"outbox,omitempty"`
	// Reports are call states and stats not yet acknowledged.
	Reports []Report `json:"reports,omitempty"`
	// Ready: the participant finished the device check; told to the server
	// after every (re)join until it says so in its welcome.
	Ready bool `json:"ready,omitempty"`
}

// Session keeps one participant joined: it connects, joins or resumes,
// reconnects with backoff, tracks what it has seen, and resends what was
// not acknowledged. One goroutine writes to the connection and the state
// file, so no method blocks on the network or the disk.
type Session struct {
	cfg SessionConfig
	h   Handler
	log *slog.Logger

	mu        sync.Mutex
	st        State
	pseudonym string // for a first join
	conn      *Conn
	online    bool
	signals   []pendingSignal
	refusedCS []protocol.ChatSend // the latest chat messages refused for good, for the handler to show
	inFlight  flight
	retryAt   time.Time      // nothing from the outbox is sent before this
	clock     offsetEstimate // the server's clock, from welcomes and acks
	joinSent  time.Time      // when the current connection's join left
	saveMu    sync.Mutex     // one save (or the forgetting) at a time
	forgotten bool           // Close(forget) ran: nothing is saved any more
	dirty     bool           // st changed since the last save
	durable   bool           // ... and the change must reach the disk (token, outbox)
	started   bool
	cancel    context.CancelFunc
	done      chan struct{}
	wake      chan struct{}
	msgSeq    int
	stateLock *os.File // the state file's lock, held until Close
}

// NewSession prepares a session and loads its state file, if any.
func NewSession(cfg SessionConfig, h Handler) (*Session, error) {
	if cfg.BackoffMin == 0 {
		cfg.BackoffMin = DefaultBackoffMin
	}
	if cfg.BackoffMax == 0 {
		cfg.BackoffMax = DefaultBackoffMax
	}
	if cfg.MaxQueued == 0 {
		cfg.MaxQueued = DefaultMaxQueued
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	s := &Session{cfg: cfg, h: h, log: cfg.Log, st: State{Since: map[string]int64{}}, wake: make(chan struct{}, 1)}
	s.inFlight.reset()
	if cfg.StateFile != "" {
		lock, err := lockStateFile(cfg.StateFile)
		if err != nil {
			return nil, err
		}
		s.stateLock = lock
		b, err := os.ReadFile(cfg.StateFile)
		switch {
		case err == nil:
			if err := json.Unmarshal(b, &s.st); err != nil {
				lock.Close()
				return nil, fmt.Errorf("kiosk state file %s is damaged (%v); delete it to start fresh", cfg.StateFile, err)
			}
			if s.st.URL != cfg.URL || s.st.Room != cfg.Room || s.st.Seat != cfg.Seat {
				// Another server, room or seat: the token is not this kiosk's.
				s.st = State{}
			}
			if s.st.Since == nil {
				s.st.Since = map[string]int64{}
			}
		case !errors.Is(err, os.ErrNotExist):
			lock.Close()
			return nil, fmt.Errorf("kiosk state file: %w", err)
		}
	}
	return s, nil
}

// Resumable reports whether a stored token lets the session rejoin without
// asking for a pseudonym (a kiosk restarted mid-discussion).
func (s *Session) Resumable() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st.Token != ""
}

// Stored returns a copy of the persisted state.
func (s *Session) Stored() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.st
	st.Outbox = append([]protocol.ChatSend(nil), s.st.Outbox...)
	st.Reports = append([]Report(nil), s.st.Reports...)
	return st
}

// Start connects and joins with pseudonym (ignored when resuming). It
// returns at once; the handler hears the result.
func (s *Session) Start(pseudonym string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pseudonym = pseudonym
	if s.started {
		// A refused join leaves the connection up: try again on it.
		if s.conn != nil && !s.online {
			go s.sendJoin(s.conn)
		}
		return
	}
	s.started = true
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.done = make(chan struct{})
	go s.run(ctx)
}

// Close stops the session; with forget it also deletes the stored state so
// the next participant at this seat starts fresh. Without forget, what is
// not yet saved is saved first.
func (s *Session) Close(forget bool) {
	if forget {
		// The state file goes first, whatever the network does: the next
		// participant at this seat must never resume as this one.
		s.forgetState()
	}
	s.mu.Lock()
	if s.conn != nil && forget {
		frame, _ := protocol.Encode(protocol.TypeLeave, "", nil)
		s.conn.SendRawWithin(frame, LeaveTimeout)
	}
	cancel, done := s.cancel, s.done
	c := s.conn
	s.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	if c != nil {
		c.Close()
	}
	if done != nil {
		<-done // the writer has stopped: nothing saves behind our back
	}
	if !forget {
		s.save()
	}
	s.unlockState()
}

// LeaveTimeout bounds sending "leave" when a participant leaves: the
// server notices a dead connection anyway, and leaving must not hang.
const LeaveTimeout = 500 * time.Millisecond

// forgetState drops the token and the outbox and removes the state file;
// no save after it writes the file again.
func (s *Session) forgetState() {
	s.saveMu.Lock()
	defer s.saveMu.Unlock()
	s.mu.Lock()
	s.st = State{Since: map[string]int64{}}
	s.dirty, s.forgotten = false, true
	s.mu.Unlock()
	if s.cfg.StateFile != "" {
		os.Remove(s.cfg.StateFile)
	}
}

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
		b.ID, b.AtMS = s.newIDLocked("r"), s.serverNowMSLocked()
		return s.addReportLocked(typ, b.ID, b)
	case protocol.Stats:
		b.ID, b.AtMS = s.newIDLocked("r"), s.serverNowMSLocked()
		return s.addReportLocked(typ, b.ID, b)
	case protocol.Devices:
		b.ID, b.AtMS = s.newIDLocked("r"), s.serverNowMSLocked()
		return s.addReportLocked(typ, b.ID, b)
	case protocol.Consent:
		b.ID, b.AtMS = s.newIDLocked("r"), s.serverNowMSLocked()
		return s.addReportLocked(typ, b.ID, b)
	case protocol.RecordingState:
		// AtMS is the segment's own start or end (a segment repaired after
		// a crash ended before this kiosk started).
		b.ID = s.newIDLocked("r")
		if b.AtMS == 0 {
			b.AtMS = s.serverNowMSLocked()
		}
		return s.addReportLocked(typ, b.ID, b)
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

func (s *Session) addReportLocked(typ, id string, v any) error {
	if len(s.st.Reports) >= s.cfg.MaxQueued {
		return ErrQueueFull
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	s.st.Reports = append(s.st.Reports, Report{Type: typ, ID: id, Data: raw})
	s.dirty = true
	s.kick()
	return nil
}

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

func (s *Session) kick() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}
