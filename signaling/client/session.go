package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
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
		b, err := os.ReadFile(cfg.StateFile)
		switch {
		case err == nil:
			if err := json.Unmarshal(b, &s.st); err != nil {
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

// save writes the state file if it changed. Only the writer goroutine and
// Close call it.
func (s *Session) save() {
	s.saveMu.Lock()
	defer s.saveMu.Unlock()
	s.mu.Lock()
	if !s.dirty || s.cfg.StateFile == "" || s.forgotten {
		s.mu.Unlock()
		return
	}
	b, err := json.Marshal(s.st)
	durable := s.durable
	s.dirty, s.durable = false, false
	s.mu.Unlock()
	if err == nil {
		err = writeFileAtomic(s.cfg.StateFile, b, durable)
	}
	if err != nil {
		s.log.Error("kiosk state", "err", fmt.Errorf("%w: %v", ErrStateFile, err))
		s.mu.Lock()
		s.dirty, s.durable = true, s.durable || durable // try again with the next change
		s.mu.Unlock()
	}
}

// writeFileAtomic replaces path with b; durable also syncs it to disk.
func writeFileAtomic(path string, b []byte, durable bool) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".parley-state-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // after a successful rename there is nothing left to remove
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if durable {
		if err := f.Sync(); err != nil {
			f.Close()
			return err
		}
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Chmod(f.Name(), 0o600); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

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
}

// refused handles an error from the server; it reports whether the handler
// should hear of it (not for a refusal the session retries by itself).
func (s *Session) refused(ref string, e *protocol.Error) bool {
	if ref == "join" && e.Code == protocol.CodeBadToken {
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
