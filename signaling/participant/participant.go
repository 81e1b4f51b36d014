// Package participant is the contract between the participant engine
// (signaling/participant/engine) and anything that shows it to a person (the kiosk UI, the
// selftest, tests): the engine's observable State, the frames it produces,
// and the intents a person can express. It has no heavy dependencies so a
// UI can be tested against a scripted double.
package participant

import (
	"context"
	"time"

	"github.com/parley-lab/parley/media/frames"
)

// Phase is where the participant is in the flow.
type Phase int

// Phases, in the order a participant normally passes through them.
const (
	PhaseIdle       Phase = iota // not joined yet: the welcome screen
	PhaseConnecting              // connecting to the server / joining
	PhaseWaiting                 // joined, waiting for a partner
	PhasePaired                  // group known, call being set up
	PhaseInCall                  // media connected to the partner
	PhaseEnded                   // the discussion is over
)

func (p Phase) String() string {
	switch p {
	case PhaseIdle:
		return "idle"
	case PhaseConnecting:
		return "connecting"
	case PhaseWaiting:
		return "waiting"
	case PhasePaired:
		return "paired"
	case PhaseInCall:
		return "in_call"
	case PhaseEnded:
		return "ended"
	}
	return "unknown"
}

// Message is one chat message as a participant sees it.
type Message struct {
	ID        string
	Channel   string
	Seq       int64
	Pseudonym string // sender's pseudonym; empty for experimenter/system
	Role      string // protocol.RoleParticipant, RoleExperimenter, RoleSystem
	Body      string
	Time      time.Time // server time
	Own       bool      // sent by this participant
}

// Channel is a chat channel the participant can read.
type Channel struct {
	Name     string
	Kind     string // protocol.Channel* kinds
	Writable bool
}

// Notice is a refused action or a problem, in plain words for the participant.
type Notice struct {
	Code string // protocol error code or an engine code
	Text string // plain sentence in the participant's language
	// ClientMsgID, Channel and Body are set when a chat message was refused.
	ClientMsgID   string
	Channel, Body string
}

// PendingMessage is a chat message sent and not yet acknowledged by the
// server (the signaling client's outbox is its one copy).
type PendingMessage struct {
	ID      string // the client message id
	Channel string
	Body    string
}

// Stats is the engine's view of call quality.
type Stats struct {
	RTT           time.Duration
	FPSSent       float64
	FPSRecv       float64
	BitrateKbps   float64
	PacketLoss    float64
	AudioDelay    time.Duration
	FramesDecoded int64
}

// State is a snapshot of everything a UI shows. It is a value: the engine
// hands out copies, so a UI may keep one without locking.
type State struct {
	Phase     Phase
	Pseudonym string // own pseudonym as the server accepted it
	Seat      string
	Session   string

	// Server connection: false while reconnecting to the server.
	ServerOnline bool
	// ServerUnreachable: the server has not answered for a while (see
	// engine.ServerUnreachableAfter); the kiosk keeps trying by itself.
	ServerUnreachable bool
	// WaitingForSession: joined the room before the experimenter opened a
	// session; the kiosk joins by itself the moment one opens.
	WaitingForSession bool
	// DeviceCheck is the session's protocol.DeviceCheck* setting; Ready
	// says the participant finished it (or the session has none) and may
	// be paired.
	DeviceCheck string
	Ready       bool
	// NoPartner: waited longer than the session allows and nobody came.
	NoPartner bool
	// Announcement is the newest experimenter message not yet dismissed,
	// shown over whatever screen is up; nil when there is none.
	Announcement *Message
	// Waiting: how many are present and how many a group needs.
	Present, Needed int

	Partners       []string // partners' pseudonyms
	PartnerOnline  bool     // false while the partner is reconnecting to the server
	MediaConnected bool     // WebRTC call connected
	// PartnerVideoStopped: connected, but no video from the partner for a
	// while (their camera is off, missing or stopped).
	PartnerVideoStopped bool
	Reconnecting        bool // the call was connected and is being re-established

	// Clock, in local time (corrected for the server's clock offset). Zero
	// until the discussion clock starts.
	Deadline time.Time
	Duration time.Duration
	// Paused: the experimenter paused the clock with PausedLeft to go;
	// Deadline means nothing until it runs again.
	Paused     bool
	PausedLeft time.Duration

	Channels []Channel
	Messages []Message // in order per channel; history first
	// Pending chat messages sent but not yet acknowledged, in the order typed.
	Pending []PendingMessage

	AllowMuteAudio, AllowMuteVideo bool
	AudioMuted, VideoMuted         bool
	SelfView                       bool
	MaxMessageRunes                int

	// NoCamera, NoMicrophone, NoAudioOutput: wanted but missing or failing
	// (the device check says so); CameraOff, MicrophoneOff: the lab chose
	// none for this workstation.
	NoCamera, NoMicrophone, NoAudioOutput bool
	CameraOff, MicrophoneOff              bool

	// Record is the session's protocol.Record* setting. With recording on,
	// the participant answers the consent screen before being paired:
	// Consent is protocol.ConsentGiven or ConsentDeclined once answered
	// (empty: not yet). Recording: a segment is being written now (the UI
	// shows its indicator). Uploads counts segments still to be uploaded.
	Record    string
	Consent   string
	Recording bool
	Uploads   int

	EndReason string
	LastError *Notice
	Stats     Stats
}

// Remaining is the time left at now, never negative; zero before the clock starts.
func (s State) Remaining(now time.Time) time.Duration {
	if s.Deadline.IsZero() {
		return 0
	}
	d := s.Deadline.Sub(now)
	if d < 0 {
		return 0
	}
	return d
}

// Engine is what a UI drives. Every method is safe from any goroutine and
// never blocks on the network.
type Engine interface {
	// State returns a snapshot.
	State() State
	// Changed returns a channel that receives (non-blocking, coalesced) after
	// each state change. Frames are not state changes.
	Changed() <-chan struct{}
	// Remote and Local are the partner's video and the self-view.
	Remote() frames.Stream
	Local() frames.Stream
	// MicLevel is the local microphone's level, 0..1, for the device check.
	MicLevel() float64

	// Join asks to join with the typed pseudonym. A refusal comes back as
	// State.LastError with Phase back to PhaseIdle.
	Join(pseudonym string)
	// SendChat posts body to channel and returns the client message id.
	SendChat(channel, body string) string
	// SetMute mutes or unmutes microphone and camera where allowed.
	SetMute(audio, video bool)
	// Ready says the participant finished the device check.
	Ready()
	// RetryDevices tries a missing or failed camera and microphone again
	// now (the device check's "Try again").
	RetryDevices()
	// Dismiss hides the announcement with this message id.
	Dismiss(messageID string)
	// Consent answers the consent screen (in language, the one its text
	// was shown in). The first answer is kept.
	Consent(given bool, language string)
	// Leave ends participation and releases devices.
	Leave()
}

// statePoll bounds how long Wait goes without looking at the state, in case
// a change notification was taken by another reader of Changed.
const statePoll = 50 * time.Millisecond

// Wait blocks until cond holds for eng's state, limit passes or ctx ends,
// and reports whether cond held.
func Wait(ctx context.Context, eng Engine, limit time.Duration, cond func(State) bool) bool {
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	for {
		if cond(eng.State()) {
			return true
		}
		select {
		case <-eng.Changed():
		case <-time.After(statePoll):
		case <-deadline.C:
			return cond(eng.State())
		case <-ctx.Done():
			return false
		}
	}
}
