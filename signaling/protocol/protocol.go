// Package protocol defines Parley's wire protocol between a kiosk and the
// rendezvous server: JSON messages over one websocket, each an Envelope whose
// Data holds the body for its Type. signaling/PROTOCOL.md documents it for
// people; this file is the single source of truth for code.
package protocol

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Version is the protocol version carried in every envelope. A server refuses
// envelopes of another version with CodeBadVersion.
const Version = 1

// Limits of the wire format. The server enforces them; clients may use them to
// refuse early.
const (
	// MaxFrameBytes is the largest websocket frame the server reads; a larger
	// one closes the connection with status 1009 (message too big).
	MaxFrameBytes = 64 << 10
	// MaxPseudonymRunes bounds a pseudonym after trimming.
	MaxPseudonymRunes = 32
	// MaxSeatRunes bounds a seat label.
	MaxSeatRunes = 64
	// MaxClientMsgIDBytes bounds the client's idempotency key for chat.
	MaxClientMsgIDBytes = 64
	// DefaultMaxMessageRunes is the default chat body limit (sessions may change it).
	DefaultMaxMessageRunes = 2000
)

// Message types sent by a kiosk.
const (
	TypeJoin      = "join"       // JoinRequest
	TypeSignal    = "signal"     // Signal (to a group member)
	TypeChat      = "chat"       // ChatSend
	TypeCallState = "call_state" // CallState
	TypeStats     = "stats"      // Stats
	TypeLeave     = "leave"      // no data
	// TypeReady: the participant finished the device check; only ready
	// participants are paired (unless the session's device_check is off).
	TypeReady = "ready" // no data
	// TypeDevices reports the workstation's camera, microphone and speaker.
	TypeDevices = "devices" // Devices
)

// Message types sent by the server.
const (
	TypeWelcome   = "welcome"    // Welcome
	TypeWaiting   = "waiting"    // Waiting
	TypePaired    = "paired"     // Paired
	TypeClock     = "clock"      // Clock
	TypePeerState = "peer_state" // PeerState
	TypeChatAck   = "chat_ack"   // ChatAck
	TypeChatMsg   = "chat_msg"   // ChatMessage
	TypeEnded     = "ended"      // Ended
	TypeError     = "error"      // Error
	// TypeAck confirms a kiosk's signal, call state or stats report (its
	// ref echoed), after the server relayed it or committed its event.
	TypeAck = "ack" // Ack
	// The server relays TypeSignal with From set.
)

// Envelope is one websocket text frame.
type Envelope struct {
	V    int    `json:"v"`
	Type string `json:"type"`
	// Ref is chosen by the client for a request and echoed in the server's
	// reply or error, so a client can match them.
	Ref  string          `json:"ref,omitempty"`
	Data json.RawMessage `json:"data,omitempty"`
}

// JoinRequest is the first message on every connection.
type JoinRequest struct {
	Room      string `json:"room"`
	Seat      string `json:"seat"`
	Pseudonym string `json:"pseudonym,omitempty"` // empty: the server assigns one if the session allows
	// Token resumes an existing participant (after a crash, restart or drop).
	// Room, seat and pseudonym are then ignored.
	Token string `json:"token,omitempty"`
	// Since maps channel name to the last sequence number this kiosk has seen;
	// the server replays every later message, and nothing before.
	Since map[string]int64 `json:"since,omitempty"`
	// Client names the software, e.g. "parley/0.1.0".
	Client string `json:"client,omitempty"`
	// Check, when set, joins the server's workstation-check room instead of
	// Room: a test call through the server that never touches research
	// data. Participants with the same Check id share one check session.
	Check string `json:"check,omitempty"`
}

// Settings are the parts of a session's settings a kiosk needs.
type Settings struct {
	DurationS       int  `json:"duration_s"`
	GroupSize       int  `json:"group_size"`
	MaxMessageRunes int  `json:"max_message_runes"`
	AllowMuteAudio  bool `json:"allow_mute_audio"`
	AllowMuteVideo  bool `json:"allow_mute_video"`
	SelfView        bool `json:"self_view"`
	ChatEnabled     bool `json:"chat_enabled"`
	// DeviceCheck is DeviceCheckRequired, DeviceCheckOptional or DeviceCheckOff.
	DeviceCheck string `json:"device_check"`
	// NoPartnerAfterS: how long a participant waits before being told that
	// no partner has come (Waiting.NoPartner).
	NoPartnerAfterS int `json:"no_partner_after_s"`
	// Record is RecordOff, RecordAudio or RecordAudioVideo; with recording
	// on, the kiosk asks for consent (TypeConsent) before pairing.
	Record string `json:"record,omitempty"`
}

