package server

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/parley-lab/parley/pairing"
	"github.com/parley-lab/parley/signaling/protocol"
)

// Defaults. Every limit and timeout of the server is a field of Config or
// SessionSettings; these are their documented defaults.
const (
	DefaultListen         = ":8480"
	DefaultRoom           = "lab"
	DefaultDurationS      = 300
	DefaultGroupSize      = 2
	DefaultClockFallbackS = 30
	DefaultRateBurst      = 10
	DefaultRatePerSecond  = 2.0
	DefaultPingInterval   = 5 * time.Second
	DefaultPongWait       = 10 * time.Second // ping interval + pong wait: a dead kiosk is noticed within 15 s
	DefaultWriteWait      = 5 * time.Second
	DefaultSendQueueBytes = 4 << 20 // a long chat history replayed at once fits
	DefaultMaxHeldSignals = 256
	// DefaultJoinTimeout: a websocket that has not joined by then is closed.
	DefaultJoinTimeout = 10 * time.Second
	// DefaultMaxConnsPerAddr: a lab of 100 seats behind one NAT, each kiosk
	// with one connection and briefly a second while it reconnects.
	DefaultMaxConnsPerAddr = 256
	// DefaultMaxJoinsPerAddrPerMinute: all 100 seats rejoining at once after a
	// server restart, twice over, still fit.
	DefaultMaxJoinsPerAddrPerMinute = 600
	// DefaultLateChatGrace: how long after a group's end a message typed
	// before the end (the kiosk was offline) is still accepted, marked late.
	DefaultLateChatGrace   = 24 * time.Hour
	DefaultWebhookTimeout  = 5 * time.Second
	DefaultWebhookAttempts = 10
	DefaultWebhookBackoff  = time.Second
	DefaultWebhookMaxDelay = 5 * time.Minute
	// DefaultNoPartnerAfterS: see SessionSettings.NoPartnerAfterS.
	DefaultNoPartnerAfterS = 60
	// MaxDurationS bounds a discussion's length (a day).
	MaxDurationS = 24 * 3600
	// MaxGroupSize bounds a group (a mesh of peer connections).
	MaxGroupSize = 8
)

// Clock start rules.
const (
	ClockAllConnected = protocol.ClockAllConnected // when every member reports the call connected (fallback after ClockFallbackS)
	ClockPaired       = protocol.ClockPaired       // as soon as the group is formed
)

// ErrConfig wraps every configuration error; the message names the field.
var ErrConfig = errors.New("invalid configuration")

// NamedChannel is a chat channel declared in a session's settings, with the
// seat labels of its members (otreechat's channel=, uproot's chat.create).
type NamedChannel struct {
	Name  string   `json:"name" toml:"name"`
	Seats []string `json:"seats" toml:"seats"`
}

// SessionSettings are one session's settings. Zero values take defaults
// through WithDefaults.
type SessionSettings struct {
	DurationS        int            `json:"duration_s" toml:"duration_s"`
	GroupSize        int            `json:"group_size" toml:"group_size"`
	Matching         string         `json:"matching" toml:"matching"`
	FixedGroups      [][]string     `json:"fixed_groups,omitempty" toml:"fixed_groups"`
	ClockStart       string         `json:"clock_start" toml:"clock_start"`
	ClockFallbackS   int            `json:"clock_fallback_s" toml:"clock_fallback_s"`
	ChatEnabled      *bool          `json:"chat_enabled,omitempty" toml:"chat_enabled"`
	SessionChat      bool           `json:"session_chat" toml:"session_chat"`
	Channels         []NamedChannel `json:"channels,omitempty" toml:"channels"`
	MaxMessageRunes  int            `json:"max_message_runes" toml:"max_message_runes"`
	RateBurst        int            `json:"rate_burst" toml:"rate_burst"`
	RatePerSecond    float64        `json:"rate_per_second" toml:"rate_per_second"`
	AssignPseudonyms bool           `json:"assign_pseudonyms" toml:"assign_pseudonyms"`
	AllowMuteAudio   bool           `json:"allow_mute_audio" toml:"allow_mute_audio"`
	AllowMuteVideo   bool           `json:"allow_mute_video" toml:"allow_mute_video"`
	SelfView         *bool          `json:"self_view,omitempty" toml:"self_view"`
	// DeviceCheck: protocol.DeviceCheckRequired (default), Optional or Off.
	DeviceCheck string `json:"device_check" toml:"device_check"`
	// NoPartnerAfterS: a participant left without a partner this long after
	// the session started (or they became ready, if later) is told so, and
	// the experimenter sees it.
	NoPartnerAfterS int `json:"no_partner_after_s" toml:"no_partner_after_s"`
	// Record: protocol.RecordOff (default), RecordAudio or RecordAudioVideo.
	// With recording on, each kiosk asks for consent before pairing, only
	// participants who consented are paired, and the kiosks upload their
	// recordings (recordings.go).
	Record string `json:"record" toml:"record"`
}

