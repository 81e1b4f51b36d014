package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/parley-lab/parley/signaling/protocol"
)

// Defaults of a Session.
const (
	DefaultBackoffMin = 250 * time.Millisecond
	DefaultBackoffMax = 5 * time.Second
	// DefaultMaxQueued bounds what is queued for sending while offline.
	DefaultMaxQueued = 512
)

// Errors.
var (
	// ErrNotJoined is returned by sends before a join was asked for.
	ErrNotJoined = errors.New("not joined")
	// ErrQueueFull is returned when too much is queued while offline.
	ErrQueueFull = errors.New("send queue full while offline")
)

// SessionConfig says where and as whom to join.
type SessionConfig struct {
	URL       string // ws://host:port/ws
	Room      string
	Seat      string
	Client    string // software name and version
	StateFile string // where the resume token and last-seen seqs are kept; empty: memory only
	// BackoffMin and BackoffMax bound the wait between reconnect attempts.
	BackoffMin, BackoffMax time.Duration
	MaxQueued              int
}

// Handler receives what the server says, on the session's goroutine, in
// order. It must not block for long.
type Handler interface {
	// Online reports the server connection going up (after a welcome) or down.
	Online(up bool)
	// Message is every message from the server, decoded: *protocol.Welcome,
	// *protocol.Paired, *protocol.ChatMessage, *protocol.Error, ... ref is
	// the envelope's ref.
	Message(typ, ref string, body any)
}

// State is what a kiosk keeps on disk to rejoin as the same participant
// after a crash or restart.
type State struct {
	URL           string           `json:"url"`
	Token         string           `json:"token"`
	ParticipantID string           `json:"participant_id"`
	Session       string           `json:"session"`
	Pseudonym     string           `json:"pseudonym"`
	Since         map[string]int64 `json:"since"`
	// Outbox holds chat messages sent but not acknowledged, so a restarted
	// kiosk resends them (the server drops duplicates by client_msg_id).
	Outbox []protocol.ChatSend `json:"outbox,omitempty"`
}

