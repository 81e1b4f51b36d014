package rtc

import (
	"encoding/binary"
	"image"
	"io"
	"log/slog"
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hraban/opus"
	"github.com/pion/logging"
	"github.com/pion/transport/v4/vnet"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"

	"github.com/parley-lab/parley/media/internal/vp8"
	"github.com/parley-lab/parley/media/testsrc"
	"github.com/parley-lab/parley/signaling/protocol"

	"github.com/parley-lab/parley/signaling/testkit"
)

// Tests here run two calls on pion's virtual network: side A sends test
// video and audio, side B receives; faults are made in the router.

const (
	waitLimit = 30 * time.Second
	pollEvery = 20 * time.Millisecond
	ipA, ipB  = "10.78.0.2", "10.78.0.3"
	testFPS   = 30
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// rtpOf returns the RTP header fields of a UDP chunk that carries SRTP
// (whose header is in the clear), ok false for anything else (STUN, DTLS,
// RTCP).
func rtpOf(c vnet.Chunk) (pt uint8, seq uint16, ssrc uint32, ok bool) {
	if c.Network() != "udp" {
		return 0, 0, 0, false
	}
	b := c.UserData()
	if len(b) < 12 || b[0]&0xC0 != 0x80 {
		return 0, 0, 0, false
	}
	pt = b[1] & 0x7F
	if pt >= 64 && pt <= 95 { // RTCP packet types 192..223
		return 0, 0, 0, false
	}
	return pt, binary.BigEndian.Uint16(b[2:4]), binary.BigEndian.Uint32(b[8:12]), true
}

// isNACK says whether a chunk is SRTCP whose first packet is a generic NACK.
func isNACK(c vnet.Chunk) bool {
	b := c.UserData()
	return c.Network() == "udp" && len(b) >= 8 && b[0]&0xC0 == 0x80 && b[1] == 205 && b[0]&0x1F == 1
}

func from(c vnet.Chunk, ip string) bool {
	a, ok := c.SourceAddr().(*net.UDPAddr)
	return ok && a.IP.String() == ip
}

type testNet struct {
	router *vnet.Router
	a, b   *vnet.Net
}

// newTestNet makes a router with A and B on it; delay is one way. If
// inboundB is given, B's side of the link goes through it (a rate limit).
func newTestNet(t *testing.T, delay time.Duration, filter vnet.ChunkFilter, inboundB func(*vnet.Net) vnet.NIC) *testNet {
	t.Helper()
	router, err := vnet.NewRouter(&vnet.RouterConfig{CIDR: "10.78.0.0/24", MinDelay: delay, LoggerFactory: logging.NewDefaultLoggerFactory()})
	if err != nil {
		t.Fatal(err)
	}
	if filter != nil {
		router.AddChunkFilter(filter)
	}
	n := &testNet{router: router}
	if n.a, err = vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{ipA}}); err != nil {
		t.Fatal(err)
	}
	if n.b, err = vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{ipB}}); err != nil {
		t.Fatal(err)
	}
	if err := router.AddNet(n.a); err != nil {
		t.Fatal(err)
	}
	var nicB vnet.NIC = n.b
	if inboundB != nil {
		nicB = inboundB(n.b)
	}
	if err := router.AddNet(nicB); err != nil {
		t.Fatal(err)
	}
	if err := router.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { router.Stop() })
	return n
}

// sender feeds test video (VP8, with frame stamps) and a test tone (Opus)
// into two tracks in real time.
type sender struct {
	video, audio *webrtc.TrackLocalStaticSample
	keyframe     atomic.Bool
	// bitrate, when set, is asked before each frame for the encoder's target.
	bitrate    atomic.Pointer[func() int]
	framesSent atomic.Int64
	encBitrate atomic.Int64
	stop       chan struct{}
	wg         sync.WaitGroup
}