func boolPtr(b bool) *bool { return &b }

// WithDefaults fills unset fields with their defaults.
func (s SessionSettings) WithDefaults() SessionSettings {
	if s.DurationS == 0 {
		s.DurationS = DefaultDurationS
	}
	if s.GroupSize == 0 {
		s.GroupSize = DefaultGroupSize
	}
	if s.Matching == "" {
		s.Matching = string(pairing.Arrival)
	}
	if s.ClockStart == "" {
		s.ClockStart = ClockAllConnected
	}
	if s.ClockFallbackS == 0 {
		s.ClockFallbackS = DefaultClockFallbackS
	}
	if s.ChatEnabled == nil {
		s.ChatEnabled = boolPtr(true)
	}
	if s.SelfView == nil {
		s.SelfView = boolPtr(true)
	}
	if s.MaxMessageRunes == 0 {
		s.MaxMessageRunes = protocol.DefaultMaxMessageRunes
	}
	if s.RateBurst == 0 {
		s.RateBurst = DefaultRateBurst
	}
	if s.RatePerSecond == 0 {
		s.RatePerSecond = DefaultRatePerSecond
	}
	if s.DeviceCheck == "" {
		s.DeviceCheck = protocol.DeviceCheckRequired
	}
	if s.NoPartnerAfterS == 0 {
		s.NoPartnerAfterS = DefaultNoPartnerAfterS
	}
	if s.Record == "" {
		s.Record = protocol.RecordOff
	}
	return s
}

// Validate checks settings (after WithDefaults) and names the wrong field.
func (s SessionSettings) Validate() error {
	bad := func(field, format string, a ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrConfig, field, fmt.Sprintf(format, a...))
	}
	if s.DurationS < 1 || s.DurationS > MaxDurationS {
		return bad("duration_s", "must be 1 to %d seconds, got %d", MaxDurationS, s.DurationS)
	}
	if s.GroupSize < 2 || s.GroupSize > MaxGroupSize {
		return bad("group_size", "must be 2 to %d, got %d", MaxGroupSize, s.GroupSize)
	}
	rule, err := pairing.ParseRule(s.Matching)
	if err != nil {
		return bad("matching", "%v", err)
	}
	if rule == pairing.Fixed {
		if len(s.FixedGroups) == 0 {
			return bad("fixed_groups", "matching \"fixed\" needs at least one group of seat labels")
		}
		if err := pairing.ValidateFixed(s.FixedGroups, s.GroupSize); err != nil {
			return bad("fixed_groups", "%v", err)
		}
	}
	if s.ClockStart != ClockAllConnected && s.ClockStart != ClockPaired {
		return bad("clock_start", "must be %q or %q, got %q", ClockAllConnected, ClockPaired, s.ClockStart)
	}
	if s.ClockFallbackS < 1 || s.ClockFallbackS > 600 {
		return bad("clock_fallback_s", "must be 1 to 600 seconds, got %d", s.ClockFallbackS)
	}
	if s.MaxMessageRunes < 1 || s.MaxMessageRunes > 20000 {
		return bad("max_message_runes", "must be 1 to 20000, got %d", s.MaxMessageRunes)
	}
	if s.RateBurst < 1 {
		return bad("rate_burst", "must be at least 1, got %d", s.RateBurst)
	}
	if s.RatePerSecond <= 0 {
		return bad("rate_per_second", "must be above 0, got %v", s.RatePerSecond)
	}
	switch s.DeviceCheck {
	case protocol.DeviceCheckRequired, protocol.DeviceCheckOptional, protocol.DeviceCheckOff:
	default:
		return bad("device_check", "must be %q, %q or %q, got %q", protocol.DeviceCheckRequired, protocol.DeviceCheckOptional, protocol.DeviceCheckOff, s.DeviceCheck)
	}
	if s.NoPartnerAfterS < 1 || s.NoPartnerAfterS > MaxDurationS {
		return bad("no_partner_after_s", "must be 1 to %d seconds, got %d", MaxDurationS, s.NoPartnerAfterS)
	}
	switch s.Record {
	case protocol.RecordOff, protocol.RecordAudio, protocol.RecordAudioVideo:
	default:
		return bad("record", "must be %q, %q or %q, got %q", protocol.RecordOff, protocol.RecordAudio, protocol.RecordAudioVideo, s.Record)
	}
	seen := map[string]bool{}
	for i, c := range s.Channels {
		if err := validChannelName(c.Name); err != nil {
			return bad(fmt.Sprintf("channels[%d].name", i), "%v", err)
		}
		if seen[c.Name] {
			return bad(fmt.Sprintf("channels[%d].name", i), "channel %q is declared twice", c.Name)
		}
		seen[c.Name] = true
		if len(c.Seats) == 0 {
			return bad(fmt.Sprintf("channels[%d].seats", i), "channel %q has no members", c.Name)
		}
	}
	return nil
}

