// Package engine is the headless participant engine: it keeps the kiosk
// joined to the rendezvous server (signaling/client), sets up and tears down
// the WebRTC call with each partner, and publishes one participant.State for
// any UI. It imports no UI and no device driver: media come in through the
// LocalMedia and Dialer it is given, so tests and the selftest drive it with
// test sources on loopback.
package engine

import (
	"errors"
	"fmt"
	"image"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/parley-lab/parley/media/frames"
	"github.com/parley-lab/parley/media/recording"
	"github.com/parley-lab/parley/signaling/client"
	"github.com/parley-lab/parley/signaling/internal/clock"
	"github.com/parley-lab/parley/signaling/participant"
	"github.com/parley-lab/parley/signaling/protocol"
)

// DefaultStatsInterval is how often call statistics go to the server.
const DefaultStatsInterval = 5 * time.Second

// PartnerVideoStalled: connected, but no video frame from the partner this
// long: the UI says the partner's camera is off or stopped instead of a
// frozen picture. videoCheckInterval is how often the engine looks.
const (
	PartnerVideoStalled = 2 * time.Second
	videoCheckInterval  = 500 * time.Millisecond
)

// ServerUnreachableAfter: a kiosk that has had no answer from the server for
// this long says so on screen (it keeps trying all the same).
const ServerUnreachableAfter = 8 * time.Second

// DefaultCallSetupTimeout bounds how long a call may stay "connecting"
// before it counts as failed and is made afresh (a lost offer or answer
// would otherwise leave it waiting for ever).
const DefaultCallSetupTimeout = 10 * time.Second

// Call is one WebRTC call with one partner (media/internal/rtc implements it).
type Call interface {
	// HandleSignal applies an offer, answer or candidate from the partner.
	HandleSignal(protocol.Signal) error
	// Remote is the partner's video; LastVideo when its latest frame was
	// decoded (zero: none yet).
	Remote() frames.Stream
	LastVideo() time.Time
	// Stats reports the call's quality now.
	Stats() protocol.Stats
	// Close ends the call and releases what it holds.
	Close() error
}

// CallParams are what a Dialer needs to start a call.
type CallParams struct {
	Peer       string
	Offerer    bool
	ICEServers []protocol.ICEServer
	// Send delivers a signal to the partner through the server.
	Send func(protocol.Signal) error
	// OnState reports protocol.CallConnecting, CallConnected,
	// CallDisconnected or CallFailed.
	OnState func(state string)
}

// Dialer starts a call; an offerer sends its offer through p.Send.
type Dialer func(p CallParams) (Call, error)

// LocalMedia is this workstation's camera and microphone (or test sources).
type LocalMedia interface {
	Local() frames.Stream
	MicLevel() float64
	SetMute(audio, video bool)
	NoCamera() bool
	NoMicrophone() bool
	NoAudioOutput() bool
	// CameraOff and MicrophoneOff: the lab chose no camera or microphone
	// for this workstation (not a problem to report).
	CameraOff() bool
	MicrophoneOff() bool
	Close() error
}

// Config configures an engine.
type Config struct {
	Session       client.SessionConfig
	Media         LocalMedia
	Dial          Dialer
	StatsInterval time.Duration
	// CallSetupTimeout: see DefaultCallSetupTimeout.
	CallSetupTimeout time.Duration
	// UnreachableAfter: see ServerUnreachableAfter (the default).
	UnreachableAfter time.Duration
	// AutoReady: the participant is ready as soon as it joins (test
	// participants: the selftest and the benchmarks have no person to
	// finish a device check).
	AutoReady bool
	// Recorder records this participant's calls when the session records
	// and they consented; nil: this kiosk cannot record.
	Recorder *recording.Recorder
	// AutoConsent: test participants consent to recording by themselves.
	AutoConsent bool
	Log         *slog.Logger
	// Clock runs the engine's timers (the unreachable notice) and, unless
	// Now is set, gives the time; tests inject clock.Fake. Default: the
	// wall clock.
	Clock clock.Clock
	// Now is the clock's time; tests inject one.
	Now func() time.Time
}

// ErrConfig is returned by New for an incomplete Config.
var ErrConfig = errors.New("engine configuration")

// ErrEnded is returned to a call that signals after the discussion ended.
var ErrEnded = errors.New("the discussion has ended")

type callEntry struct {
	call        Call
	offerer     bool
	gotOffer    bool
	state       string
	connectedAt time.Time // when the state last became connected
	// offerID names the call to the partner: the session id of its
	// offer's SDP (sent or received); a give_up carries it.
	offerID string
}