func startSender(t *testing.T, w, h, bitrate int) *sender {
	t.Helper()
	s := &sender{stop: make(chan struct{})}
	var err error
	if s.video, err = webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "video", "test"); err != nil {
		t.Fatal(err)
	}
	if s.audio, err = webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", "test"); err != nil {
		t.Fatal(err)
	}
	enc, err := vp8.New(vp8.Settings{Width: w, Height: h, FPS: testFPS, Bitrate: bitrate, KeyframeInterval: 120})
	if err != nil {
		t.Fatal(err)
	}
	src, err := testsrc.NewVideo(w, h, testFPS)
	if err != nil {
		t.Fatal(err)
	}
	oenc, err := opus.NewEncoder(SampleRate, 1, opus.AppVoIP)
	if err != nil {
		t.Fatal(err)
	}
	oenc.SetBitrate(32_000)
	oenc.SetInBandFEC(true)
	s.keyframe.Store(true)
	s.encBitrate.Store(int64(bitrate))
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		defer enc.Close()
		img := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
		tick := time.NewTicker(time.Second / testFPS)
		defer tick.Stop()
		for n := uint32(0); ; n++ {
			select {
			case <-s.stop:
				return
			case <-tick.C:
			}
			if f := s.bitrate.Load(); f != nil {
				if err := enc.SetBitrate((*f)()); err == nil {
					s.encBitrate.Store(int64(enc.Bitrate()))
				}
			}
			now := time.Now()
			src.Render(img, n, now)
			data, _, err := enc.Encode(img, now, s.keyframe.Swap(false))
			if err != nil || len(data) == 0 {
				continue
			}
			s.video.WriteSample(media.Sample{Data: append([]byte(nil), data...), Duration: time.Second / testFPS})
			s.framesSent.Add(1)
		}
	}()
	go func() {
		defer s.wg.Done()
		tone := testsrc.NewTone(440, SampleRate)
		pcm := make([]int16, FrameSamples)
		out := make([]byte, 1500)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-tick.C:
			}
			tone.Fill(pcm)
			n, err := oenc.Encode(pcm, out)
			if err != nil {
				continue
			}
			s.audio.WriteSample(media.Sample{Data: append([]byte(nil), out[:n]...), Duration: 20 * time.Millisecond})
		}
	}()
	t.Cleanup(s.close)
	return s
}

func (s *sender) close() {
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	s.wg.Wait()
}

// relay delivers one side's signals to the other in order, once the other
// exists.
type relay struct {
	mu     sync.Mutex
	to     *Call
	queue  []protocol.Signal
	sent   atomic.Int64 // signals handed to the relay
	closed bool
}

func (r *relay) send(s protocol.Signal) error {
	r.sent.Add(1)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	if r.to == nil {
		r.queue = append(r.queue, s)
		return nil
	}
	go r.deliver(s)
	return nil
}

var deliverMu sync.Mutex // one signal at a time: offer before its candidates

func (r *relay) deliver(s protocol.Signal) {
	deliverMu.Lock()
	defer deliverMu.Unlock()
	r.mu.Lock()
	to := r.to
	r.mu.Unlock()
	to.HandleSignal(s)
}

func (r *relay) connect(to *Call) {
	r.mu.Lock()
	r.to = to
	q := r.queue
	r.queue = nil
	r.mu.Unlock()
	for _, s := range q {
		r.deliver(s)
	}
}

// pair is a running call between A (sending s) and B (receiving).
type pair struct {
	a, b         *Call
	toB, toA     *relay
	decoded      atomic.Int64
	audioOK      atomic.Int64
	audioLost    atomic.Int64
	latencies    latencyLog
	stateA       atomic.Value
	stateB       atomic.Value
	historyB     stateHistory
	lastDecodeNs atomic.Int64
}

type stateHistory struct {
	mu     sync.Mutex
	states []string
	at     []time.Time
}

func (h *stateHistory) add(s string) {
	h.mu.Lock()
	h.states, h.at = append(h.states, s), append(h.at, time.Now())
	h.mu.Unlock()
}

