package client

// session.go: the Session: its config and defaults, the Handler that hears
// the server, loading the state file, Start, and Close (with the drain of
// what a participant who is done still owes the server).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/parley-lab/parley/signaling/protocol"
)

// Defaults of a Session.
const (
	DefaultBackoffMin = 250 * time.Millisecond
	DefaultBackoffMax = 5 * time.Second
	// DefaultMaxQueued bounds the reports and signals kept for sending (chat
	// is never dropped, nor reports other than stats: see addReportLocked).
	DefaultMaxQueued = 512
	// DefaultLeaveDrain bounds how long Close(true) (a participant who
	// leaves, or whose discussion ended) waits for the server to take what
	// the outbox still holds before the session lets go of the connection.
	// What is still unsent then is kept in the state file (see Unsent).
	DefaultLeaveDrain = 10 * time.Second
	// UnsentDeliveryTimeout bounds delivering one earlier participant's
	// unsent items at a start; what is not delivered by then waits for the
	// next start.
	UnsentDeliveryTimeout = 30 * time.Second
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
	// LeaveDrain: see DefaultLeaveDrain.
	LeaveDrain time.Duration
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
	saveMu    sync.Mutex     // one save at a time
	leaving   bool           // Close(forget) began: the state file holds this participant as Unsent, never to resume
	closeMu   sync.Mutex     // one Close at a time
	closed    bool           // Close ran
	settled   chan struct{}  // poked when the outbox or the reports shrink
	delivery  bool           // this session only delivers an earlier participant's Unsent
	dirty     bool           // st changed since the last save
	durable   bool           // ... and the change must reach the disk (token, outbox)
	started   bool
	cancel    context.CancelFunc
	done      chan struct{}
	wake      chan struct{}
	msgSeq    int
	// droppedStats counts stats reports dropped for a full queue.
	droppedStats int
	stateLock    *os.File // the state file's lock, held until Close
}

// NewSession prepares a session and loads its state file, if any.
func NewSession(cfg SessionConfig, h Handler) (*Session, error) {
	s := newSession(cfg, h)
	cfg = s.cfg
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
				// Another server, room or seat (or a participant who is
				// done): the token is not this kiosk's to resume. What
				// earlier participants left unsent is still delivered.
				s.st = State{Unsent: s.st.Unsent}
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

// newSession is a session with cfg's defaults filled in and no state.
func newSession(cfg SessionConfig, h Handler) *Session {
	if cfg.BackoffMin == 0 {
		cfg.BackoffMin = DefaultBackoffMin
	}
	if cfg.BackoffMax == 0 {
		cfg.BackoffMax = DefaultBackoffMax
	}
	if cfg.MaxQueued == 0 {
		cfg.MaxQueued = DefaultMaxQueued
	}
	if cfg.LeaveDrain == 0 {
		cfg.LeaveDrain = DefaultLeaveDrain
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	s := &Session{cfg: cfg, h: h, log: cfg.Log, st: State{Since: map[string]int64{}},
		wake: make(chan struct{}, 1), settled: make(chan struct{}, 1)}
	s.inFlight.reset()
	return s
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
	st.Unsent = append([]Unsent(nil), s.st.Unsent...)
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

// Close stops the session. With forget (the participant left, or the
// discussion ended) the state file at once stops naming a participant to
// resume, so the next participant at this seat starts fresh; then the
// session waits up to LeaveDrain for the server to take what the outbox
// still holds (chat typed before the end is accepted late), and only then
// lets go. Whatever is still unsent stays in the state file as Unsent, with
// its token, and the next start delivers it; it is logged as an error
// meanwhile. Without forget, what is not yet saved is saved. Close is safe
// to call more than once; only the first call does anything.
func (s *Session) Close(forget bool) {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	defer s.unlockState() // last: the next kiosk at this seat may take the file
	if forget {
		s.mu.Lock()
		s.leaving = true
		s.dirty, s.durable = true, true
		s.mu.Unlock()
		s.save()
		s.drain(s.cfg.LeaveDrain)
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
		return
	}
	s.mu.Lock()
	left, unsent := s.unsentLocked()
	if s.st.Token == "" {
		// Never joined: nobody on the server could take these.
		keepLost(s.log, s.cfg.StateFile, "the participant never joined", "", "", s.st.Outbox...)
	}
	s.dirty, s.durable = true, true
	s.mu.Unlock()
	s.save()
	if unsent {
		s.log.Error("the server did not take everything before the participant's part ended; kept in the kiosk state file, the next start delivers it",
			"err", ErrUndelivered, "participant", left.ParticipantID, "session", left.Session,
			"chat_messages", len(left.Outbox), "reports", len(left.Reports), "waited", s.cfg.LeaveDrain, "state_file", s.cfg.StateFile)
	}
	s.mu.Lock()
	s.st = State{Since: map[string]int64{}, Unsent: s.diskStateLocked().Unsent}
	s.mu.Unlock()
}

// ErrUndelivered is logged for chat or reports the server has not taken
// when a participant's part ends; they are kept for the next start.
var ErrUndelivered = errors.New("chat or reports not delivered")

// drain waits until the outbox and the reports are empty (the server took
// everything), for at most limit; it reports whether they emptied.
func (s *Session) drain(limit time.Duration) bool {
	timer := time.NewTimer(limit)
	defer timer.Stop()
	for {
		s.mu.Lock()
		empty := len(s.st.Outbox) == 0 && len(s.st.Reports) == 0
		running := s.started
		s.mu.Unlock()
		if empty || !running {
			return empty
		}
		select {
		case <-s.settled:
		case <-timer.C:
			return false
		}
	}
}

// LeaveTimeout bounds sending "leave" when a participant leaves: the
// server notices a dead connection anyway, and leaving must not hang.
const LeaveTimeout = 500 * time.Millisecond

// poke tells a drain that the outbox or the reports shrank.
func (s *Session) poke() {
	select {
	case s.settled <- struct{}{}:
	default:
	}
}

func (s *Session) kick() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}
