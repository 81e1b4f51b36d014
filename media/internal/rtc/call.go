// Package rtc is one WebRTC call with one partner over pion/webrtc: it
// sends the shared local tracks, receives the partner's VP8 video and Opus
// audio, decodes them (video to the latest RGBA frame, audio to PCM for the
// player), asks for a keyframe after loss, and reports its state and
// statistics. Signaling goes through a callback, so the engine can relay it
// via the rendezvous server and tests can wire two calls directly.
package rtc

import (
	"errors"
	"fmt"
	"image"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor/pkg/cc"
	"github.com/pion/rtcp"
	"github.com/pion/transport/v4"
	"github.com/pion/webrtc/v4"

	"github.com/parley-lab/parley/media/frames"
	"github.com/parley-lab/parley/signaling/protocol"
)

// Timeouts for a lab LAN: a dead path is noticed in seconds, not the
// browser defaults of half a minute.
const (
	// ICEDisconnectedTimeout: this long without a packet, the call is
	// disconnected; ICEFailedTimeout (counted from the last packet too,
	// not from the disconnection as pion counts), it has failed and a
	// fresh call is made.
	ICEDisconnectedTimeout = 2 * time.Second
	ICEFailedTimeout       = 6 * time.Second
	ICEKeepalive           = 500 * time.Millisecond
	// iceCheckInterval is pion's interval between connectivity checks
	// while a call is being set up.
	iceCheckInterval = 200 * time.Millisecond
	// ICEMaxBindingRequests keeps a candidate pair checked for as long as
	// a call may take to connect (ICEFailedTimeout), not pion's 7 checks
	// (1.4 s): a fresh call made while the path is still down connects as
	// soon as the path returns instead of waiting out a dead attempt.
	ICEMaxBindingRequests = uint16(ICEFailedTimeout / iceCheckInterval)
	// DTLSRetransmitInterval is the first wait before a lost DTLS
	// handshake flight is sent again (it doubles after each loss). pion's
	// 1 s (RFC 6347's) made set-up at 20% loss take 9 s or more, and the
	// engine's set-up timeout then started afresh; WebRTC stacks use tens
	// of milliseconds. On a LAN the handshake takes about 20 ms. pion's
	// DTLS before v3.1.4 skipped a datagram that held a retransmitted
	// record next to a new one (a Finished after a lost flight) and hung
	// until its 30 s handshake timeout: about one set-up in eight at 20%
	// loss; v3.1.5 parses it (see TestSetUpUnderHeavyLossIsBounded).
	// The doubling cannot be bounded from here: pion/dtls has
	// DisableRetransmitBackoff (and a fixed 60 s ceiling), but no
	// SettingEngine of webrtc v4.2 (v4.2.13 to v4.2.18 checked) passes it
	// on, and a fork is not worth it: v3.1.5 goes back to this interval
	// whenever a new flight arrives, so the doubling only adds up over
	// consecutive losses of one flight (100+200+400 ms for three), and
	// set-up at 20% loss stays within 3 s (docs/benchmarks.md).
	DTLSRetransmitInterval = 100 * time.Millisecond
	// PLIInterval bounds how often a keyframe is asked for while waiting.
	PLIInterval = 300 * time.Millisecond
	// RemoteHangupGrace is how long a call the partner closed waits for
	// our own end of the discussion before it counts as failed.
	RemoteHangupGrace = 2 * time.Second
)

// virtualInterfaces are never used for candidates: container and VM
// bridges only add useless pairs to check.
var virtualInterfaces = []string{"docker", "veth", "virbr", "br-", "vmnet", "vboxnet", "tun", "tap"}

// ErrClosed is returned for a signal to a closed call.
var ErrClosed = errors.New("call closed")

// Config is one call's setup.
type Config struct {
	Peer       string
	Offerer    bool
	ICEServers []protocol.ICEServer
	// Send delivers a signal to the partner.
	Send func(protocol.Signal) error
	// OnState gets protocol.CallConnecting, CallConnected, CallDisconnected, CallFailed.
	OnState func(string)

	// Video and Audio are the local tracks (shared by every call); nil:
	// receive only.
	Video, Audio webrtc.TrackLocal
	// OnKeyframeRequest is called when the partner asks for a keyframe.
	OnKeyframeRequest func()
	// OnVideo is called for each decoded partner frame (on the call's
	// goroutine; keep it short).
	OnVideo VideoHook
	// OnAudio gets each decoded 20 ms of partner audio (48 kHz mono) with
	// its RTP sequence number; concealed frames have lost=true.
	OnAudio func(pcm []int16, seq uint16, lost bool)

	// VideoCeiling is the video bitrate on a clean link (bit/s; 0:
	// DefaultVideoCeiling); congestion control lowers it.
	VideoCeiling int

	// Loopback includes 127.0.0.1 candidates (two kiosks on one machine, CI).
	Loopback bool
	// Net replaces the network (pion's virtual network in tests).
	Net transport.Net
	Log *slog.Logger
}