// reservedChannels are the channel names the server gives meaning to.
var reservedChannels = map[string]bool{
	protocol.ChannelGroup: true, protocol.ChannelSession: true, protocol.ChannelExperimenter: true,
}

func validChannelName(n string) error {
	if n == "" || len(n) > 64 {
		return errors.New("must be 1 to 64 characters")
	}
	if reservedChannels[n] {
		return fmt.Errorf("%q is reserved", n)
	}
	for _, r := range n {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return fmt.Errorf("%q may hold only letters, digits, '-', '_' and '.'", n)
		}
	}
	return nil
}

// Room is a lab, named in the server's config.
type Room struct {
	Name string `toml:"name" json:"name"`
	// AutoSession opens a session with Defaults when a participant arrives and
	// none is open.
	AutoSession bool            `toml:"auto_session" json:"auto_session"`
	Defaults    SessionSettings `toml:"defaults" json:"defaults"`
}

// Config is the server's configuration.
type Config struct {
	Listen     string               `toml:"listen"`
	DataDir    string               `toml:"data"`
	Rooms      []Room               `toml:"rooms"`
	ICEServers []protocol.ICEServer `toml:"ice_servers"`

	PingInterval time.Duration `toml:"ping_interval"`
	PongWait     time.Duration `toml:"pong_wait"`
	WriteWait    time.Duration `toml:"write_wait"`
	// SendQueueBytes bounds what waits to be written to one kiosk; a kiosk
	// that falls further behind is dropped (it reconnects and is replayed
	// what it missed).
	SendQueueBytes  int           `toml:"send_queue_bytes"`
	MaxHeldSignals  int           `toml:"max_held_signals"`
	WebhookTimeout  time.Duration `toml:"webhook_timeout"`
	WebhookAttempts int           `toml:"webhook_attempts"`
	WebhookBackoff  time.Duration `toml:"webhook_backoff"`
	// AllowOrigins lists websocket Origin values accepted besides none (kiosks
	// send none). Empty: only requests without an Origin header.
	AllowOrigins []string `toml:"allow_origins"`
	// JoinTimeout: a connection that has not joined by then is closed.
	JoinTimeout time.Duration `toml:"join_timeout"`
	// MaxConnsPerAddr caps open websockets per remote IP address, and
	// MaxJoinsPerAddrPerMinute the joins (and resumes) from one address.
	MaxConnsPerAddr          int `toml:"max_conns_per_addr"`
	MaxJoinsPerAddrPerMinute int `toml:"max_joins_per_addr_per_minute"`
	// LateChatGrace: see DefaultLateChatGrace.
	LateChatGrace time.Duration `toml:"late_chat_grace"`
	// TrustedProxy: the server is reached through a reverse proxy that
	// terminates TLS and sets X-Forwarded-Proto and X-Forwarded-For. Only
	// then does the dashboard believe those headers: its cookie is Secure
	// when X-Forwarded-Proto is https, and wrong tokens lock out the
	// address the proxy names rather than the proxy's own. Without a proxy
	// anyone could send them, so it stays false.
	TrustedProxy bool `toml:"trusted_proxy"`
}

// WithDefaults fills unset fields. A config with no rooms gets one room,
// DefaultRoom, that opens sessions by itself: a fresh install works.
func (c Config) WithDefaults() Config {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if len(c.Rooms) == 0 {
		c.Rooms = []Room{{Name: DefaultRoom, AutoSession: true}}
	}
	for i := range c.Rooms {
		c.Rooms[i].Defaults = c.Rooms[i].Defaults.WithDefaults()
	}
	if c.PingInterval == 0 {
		c.PingInterval = DefaultPingInterval
	}
	if c.PongWait == 0 {
		c.PongWait = DefaultPongWait
	}
	if c.WriteWait == 0 {
		c.WriteWait = DefaultWriteWait
	}
	if c.SendQueueBytes == 0 {
		c.SendQueueBytes = DefaultSendQueueBytes
	}
	if c.MaxHeldSignals == 0 {
		c.MaxHeldSignals = DefaultMaxHeldSignals
	}
	if c.WebhookTimeout == 0 {
		c.WebhookTimeout = DefaultWebhookTimeout
	}
	if c.WebhookAttempts == 0 {
		c.WebhookAttempts = DefaultWebhookAttempts
	}
	if c.WebhookBackoff == 0 {
		c.WebhookBackoff = DefaultWebhookBackoff
	}
	if c.JoinTimeout == 0 {
		c.JoinTimeout = DefaultJoinTimeout
	}
	if c.MaxConnsPerAddr == 0 {
		c.MaxConnsPerAddr = DefaultMaxConnsPerAddr
	}
	if c.MaxJoinsPerAddrPerMinute == 0 {
		c.MaxJoinsPerAddrPerMinute = DefaultMaxJoinsPerAddrPerMinute
	}
	if c.LateChatGrace == 0 {
		c.LateChatGrace = DefaultLateChatGrace
	}
	return c
}