// Device check settings (Settings.DeviceCheck).
const (
	DeviceCheckRequired = "required" // the kiosk shows the check; the participant continues when camera and microphone work
	DeviceCheckOptional = "optional" // the kiosk shows the check; the participant may continue anyway
	DeviceCheckOff      = "off"      // no check; ready at once
)

// Welcome answers a join.
type Welcome struct {
	ParticipantID string   `json:"participant_id"`
	Token         string   `json:"token"` // secret; keep it to resume
	Pseudonym     string   `json:"pseudonym"`
	Session       string   `json:"session"`
	Room          string   `json:"room"`
	Seat          string   `json:"seat"`
	Resumed       bool     `json:"resumed"`
	ServerTimeMS  int64    `json:"server_time_ms"`
	Settings      Settings `json:"settings"`
	// Channels the participant may read, with whether it may write.
	Channels []Channel `json:"channels"`
	// Ready: the server has this participant as ready (a resume after the
	// device check skips it).
	Ready bool `json:"ready,omitempty"`
	// Consent is the participant's stored answer (ConsentGiven or
	// ConsentDeclined; empty: not asked yet).
	Consent string `json:"consent,omitempty"`
}

// Channel is a chat channel as one participant sees it.
type Channel struct {
	Name     string `json:"name"`
	Kind     string `json:"kind"` // group, session, experimenter, named
	Writable bool   `json:"writable"`
}

// Channel kinds.
const (
	ChannelGroup        = "group"
	ChannelSession      = "session"
	ChannelExperimenter = "experimenter"
	ChannelNamed        = "named"
	// ChannelPrivate is each participant's own channel with the
	// experimenter (uproot's admin chat): only they and the experimenter
	// read it, and they may answer.
	ChannelPrivate = "private"
)

// Waiting tells an unpaired participant how many are present.
type Waiting struct {
	Present int `json:"present"` // participants connected and unpaired in the session, including this one
	Needed  int `json:"needed"`  // group size
	// NoPartner: this participant has waited longer than the session's
	// no_partner_after_s and nobody could be paired with them.
	NoPartner bool `json:"no_partner,omitempty"`
}

// Member is one member of a group as the others see it: pseudonym only.
type Member struct {
	ID        string `json:"id"`
	Pseudonym string `json:"pseudonym"`
}

// ICEServer mirrors webrtc.ICEServer without importing pion here.
type ICEServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}

// Paired tells a participant its group.
type Paired struct {
	Group   string   `json:"group"`
	Members []Member `json:"members"` // every member, this participant included
	// OfferTo lists the members this participant must send an offer to; it
	// waits for offers from the rest. The server decides, so there is no glare.
	OfferTo    []string    `json:"offer_to"`
	ICEServers []ICEServer `json:"ice_servers"`
	DurationS  int         `json:"duration_s"`
	PairedAtMS int64       `json:"paired_at_ms"`
	// Channels is the participant's full channel list now that it has a group.
	Channels []Channel `json:"channels"`
}

// Clock tells the group when its discussion started and ends (server time).
type Clock struct {
	StartedAtMS  int64 `json:"started_at_ms"`
	DeadlineMS   int64 `json:"deadline_ms"`
	ServerTimeMS int64 `json:"server_time_ms"`
	// Reason says why the clock started: ClockAllConnected, ClockFallback or ClockPaired.
	Reason string `json:"reason"`
	// Paused: the experimenter paused the clock, with RemainingMS left;
	// DeadlineMS then holds no meaning until a Clock without Paused comes.
	Paused      bool  `json:"paused,omitempty"`
	RemainingMS int64 `json:"remaining_ms,omitempty"`
}

// Signal kinds.
const (
	SignalOffer     = "offer"
	SignalAnswer    = "answer"
	SignalCandidate = "candidate"
	// SignalGiveUp: the sender gave up on the call named by Call (its
	// set-up timed out, or its connection failed) and starts a fresh one;
	// the partner closes that call too, so both make the fresh call
	// together (the offerer offers it).
	SignalGiveUp = "give_up"
)

// Signal carries WebRTC signaling between two members of one group.
type Signal struct {
	To   string `json:"to,omitempty"`   // set by the sender
	From string `json:"from,omitempty"` // set by the server when relaying
	Kind string `json:"kind"`
	SDP  string `json:"sdp,omitempty"`
	// Candidate is a webrtc.ICECandidateInit as JSON; empty with Kind
	// "candidate" means end of candidates.
	Candidate json.RawMessage `json:"candidate,omitempty"`
	// Call names the call a give_up is about: the session id of its
	// offer's SDP (the o= line), which both sides know.
	Call string `json:"call,omitempty"`
}

// ChatSend posts a message. ClientMsgID makes a resend idempotent: the same
// participant sending the same ClientMsgID again gets the original ack.
type ChatSend struct {
	Channel     string `json:"channel"`
	Body        string `json:"body"`
	ClientMsgID string `json:"client_msg_id"`
	// TypedAtMS is when the participant sent it, in server time (the
	// kiosk's clock corrected by the offset it learnt from the server). A
	// message typed before its group's deadline but delivered after it (the
	// kiosk was offline) is accepted and marked late.
	TypedAtMS int64 `json:"typed_at_ms,omitempty"`
}