// first is when s was first reported (zero if never).
func (h *stateHistory) first(s string) time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, x := range h.states {
		if x == s {
			return h.at[i]
		}
	}
	return time.Time{}
}

type latencyLog struct {
	mu sync.Mutex
	at []time.Time
	d  []time.Duration
}

func (l *latencyLog) add(at time.Time, d time.Duration) {
	l.mu.Lock()
	l.at, l.d = append(l.at, at), append(l.d, d)
	l.mu.Unlock()
}

// p95Since is the 95th percentile of the latencies of frames decoded
// after since, and how many there were.
func (l *latencyLog) p95Since(since time.Time) (time.Duration, int) {
	l.mu.Lock()
	var ds []time.Duration
	for i, at := range l.at {
		if at.After(since) {
			ds = append(ds, l.d[i])
		}
	}
	l.mu.Unlock()
	if len(ds) == 0 {
		return 0, 0
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[len(ds)*95/100], len(ds)
}

// newPair calls B from A over n and waits for the call to connect and
// decode. ceiling is A's video ceiling (0: default).
func newPair(t *testing.T, n *testNet, s *sender, ceiling int) *pair {
	t.Helper()
	p := startPair(t, n, s, ceiling)
	deadline := time.Now().Add(waitLimit)
	for !p.connected() {
		if time.Now().After(deadline) {
			t.Fatalf("the call did not connect: A %v (%+v), B %v (%+v), ICE A %v B %v", p.stateA.Load(), p.a.Timeline(), p.stateB.Load(), p.b.Timeline(),
				p.a.pc.ICEConnectionState(), p.b.pc.ICEConnectionState())
		}
		time.Sleep(pollEvery)
	}
	testkit.Eventually(t, "the first decoded frame", func() bool { return p.decoded.Load() > 0 })
	return p
}

func (p *pair) connected() bool {
	return p.stateA.Load() == protocol.CallConnected && p.stateB.Load() == protocol.CallConnected
}

// startPair calls B from A over n without waiting; s nil: A sends no media.
func startPair(t *testing.T, n *testNet, s *sender, ceiling int) *pair {
	t.Helper()
	p := &pair{toB: &relay{}, toA: &relay{}}
	p.stateA.Store("")
	p.stateB.Store("")
	var err error
	cfgA := Config{Peer: "b", Offerer: true, Send: p.toB.send,
		OnState:      func(st string) { p.stateA.Store(st) },
		VideoCeiling: ceiling, Net: n.a, Log: quiet}
	if s != nil { // nil: A sends nothing (set-up tests)
		cfgA.Video, cfgA.Audio = s.video, s.audio
		cfgA.OnKeyframeRequest = func() { s.keyframe.Store(true) }
	}
	p.a, err = New(cfgA)
	if err != nil {
		t.Fatal(err)
	}
	p.b, err = New(Config{Peer: "a", Send: p.toA.send, Net: n.b, Log: quiet,
		OnState: func(st string) { p.stateB.Store(st); p.historyB.add(st) },
		OnVideo: func(img *image.YCbCr, at time.Time) {
			p.decoded.Add(1)
			p.lastDecodeNs.Store(at.UnixNano())
			if st, ok := testsrc.ReadStamp(img, at); ok {
				p.latencies.add(at, at.Sub(st.Captured))
			}
		},
		OnAudio: func(_ []int16, _ uint16, lost bool) {
			if lost {
				p.audioLost.Add(1)
			} else {
				p.audioOK.Add(1)
			}
		}})
	if err != nil {
		p.a.Close()
		t.Fatal(err)
	}
	p.toB.connect(p.b)
	p.toA.connect(p.a)
	t.Cleanup(p.close)
	return p
}

func (p *pair) close() {
	for _, r := range []*relay{p.toA, p.toB} {
		r.mu.Lock()
		r.closed = true
		r.mu.Unlock()
	}
	p.a.Close()
	p.b.Close()
}