// Validate checks the config (after WithDefaults) and names the wrong field.
func (c Config) Validate() error {
	if c.DataDir == "" {
		return fmt.Errorf("%w: data: the data directory is not set", ErrConfig)
	}
	seen := map[string]bool{}
	for i, r := range c.Rooms {
		if err := validRoomName(r.Name); err != nil {
			return fmt.Errorf("%w: rooms[%d].name: %v", ErrConfig, i, err)
		}
		if seen[r.Name] {
			return fmt.Errorf("%w: rooms[%d].name: room %q is declared twice", ErrConfig, i, r.Name)
		}
		seen[r.Name] = true
		if err := r.Defaults.Validate(); err != nil {
			return fmt.Errorf("rooms[%d] (%s).defaults: %w", i, r.Name, err)
		}
	}
	for i, s := range c.ICEServers {
		if len(s.URLs) == 0 {
			return fmt.Errorf("%w: ice_servers[%d].urls: at least one URL is needed", ErrConfig, i)
		}
		for _, u := range s.URLs {
			scheme, _, ok := strings.Cut(u, ":")
			if !ok || (scheme != "stun" && scheme != "stuns" && scheme != "turn" && scheme != "turns") {
				return fmt.Errorf("%w: ice_servers[%d].urls: %q is not a stun:, stuns:, turn: or turns: URL", ErrConfig, i, u)
			}
			if strings.HasPrefix(scheme, "turn") && (s.Username == "" || s.Credential == "") {
				return fmt.Errorf("%w: ice_servers[%d]: TURN server %q needs username and credential", ErrConfig, i, u)
			}
		}
	}
	for i, o := range c.AllowOrigins {
		if _, err := url.Parse(o); err != nil || o == "" {
			return fmt.Errorf("%w: allow_origins[%d]: %q is not an origin URL", ErrConfig, i, o)
		}
	}
	if c.JoinTimeout < 0 || c.LateChatGrace < 0 || c.MaxConnsPerAddr < 0 || c.MaxJoinsPerAddrPerMinute < 0 {
		return fmt.Errorf("%w: join_timeout, late_chat_grace, max_conns_per_addr and max_joins_per_addr_per_minute must not be negative", ErrConfig)
	}
	if c.PingInterval <= 0 || c.PongWait <= 0 || c.WriteWait <= 0 {
		return fmt.Errorf("%w: ping_interval, pong_wait and write_wait must be positive", ErrConfig)
	}
	if c.SendQueueBytes < protocol.MaxFrameBytes || c.MaxHeldSignals < 1 || c.WebhookAttempts < 1 {
		return fmt.Errorf("%w: send_queue_bytes must be at least %d, max_held_signals and webhook_attempts at least 1", ErrConfig, protocol.MaxFrameBytes)
	}
	return nil
}

func validRoomName(n string) error {
	if n == "" || len(n) > 64 {
		return errors.New("must be 1 to 64 characters")
	}
	for _, r := range n {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return fmt.Errorf("%q may hold only lower-case letters, digits, '-' and '_'", n)
		}
	}
	return nil
}

// checkRoom is the workstation-check room every server has: sessions open by
// themselves, no device check, the clock starts at pairing.
var checkRoom = Room{Name: protocol.CheckRoom, AutoSession: true, Defaults: SessionSettings{
	DurationS: checkDurationS, ClockStart: ClockPaired, DeviceCheck: protocol.DeviceCheckOff, AssignPseudonyms: true,
}.WithDefaults()}

// checkDurationS is a workstation check's discussion: as long as the
// selftest's own (media/selftest.DefaultDuration).
const checkDurationS = 6

func (c Config) room(name string) (Room, bool) {
	if name == protocol.CheckRoom {
		return checkRoom, true
	}
	for _, r := range c.Rooms {
		if r.Name == name {
			return r, true
		}
	}
	return Room{}, false
}