// Call is a running call.
type Call struct {
	cfg    Config
	pc     *webrtc.PeerConnection
	log    *slog.Logger
	repair *repair
	bwe    atomic.Pointer[cc.BandwidthEstimator]
	path   pathQueue

	mu        sync.Mutex
	remoteSet bool
	pending   []webrtc.ICECandidateInit
	closed    bool
	state     string
	video     *videoReceiver
	audio     *audioReceiver
	started   time.Time
	timeline  Timeline
	wg        sync.WaitGroup
	lastStats statsSample
}

// New creates the call; an offerer sends its offer at once.
func New(cfg Config) (*Call, error) {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Send == nil {
		return nil, errors.New("rtc: Config.Send is required")
	}
	se := webrtc.SettingEngine{}
	se.SetICETimeouts(ICEDisconnectedTimeout, ICEFailedTimeout-ICEDisconnectedTimeout, ICEKeepalive)
	se.SetICEMaxBindingRequests(ICEMaxBindingRequests)
	se.SetDTLSRetransmissionInterval(DTLSRetransmitInterval)
	// A browser hides its addresses behind random .local names: resolve
	// them (a query on the LAN, as browsers do), never announce our own.
	// The virtual network of tests and benchmarks has no multicast.
	if cfg.Net == nil {
		se.SetICEMulticastDNSMode(ice.MulticastDNSModeQueryOnly)
	} else {
		se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	}
	se.SetIncludeLoopbackCandidate(cfg.Loopback)
	se.SetInterfaceFilter(func(name string) bool {
		for _, p := range virtualInterfaces {
			if strings.HasPrefix(name, p) {
				return false
			}
		}
		return true
	})
	if cfg.Net != nil {
		se.SetNet(cfg.Net)
	}
	if cfg.VideoCeiling == 0 {
		cfg.VideoCeiling = DefaultVideoCeiling
	}
	api, rep, err := newAPI(se, cfg.VideoCeiling)
	if err != nil {
		return nil, err
	}
	var servers []webrtc.ICEServer
	for _, s := range cfg.ICEServers {
		servers = append(servers, webrtc.ICEServer{URLs: s.URLs, Username: s.Username, Credential: s.Credential})
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{ICEServers: servers})
	if err != nil {
		return nil, fmt.Errorf("peer connection: %w", err)
	}
	c := &Call{cfg: cfg, pc: pc, repair: rep, log: cfg.Log.With("peer", cfg.Peer), started: time.Now(), state: protocol.CallConnecting}
	c.timeline.Created = c.started
	rtt := func() time.Duration {
		st, ok := pc.SCTP().Transport().ICETransport().GetSelectedCandidatePairStats()
		if !ok {
			return 0
		}
		return time.Duration(st.CurrentRoundTripTime * float64(time.Second))
	}
	select {
	case e := <-rep.estimator: // made with the peer connection's interceptors
		c.bwe.Store(&e)
	default:
	}
	if err := c.addTracks(); err != nil {
		pc.Close()
		return nil, err
	}
	pc.OnICECandidate(func(cand *webrtc.ICECandidate) {
		if cand == nil {
			return // end of candidates: trickle needs no marker between pion peers
		}
		init := cand.ToJSON()
		raw, _ := jsonMarshal(init)
		cfg.Send(protocol.Signal{Kind: protocol.SignalCandidate, Candidate: raw})
	})
	pc.OnConnectionStateChange(c.onState)
	pc.OnICEConnectionStateChange(func(s webrtc.ICEConnectionState) {
		c.log.Debug("ICE state", "state", s.String())
		if s == webrtc.ICEConnectionStateConnected {
			c.mark(&c.timeline.ICEConnected)
			// Only now: pion reads the ICE transport's gatherer without its
			// lock, which ICETransport.Start writes (a data race before).
			rep.nack.pathRTT.Store(&rtt)
			c.path.rtt.Store(&rtt)
		}
	})
	pc.OnTrack(c.onTrack)
	if cfg.Offerer {
		if err := c.offer(); err != nil {
			pc.Close()
			return nil, err
		}
	}
	return c, nil
}