// Ack confirms a kiosk message that carries an id (Signal, CallState, Stats).
type Ack struct {
	ID string `json:"id"`
	// ServerTimeMS is the server's clock when it answered: with the
	// request's round trip, the kiosk learns the server's time.
	ServerTimeMS int64 `json:"server_time_ms,omitempty"`
}

// ChatAck tells the sender its message was committed.
type ChatAck struct {
	ClientMsgID string      `json:"client_msg_id"`
	Message     ChatMessage `json:"message"`
}

// Sender roles.
const (
	RoleParticipant  = "participant"
	RoleExperimenter = "experimenter"
	RoleSystem       = "system"
)

// ChatMessage is a committed message as delivered to readers.
type ChatMessage struct {
	ID        string `json:"id"`
	Channel   string `json:"channel"`
	Seq       int64  `json:"seq"`
	SenderID  string `json:"sender_id,omitempty"` // participant id; empty for experimenter/system
	Pseudonym string `json:"pseudonym,omitempty"`
	Role      string `json:"role"`
	Body      string `json:"body"`
	TimeMS    int64  `json:"time_ms"`
	Replay    bool   `json:"replay,omitempty"` // delivered from history on (re)join
	// Late: typed before its group's end but committed after it; TypedAtMS
	// is when it was typed (server time).
	Late      bool  `json:"late,omitempty"`
	TypedAtMS int64 `json:"typed_at_ms,omitempty"`
}

// Call states reported by a kiosk.
const (
	CallConnecting   = "connecting"
	CallConnected    = "connected"
	CallDisconnected = "disconnected"
	CallFailed       = "failed"
)

// CallState is a kiosk's report of its call with one peer.
type CallState struct {
	Peer  string `json:"peer"`
	State string `json:"state"`
	// ID makes a resend idempotent (the kiosk resends what was not
	// acknowledged after a drop); AtMS is when it happened, in server time.
	ID   string `json:"id,omitempty"`
	AtMS int64  `json:"at_ms,omitempty"`
}

// PeerState tells the others that a member went offline or came back.
type PeerState struct {
	ParticipantID string `json:"participant_id"`
	Online        bool   `json:"online"`
}

// Stats is a kiosk's periodic report of its call quality; the server logs it
// as an event so latency is recorded per call. Rates and the loss are over
// the interval since the previous report (IntervalMS); FramesDecoded is the
// call's total. PROTOCOL.md gives each field's unit.
type Stats struct {
	Peer          string  `json:"peer"`
	RTTMS         float64 `json:"rtt_ms"`
	FPSSent       float64 `json:"fps_sent"`
	FPSRecv       float64 `json:"fps_recv"`
	BitrateKbps   float64 `json:"bitrate_kbps"`
	PacketLoss    float64 `json:"packet_loss"` // fraction 0..1 of the interval's packets
	AudioDelayMS  float64 `json:"audio_delay_ms"`
	VideoDelayMS  float64 `json:"video_delay_ms"` // mean over the interval's decoded frames
	FramesDecoded int64   `json:"frames_decoded"`
	IntervalMS    int64   `json:"interval_ms,omitempty"`
	// ID and AtMS as in CallState.
	ID   string `json:"id,omitempty"`
	AtMS int64  `json:"at_ms,omitempty"`
}

// Device states (Devices).
const (
	DeviceOK      = "ok"      // working
	DeviceOff     = "off"     // the lab chose none for this workstation
	DeviceMissing = "missing" // wanted, but missing, busy or failing
)

// Devices is a kiosk's report of its devices, so the experimenter sees
// who cannot take part fully; kept as an event. ID and AtMS as in CallState.
type Devices struct {
	Camera     string `json:"camera"`
	Microphone string `json:"microphone"`
	Speaker    string `json:"speaker"`
	ID         string `json:"id,omitempty"`
	AtMS       int64  `json:"at_ms,omitempty"`
}

// Ended tells a member that its discussion is over.
type Ended struct {
	Reason string `json:"reason"` // EndDeadline, EndExperimenter or EndSession
	AtMS   int64  `json:"at_ms"`
}