// sdpSessionID is the session id of an SDP's o= line ("" if none).
func sdpSessionID(sdp string) string {
	for line := range strings.SplitSeq(sdp, "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimRight(line, "\r"), "o="); ok {
			if f := strings.Fields(rest); len(f) >= 2 {
				return f[1]
			}
			return ""
		}
	}
	return ""
}

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
	dismissed   map[string]bool // announcements the participant closed
	ended       bool
	closed      bool
	stopStats   chan struct{}
	wg          sync.WaitGroup
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

// Remote is the first partner's video (a black frame source until the call runs).
func (e *Engine) Remote() frames.Stream { return remoteFrames{e} }

type remoteFrames struct{ e *Engine }

func (r remoteFrames) Render(dst *image.RGBA, seen uint64, v frames.View) (*image.RGBA, uint64) {
	r.e.mu.Lock()
	var c Call
	for _, id := range r.e.partnerIDsLocked() {
		if ce := r.e.calls[id]; ce != nil {
			c = ce.call
			break
		}
	}
	r.e.mu.Unlock()
	if c == nil {
		return nil, 0
	}
	return c.Remote().Render(dst, seen, v)
}

// Local is the self-view.
func (e *Engine) Local() frames.Stream { return e.cfg.Media.Local() }

// MicLevel is the microphone level for the device check.
func (e *Engine) MicLevel() float64 { return e.cfg.Media.MicLevel() }

// Join joins with the typed pseudonym.
func (e *Engine) Join(pseudonym string) {
	e.mu.Lock()
	if e.st.Phase != participant.PhaseIdle {
		e.mu.Unlock()
		return
	}
	e.st.Phase = participant.PhaseConnecting
	e.st.LastError = nil
	e.armUnreachableLocked()
	e.mu.Unlock()
	e.notify()
	e.sess.Start(pseudonym)
}

// armUnreachableLocked starts the wait after which a kiosk without a
// server connection says that the server cannot be reached.
func (e *Engine) armUnreachableLocked() {
	if e.unreachable != nil || e.st.ServerOnline {
		return
	}
	e.unreachable = e.cfg.Clock.AfterFunc(e.cfg.UnreachableAfter, func() {
		e.mu.Lock()
		e.unreachable = nil
		changed := !e.st.ServerOnline && !e.closed && !e.ended
		if changed {
			e.st.ServerUnreachable = true
			e.log.Warn("the lab server has not answered", "for", e.cfg.UnreachableAfter, "url", e.cfg.Session.URL)
		}
		e.mu.Unlock()
		if changed {
			e.notify()
		}
	})
}

// devicesLocked is the device report for the server.
func (e *Engine) devicesLocked() protocol.Devices {
	state := func(missing, off bool) string {
		switch {
		case off:
			return protocol.DeviceOff
		case missing:
			return protocol.DeviceMissing
		}
		return protocol.DeviceOK
	}
	return protocol.Devices{Camera: state(e.st.NoCamera, e.st.CameraOff), Microphone: state(e.st.NoMicrophone, e.st.MicrophoneOff),
		Speaker: state(e.st.NoAudioOutput, false)}
}

// Ready says the participant finished the device check: the server may
// pair them now.
func (e *Engine) Ready() {
	e.mu.Lock()
	e.st.Ready = true
	e.mu.Unlock()
	e.sess.Ready()
	e.notify()
}

// Consent answers the consent screen; the first answer is kept (here and
// at the server), and goes out through the session's outbox, so it
// survives an outage and a restart.
func (e *Engine) Consent(given bool, language string) {
	e.mu.Lock()
	if e.st.Consent != "" {
		e.mu.Unlock()
		return
	}
	e.st.Consent = protocol.ConsentDeclined
	if given {
		e.st.Consent = protocol.ConsentGiven
	}
	e.mu.Unlock()
	if err := e.sess.Send(protocol.TypeConsent, protocol.Consent{Given: given, Language: language}); err != nil {
		e.log.Error("consent not sent", "err", err)
	}
	e.notify()
}

// DeviceRetrier is LocalMedia that can try its missing or failed devices
// again at once (kit.Kit's media can).
type DeviceRetrier interface {
	RetryDevices()
}

// RetryDevices tries a missing or failed camera and microphone again now
// (the device check's "Try again"); what is found shows, and goes to the
// server, with the next device report.
func (e *Engine) RetryDevices() {
	if r, ok := e.cfg.Media.(DeviceRetrier); ok {
		r.RetryDevices()
	}
}

