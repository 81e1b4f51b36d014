// Package engine is the headless participant engine: it keeps the kiosk
// joined to the rendezvous server (signaling/client), sets up and tears down
// the WebRTC call with each partner, and publishes one participant.State for
// any UI. It imports no UI and no device driver: media come in through the
// LocalMedia and Dialer it is given, so tests and the selftest drive it with
// test sources on loopback.
package engine

// engine.go: the Engine: New, the State it publishes and the change signal a
// UI follows, and its shutdown (Leave, Close).

import (
	"fmt"
	"log/slog"
	"sync"

	"github.com/parley-lab/parley/signaling/client"
	"github.com/parley-lab/parley/signaling/internal/clock"
	"github.com/parley-lab/parley/signaling/participant"
	"github.com/parley-lab/parley/signaling/protocol"
)

// Engine implements participant.Engine.
type Engine struct {
	cfg     Config
	log     *slog.Logger
	sess    *client.Session
	changed chan struct{}

	mu      sync.Mutex
	st      participant.State
	selfID  string
	group   string
	members map[string]string // id -> pseudonym
	ice     []protocol.ICEServer
	calls   map[string]*callEntry
	seen    map[string]bool // message ids, so a replay never shows twice
	// partnerAtServer: the server last said the partner is connected to it.
	partnerAtServer bool
	// unreachable is armed while the server connection is down.
	unreachable clock.Timer
	// atDeadline is armed while the discussion clock runs: it ends the
	// discussion here if the server has not (armDeadlineLocked).
	atDeadline clock.Timer
	dismissed  map[string]bool // announcements the participant closed
	ended      bool
	// awaitingServerEnd: ended by this kiosk's clock; the session stays
	// until the server's "ended" (endLocked).
	awaitingServerEnd bool
	closed            bool
	stopStats         chan struct{}
	wg                sync.WaitGroup
	// recMu orders the recording's segment changes (syncRecording).
	recMu sync.Mutex
}

var _ participant.Engine = (*Engine)(nil)

// New makes an engine. If the session's state file holds a token (the kiosk
// was restarted mid-session) it rejoins at once without a pseudonym.
func New(cfg Config) (*Engine, error) {
	if cfg.Media == nil || cfg.Dial == nil {
		return nil, fmt.Errorf("%w: media and dialer are required", ErrConfig)
	}
	if cfg.StatsInterval == 0 {
		cfg.StatsInterval = DefaultStatsInterval
	}
	if cfg.CallSetupTimeout == 0 {
		cfg.CallSetupTimeout = DefaultCallSetupTimeout
	}
	if cfg.UnreachableAfter == 0 {
		cfg.UnreachableAfter = ServerUnreachableAfter
	}
	if cfg.EndGrace == 0 {
		cfg.EndGrace = DefaultEndGrace
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real
	}
	if cfg.Now == nil {
		cfg.Now = cfg.Clock.Now
	}
	e := &Engine{cfg: cfg, log: cfg.Log, changed: make(chan struct{}, 1), calls: map[string]*callEntry{},
		seen: map[string]bool{}, members: map[string]string{}, stopStats: make(chan struct{}), dismissed: map[string]bool{}}
	e.st.Seat = cfg.Session.Seat
	e.st.NoCamera, e.st.NoMicrophone, e.st.NoAudioOutput = cfg.Media.NoCamera(), cfg.Media.NoMicrophone(), cfg.Media.NoAudioOutput()
	e.st.CameraOff, e.st.MicrophoneOff = cfg.Media.CameraOff(), cfg.Media.MicrophoneOff()
	if cfg.Session.Log == nil {
		cfg.Session.Log = cfg.Log
	}
	sess, err := client.NewSession(cfg.Session, (*handler)(e))
	if err != nil {
		return nil, err
	}
	e.sess = sess
	if sess.Resumable() {
		e.st.Phase = participant.PhaseConnecting
		e.st.Pseudonym = sess.Stored().Pseudonym
		e.armUnreachableLocked()
		sess.Start("")
	}
	e.wg.Add(2)
	go e.statsLoop()
	go e.videoLoop()
	return e, nil
}

// State returns a snapshot.
func (e *Engine) State() participant.State {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.st
	s.Partners = append([]string(nil), e.st.Partners...)
	s.Channels = append([]participant.Channel(nil), e.st.Channels...)
	s.Messages = append([]participant.Message(nil), e.st.Messages...)
	if e.st.Announcement != nil {
		a := *e.st.Announcement
		s.Announcement = &a
	}
	// Pending messages are the session's outbox (kept across restarts),
	// never a copy of it.
	s.Pending = nil
	for _, cs := range e.sess.Pending() {
		s.Pending = append(s.Pending, participant.PendingMessage{ID: cs.ClientMsgID, Channel: cs.Channel, Body: cs.Body})
	}
	return s
}

// Changed is signalled after every state change.
func (e *Engine) Changed() <-chan struct{} { return e.changed }

func (e *Engine) notify() {
	select {
	case e.changed <- struct{}{}:
	default:
	}
}

// Leave ends participation: calls stop, devices are released, and the
// stored token is forgotten so the next participant at this seat starts
// fresh. Safe to call more than once.
func (e *Engine) Leave() { e.shutdown(true) }

// Close stops the engine but keeps the stored token (a kiosk shutting down
// mid-session rejoins when started again).
func (e *Engine) Close() { e.shutdown(false) }

func (e *Engine) shutdown(forget bool) {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return
	}
	e.closed = true
	calls := e.takeCallsLocked()
	close(e.stopStats)
	if e.unreachable != nil {
		e.unreachable.Stop()
		e.unreachable = nil
	}
	e.disarmDeadlineLocked()
	e.mu.Unlock()
	// The segment closes before the session lets go of its outbox, so its
	// report goes with it. A participant who leaves is done: final.
	reason := protocol.SegmentShutdown
	if forget {
		reason = protocol.SegmentCallEnded
	}
	e.syncRecording(reason, forget)
	// The server connection goes first: a partner that reacts to our calls
	// closing by offering a fresh call then finds us offline, and the server
	// holds its offer for our next start instead of handing it to this
	// closing engine, which would drop it.
	e.sess.Close(forget)
	closeCalls(calls)
	e.cfg.Media.Close()
	e.wg.Wait()
	e.notify()
}