// Error codes. Each names one thing that was wrong.
const (
	CodeMalformed      = "malformed"       // not JSON, or a field of the wrong type
	CodeBadVersion     = "bad_version"     // envelope v is not Version
	CodeUnknownType    = "unknown_type"    // type not in this protocol
	CodeNotJoined      = "not_joined"      // a message before a successful join
	CodeAlreadyJoined  = "already_joined"  // a second join on one connection
	CodeBadPseudonym   = "bad_pseudonym"   // empty, too long, or forbidden characters
	CodePseudonymTaken = "pseudonym_taken" // another participant of the session uses it
	CodeBadSeat        = "bad_seat"        // seat label invalid
	CodeUnknownRoom    = "unknown_room"    // room not configured
	CodeNoSession      = "no_session"      // no open session in the room
	CodeBadToken       = "bad_token"       // resume token unknown
	CodeSeatTaken      = "seat_taken"      // another participant holds this seat in the session
	CodeNotInGroup     = "not_in_group"    // signal to someone outside the sender's group
	CodeNotPaired      = "not_paired"      // signal before pairing
	CodeNoChannel      = "no_channel"      // channel unknown or not readable by the sender
	CodeReadOnly       = "read_only"       // channel not writable by the sender
	CodeChatClosed     = "chat_closed"     // discussion ended; the group's chat is closed
	CodeTooLong        = "too_long"        // body over the session's limit
	CodeEmpty          = "empty"           // body empty after trimming
	CodeRateLimited    = "rate_limited"    // too many messages too fast
	CodeBadField       = "bad_field"       // a field missing or out of range
	CodeSessionEnded   = "session_ended"   // the session is over
	CodeReplaced       = "replaced"        // another connection resumed this participant
	CodeInternal       = "internal"        // the server failed; the request was not applied
)

// Error is sent for a refused request. The connection stays up unless said.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"` // a plain sentence naming what was wrong
	Field   string `json:"field,omitempty"`
	// RetryAfterMS, with CodeRateLimited, says when a resend will be accepted.
	RetryAfterMS int64 `json:"retry_after_ms,omitempty"`
}

// ErrMalformed is returned by Decode for input that is not a valid envelope.
var ErrMalformed = errors.New("malformed message")

// ErrVersion is returned by Decode for an envelope of another version.
var ErrVersion = errors.New("unsupported protocol version")

// ErrUnknownType is returned by DecodeBody for a type it does not know.
var ErrUnknownType = errors.New("unknown message type")

// Encode builds an envelope frame for typ with body v (nil for none).
func Encode(typ, ref string, v any) ([]byte, error) {
	env := Envelope{V: Version, Type: typ, Ref: ref}
	if v != nil {
		b, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("encode %s: %w", typ, err)
		}
		env.Data = b
	}
	return json.Marshal(env)
}

// Decode parses one frame into an envelope, checking version and type.
func Decode(frame []byte) (Envelope, error) {
	var env Envelope
	if err := json.Unmarshal(frame, &env); err != nil {
		return env, fmt.Errorf("%w: %s", ErrMalformed, describeJSONError(err, ""))
	}
	if err := CheckUTF8(frame); err != nil {
		return env, err
	}
	if env.Type == "" {
		return env, fmt.Errorf("%w: field \"type\" is missing", ErrMalformed)
	}
	if env.V != Version {
		return env, fmt.Errorf("%w: got v=%d, this server speaks v=%d", ErrVersion, env.V, Version)
	}
	return env, nil
}

// bodies maps each type to a constructor of its body.
var bodies = map[string]func() any{
	TypeJoin:      func() any { return new(JoinRequest) },
	TypeSignal:    func() any { return new(Signal) },
	TypeChat:      func() any { return new(ChatSend) },
	TypeCallState: func() any { return new(CallState) },
	TypeStats:     func() any { return new(Stats) },
	TypeLeave:     func() any { return new(struct{}) },
	TypeReady:     func() any { return new(struct{}) },
	TypeDevices:   func() any { return new(Devices) },
	TypeConsent:   func() any { return new(Consent) },
	TypeRecording: func() any { return new(RecordingState) },
	TypeWelcome:   func() any { return new(Welcome) },
	TypeWaiting:   func() any { return new(Waiting) },
	TypePaired:    func() any { return new(Paired) },
	TypeClock:     func() any { return new(Clock) },
	TypePeerState: func() any { return new(PeerState) },
	TypeChatAck:   func() any { return new(ChatAck) },
	TypeChatMsg:   func() any { return new(ChatMessage) },
	TypeEnded:     func() any { return new(Ended) },
	TypeError:     func() any { return new(Error) },
	TypeAck:       func() any { return new(Ack) },
}

// DecodeBody decodes env.Data into the body type for env.Type and returns a
// pointer to it (for example *JoinRequest for TypeJoin).
func DecodeBody(env Envelope) (any, error) {
	mk, ok := bodies[env.Type]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownType, env.Type)
	}
	v := mk()
	if len(env.Data) == 0 || string(env.Data) == "null" {
		return v, nil
	}
	if err := json.Unmarshal(env.Data, v); err != nil {
		return nil, fmt.Errorf("%w: %s", ErrMalformed, describeJSONError(err, "data."))
	}
	return v, nil
}