// Dismiss hides the announcement with this message id.
func (e *Engine) Dismiss(messageID string) {
	e.mu.Lock()
	e.dismissed[messageID] = true
	if a := e.st.Announcement; a != nil && a.ID == messageID {
		e.st.Announcement = nil
	}
	e.mu.Unlock()
	e.notify()
}

// SendChat posts a message; it shows as pending until the server commits it.
func (e *Engine) SendChat(channel, body string) string {
	id := e.sess.Chat(channel, body)
	e.notify()
	return id
}

// SetMute mutes where the session allows it.
func (e *Engine) SetMute(audio, video bool) {
	e.mu.Lock()
	if !e.st.AllowMuteAudio {
		audio = false
	}
	if !e.st.AllowMuteVideo {
		video = false
	}
	e.st.AudioMuted, e.st.VideoMuted = audio, video
	e.mu.Unlock()
	e.cfg.Media.SetMute(audio, video)
	e.notify()
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

func (e *Engine) takeCallsLocked() []Call {
	var out []Call
	for id, ce := range e.calls {
		// A call still being dialled has none yet; the dialler closes it
		// when it finds its slot gone.
		if ce.call != nil {
			out = append(out, ce.call)
		}
		delete(e.calls, id)
	}
	return out
}

func closeCalls(calls []Call) {
	var wg sync.WaitGroup
	for _, c := range calls {
		wg.Add(1)
		go func() { defer wg.Done(); c.Close() }()
	}
	wg.Wait()
}

func (e *Engine) partnerIDsLocked() []string {
	var ids []string
	for id := range e.members {
		if id != e.selfID {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

// videoLoop marks the partner's video stopped while the call is connected
// but no frame has come for PartnerVideoStalled, and follows this
// workstation's camera and microphone coming and going.
func (e *Engine) videoLoop() {
	defer e.wg.Done()
	t := time.NewTicker(videoCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-e.stopStats:
			return
		case <-t.C:
		}
		e.mu.Lock()
		uploads := e.uploadsLocked()
		stopped := false
		if e.st.MediaConnected {
			for _, id := range e.partnerIDsLocked() {
				ce := e.calls[id]
				if ce == nil || ce.call == nil || ce.state != protocol.CallConnected {
					continue
				}
				last := ce.call.LastVideo()
				if last.IsZero() {
					last = ce.connectedAt
				}
				stopped = time.Since(last) > PartnerVideoStalled
			}
		}
		changed := stopped != e.st.PartnerVideoStopped
		e.st.PartnerVideoStopped = stopped
		// A camera or microphone plugged in later (or one that stopped)
		// changes what the device check shows and what the experimenter sees.
		noCam, noMic := e.cfg.Media.NoCamera(), e.cfg.Media.NoMicrophone()
		devicesChanged := noCam != e.st.NoCamera || noMic != e.st.NoMicrophone
		e.st.NoCamera, e.st.NoMicrophone = noCam, noMic
		var report protocol.Devices
		if devicesChanged {
			report = e.devicesLocked()
		}
		e.mu.Unlock()
		if devicesChanged {
			e.sess.Send(protocol.TypeDevices, report)
		}
		if changed || devicesChanged || uploads {
			e.notify()
		}
	}
}

func (e *Engine) statsLoop() {
	defer e.wg.Done()
	t := time.NewTicker(e.cfg.StatsInterval)
	defer t.Stop()
	for {
		select {
		case <-e.stopStats:
			return
		case <-t.C:
		}
		e.mu.Lock()
		type pc struct {
			id string
			c  Call
		}
		var calls []pc
		for id, ce := range e.calls {
			if ce.call != nil {
				calls = append(calls, pc{id, ce.call})
			}
		}
		e.mu.Unlock()
		for _, x := range calls {
			st := x.c.Stats()
			st.Peer = x.id
			e.sess.Send(protocol.TypeStats, st)
			e.mu.Lock()
			e.st.Stats = participant.Stats{
				RTT: time.Duration(st.RTTMS * float64(time.Millisecond)), FPSSent: st.FPSSent, FPSRecv: st.FPSRecv,
				BitrateKbps: st.BitrateKbps, PacketLoss: st.PacketLoss,
				AudioDelay: time.Duration(st.AudioDelayMS * float64(time.Millisecond)), FramesDecoded: st.FramesDecoded,
			}
			e.mu.Unlock()
			e.notify()
		}
	}
}