// Session keeps one participant joined: it connects, joins or resumes,
// reconnects with backoff, tracks what it has seen, and resends what was
// not acknowledged.
type Session struct {
	cfg SessionConfig
	h   Handler

	mu        sync.Mutex
	st        State
	pseudonym string // for a first join
	conn      *Conn
	online    bool
	queue     [][]byte // non-chat frames waiting for a connection
	started   bool
	cancel    context.CancelFunc
	done      chan struct{}
	msgSeq    int
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
	s := &Session{cfg: cfg, h: h, st: State{Since: map[string]int64{}}}
	if cfg.StateFile != "" {
		b, err := os.ReadFile(cfg.StateFile)
		switch {
		case err == nil:
			if err := json.Unmarshal(b, &s.st); err != nil {
				return nil, fmt.Errorf("kiosk state file %s is damaged (%v); delete it to start fresh", cfg.StateFile, err)
			}
			if s.st.URL != cfg.URL {
				s.st = State{} // another server: the token means nothing there
			}
			if s.st.Since == nil {
				s.st.Since = map[string]int64{}
			}
		case !errors.Is(err, os.ErrNotExist):
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
	return s.st
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
			s.sendJoinLocked(s.conn)
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
// the next participant at this seat starts fresh.
func (s *Session) Close(forget bool) {
	s.mu.Lock()
	if s.conn != nil && forget {
		s.conn.Send(protocol.TypeLeave, "", nil)
	}
	cancel, done := s.cancel, s.done
	if forget {
		s.st = State{Since: map[string]int64{}}
		if s.cfg.StateFile != "" {
			os.Remove(s.cfg.StateFile)
		}
	}
	c := s.conn
	s.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	if c != nil {
		c.Close()
	}
	if done != nil {
		<-done
	}
}

// Send sends a signal, call state or stats message, queueing it while offline.
func (s *Session) Send(typ string, v any) error {
	frame, err := protocol.Encode(typ, "", v)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.online && s.conn.SendRaw(frame) == nil {
		return nil
	}
	if len(s.queue) >= s.cfg.MaxQueued {
		return ErrQueueFull
	}
	s.queue = append(s.queue, frame)
	return nil
}

// Chat sends a chat message and returns its client message id. It is kept
// (on disk too) until the server acknowledges it, and resent after a
// reconnect or restart.
func (s *Session) Chat(channel, body string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgSeq++
	id := s.st.ParticipantID + "-" + strconv.FormatInt(time.Now().UnixNano(), 36) + "-" + strconv.Itoa(s.msgSeq)
	cs := protocol.ChatSend{Channel: channel, Body: body, ClientMsgID: id}
	s.st.Outbox = append(s.st.Outbox, cs)
	s.saveLocked(true)
	if s.online {
		s.conn.Send(protocol.TypeChat, ChatRefPrefix+id, cs)
	}
	return id
}

// saveLocked writes the state file atomically. durable also syncs it to
// disk: needed for the token and the outbox, not for last-seen seqs (losing
// those only replays messages the engine already drops by id).
func (s *Session) saveLocked(durable bool) {
	if s.cfg.StateFile == "" {
		return
	}
	b, _ := json.Marshal(s.st)
	dir := filepath.Dir(s.cfg.StateFile)
	os.MkdirAll(dir, 0o700)
	f, err := os.CreateTemp(dir, ".parley-state-*")
	if err != nil {
		return
	}
	f.Write(b)
	if durable {
		f.Sync()
	}
	f.Close()
	os.Chmod(f.Name(), 0o600)
	if err := os.Rename(f.Name(), s.cfg.StateFile); err != nil {
		os.Remove(f.Name())
	}
}

func (s *Session) sendJoinLocked(c *Conn) {
	req := protocol.JoinRequest{Room: s.cfg.Room, Seat: s.cfg.Seat, Client: s.cfg.Client, Since: s.st.Since}
	if s.st.Token != "" {
		req.Token = s.st.Token
	} else {
		req.Pseudonym = s.pseudonym
	}
	c.Send(protocol.TypeJoin, "join", req)
}

func (s *Session) run(ctx context.Context) {
	defer close(s.done)
	backoff := s.cfg.BackoffMin
	for ctx.Err() == nil {
		c, err := Dial(ctx, s.cfg.URL)
		if err == nil {
			s.mu.Lock()
			s.conn = c
			s.sendJoinLocked(c)
			s.mu.Unlock()
			welcomed := s.read(ctx, c)
			s.mu.Lock()
			s.conn = nil
			wasOnline := s.online
			s.online = false
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
		switch b := body.(type) {
		case *protocol.Welcome:
			welcomed = true
			s.mu.Lock()
			if b.Token != "" {
				s.st.Token = b.Token
			}
			s.st.URL, s.st.ParticipantID, s.st.Session, s.st.Pseudonym = s.cfg.URL, b.ParticipantID, b.Session, b.Pseudonym
			s.saveLocked(true)
			s.online = true
			// Unacknowledged chat first, then what queued while offline.
			for _, cs := range s.st.Outbox {
				c.Send(protocol.TypeChat, ChatRefPrefix+cs.ClientMsgID, cs)
			}
			for _, f := range s.queue {
				c.SendRaw(f)
			}
			s.queue = nil
			s.mu.Unlock()
			s.h.Online(true)
		case *protocol.ChatMessage:
			s.seen(b.Channel, b.Seq)
		case *protocol.ChatAck:
			s.mu.Lock()
			for i, cs := range s.st.Outbox {
				if cs.ClientMsgID == b.ClientMsgID {
					s.st.Outbox = append(s.st.Outbox[:i], s.st.Outbox[i+1:]...)
					break
				}
			}
			if b.Message.Seq > s.st.Since[b.Message.Channel] {
				s.st.Since[b.Message.Channel] = b.Message.Seq
			}
			s.saveLocked(true)
			s.mu.Unlock()
		case *protocol.Error:
			if env.Ref == "join" && b.Code == protocol.CodeBadToken {
				// The server no longer knows us (a new database): start over.
				s.mu.Lock()
				s.st = State{Since: map[string]int64{}}
				s.saveLocked(true)
				s.mu.Unlock()
			}
			if id, ok := strings.CutPrefix(env.Ref, ChatRefPrefix); ok && b.Code != protocol.CodeInternal {
				s.dropOutbox(id) // refused for good; the handler shows why
			}
		}
		s.h.Message(env.Type, env.Ref, body)
	}
	return welcomed
}

// ChatRefPrefix starts the ref of a chat send; the client message id
// follows, so an error names the message it refuses.
const ChatRefPrefix = "chat:"

func (s *Session) dropOutbox(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, cs := range s.st.Outbox {
		if cs.ClientMsgID == id {
			s.st.Outbox = append(s.st.Outbox[:i], s.st.Outbox[i+1:]...)
			s.saveLocked(true)
			return
		}
	}
}

func (s *Session) seen(channel string, seq int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if seq > s.st.Since[channel] {
		s.st.Since[channel] = seq
		s.saveLocked(false)
	}
}