func (c *Call) addTracks() error {
	add := func(t webrtc.TrackLocal, kind webrtc.RTPCodecType, drainRTCP bool) error {
		if t == nil {
			_, err := c.pc.AddTransceiverFromKind(kind, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly})
			return err
		}
		sender, err := c.pc.AddTrack(t)
		if err != nil {
			return err
		}
		// Read the sender's RTCP: keyframe requests for video; and every
		// sender's RTCP must be read or the interceptors stall.
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			for {
				pkts, _, err := sender.ReadRTCP()
				if err != nil {
					return
				}
				if drainRTCP {
					continue
				}
				for _, p := range pkts {
					switch p.(type) {
					case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
						if c.cfg.OnKeyframeRequest != nil {
							c.cfg.OnKeyframeRequest()
						}
					}
				}
			}
		}()
		return nil
	}
	if err := add(c.cfg.Video, webrtc.RTPCodecTypeVideo, false); err != nil {
		return err
	}
	return add(c.cfg.Audio, webrtc.RTPCodecTypeAudio, true)
}

func (c *Call) onTrack(t *webrtc.TrackRemote, r *webrtc.RTPReceiver) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	switch t.Kind() {
	case webrtc.RTPCodecTypeVideo:
		if !strings.EqualFold(t.Codec().MimeType, webrtc.MimeTypeVP8) {
			c.mu.Unlock()
			c.log.Warn("unsupported video codec", "codec", t.Codec().MimeType)
			return
		}
		v, err := newVideoReceiver(t, c.requestKeyframe(t), c.cfg.OnVideo, c.repair.nack.repairWait)
		if err != nil {
			c.mu.Unlock()
			c.log.Error("video decoder", "err", err)
			return
		}
		c.video = v
		c.wg.Add(1)
		go func() { defer c.wg.Done(); v.run() }()
	case webrtc.RTPCodecTypeAudio:
		a, err := newAudioReceiver(t, c.cfg.OnAudio)
		if err != nil {
			c.mu.Unlock()
			c.log.Error("audio decoder", "err", err)
			return
		}
		c.audio = a
		c.wg.Add(1)
		go func() { defer c.wg.Done(); a.run() }()
	}
	c.mu.Unlock()
}

// Timeline is when a call passed each phase of its set-up.
type Timeline struct {
	Created      time.Time
	Negotiated   time.Time // remote description set: offer and answer exchanged
	ICEConnected time.Time
	Connected    time.Time // DTLS done: media can flow
	FirstFrame   time.Time // first partner frame decoded
}

func (c *Call) mark(t *time.Time) {
	c.mu.Lock()
	if t.IsZero() {
		*t = time.Now()
	}
	c.mu.Unlock()
}

// Timeline reports the call's set-up so far.
func (c *Call) Timeline() Timeline {
	c.mu.Lock()
	defer c.mu.Unlock()
	tl := c.timeline
	if c.video != nil {
		if ns := c.video.firstAt.Load(); ns != 0 {
			tl.FirstFrame = time.Unix(0, ns)
		}
	}
	return tl
}

// requestKeyframe returns a function that sends a PLI for track t.
func (c *Call) requestKeyframe(t *webrtc.TrackRemote) func() {
	ssrc := uint32(t.SSRC())
	return func() {
		c.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}})
	}
}

// Remote is the partner's video.
func (c *Call) Remote() frames.Stream { return remoteOf{c} }

// LastVideo is when the partner's latest video frame was decoded (zero:
// none yet).
func (c *Call) LastVideo() time.Time {
	c.mu.Lock()
	v := c.video
	c.mu.Unlock()
	if v == nil || v.lastAt.Load() == 0 {
		return time.Time{}
	}
	return time.Unix(0, v.lastAt.Load())
}

type remoteOf struct{ c *Call }

func (r remoteOf) Render(dst *image.RGBA, seen uint64, view frames.View) (*image.RGBA, uint64) {
	r.c.mu.Lock()
	v := r.c.video
	r.c.mu.Unlock()
	if v == nil {
		return nil, 0
	}
	return v.frames.Render(dst, seen, view)
}
