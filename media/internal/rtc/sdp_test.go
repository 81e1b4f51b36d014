package rtc

import (
	"encoding/json"
	"image"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/parley-lab/parley/signaling/protocol"

	"github.com/parley-lab/parley/signaling/testkit"
)

// Our offer carries VP8 and Opus only, the feedback we implement and the
// transport-cc extension; no RTX, no other codec.
func TestOfferIsVP8AndOpusOnly(t *testing.T) {
	var offer atomic.Value
	c, err := New(Config{Peer: "x", Offerer: true, Log: quiet, Send: func(s protocol.Signal) error {
		if s.Kind == protocol.SignalOffer {
			offer.Store(s.SDP)
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sdp, _ := offer.Load().(string)
	for _, bad := range []string{"H264", "H265", "VP9", "AV1", "rtx", "goog-remb", "urn:ietf:params:rtp-hdrext:sdes"} {
		if strings.Contains(sdp, bad) {
			t.Errorf("offer mentions %s:\n%s", bad, sdp)
		}
	}
	for _, want := range []string{"VP8/90000", "opus/48000/2", "a=rtcp-fb:96 nack\r\n", "a=rtcp-fb:96 nack pli", "a=rtcp-fb:96 ccm fir", "a=rtcp-fb:96 transport-cc", transportCCURI} {
		if !strings.Contains(sdp, want) {
			t.Errorf("offer lacks %q:\n%s", want, sdp)
		}
	}
	if n := strings.Count(sdp, "a=rtpmap:"); n != 2 {
		t.Errorf("offer has %d codecs, want 2:\n%s", n, sdp)
	}
}

// A partner whose offer lists H.264 and VP9 before VP8 (Safari's or a
// browser's preference) gets an answer with VP8 only, and the call decodes
// VP8 frames.
func TestOfferPreferringH264AndVP9EndsOnVP8(t *testing.T) {
	n := newTestNet(t, 0, nil, nil)
	s := startSender(t, 640, 480, 500_000)

	m := &webrtc.MediaEngine{}
	for i, mime := range []string{webrtc.MimeTypeH264, webrtc.MimeTypeVP9, webrtc.MimeTypeVP8} {
		fmtp := ""
		if mime == webrtc.MimeTypeH264 {
			fmtp = "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"
		}
		if err := m.RegisterCodec(webrtc.RTPCodecParameters{
			RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: mime, ClockRate: 90000, SDPFmtpLine: fmtp,
				RTCPFeedback: []webrtc.RTCPFeedback{{Type: "nack"}, {Type: "nack", Parameter: "pli"}}},
			PayloadType: webrtc.PayloadType(102 + i),
		}, webrtc.RTPCodecTypeVideo); err != nil {
			t.Fatal(err)
		}
	}
	se := webrtc.SettingEngine{}
	se.SetNet(n.a)
	remote, err := webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithSettingEngine(se)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer remote.Close()
	sender, err := remote.AddTrack(s.video)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			if _, _, err := sender.ReadRTCP(); err != nil {
				return
			}
			s.keyframe.Store(true) // any feedback: a keyframe soon is harmless here
		}
	}()

	var decoded atomic.Int64
	var answer atomic.Value
	var call *Call
	toRemote := func(sig protocol.Signal) error {
		switch sig.Kind {
		case protocol.SignalAnswer:
			answer.Store(sig.SDP)
			return remote.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sig.SDP})
		case protocol.SignalCandidate:
			var init webrtc.ICECandidateInit
			if err := json.Unmarshal(sig.Candidate, &init); err != nil {
				return err
			}
			go func() {
				testkit.Eventually(t, "the answer", func() bool { return remote.RemoteDescription() != nil })
				remote.AddICECandidate(init)
			}()
		}
		return nil
	}
	call, err = New(Config{Peer: "remote", Send: toRemote, Net: n.b, Log: quiet,
		OnVideo: func(*image.YCbCr, time.Time) { decoded.Add(1) }})
	if err != nil {
		t.Fatal(err)
	}
	defer call.Close()
	remote.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c == nil {
			return
		}
		raw, _ := json.Marshal(c.ToJSON())
		go call.HandleSignal(protocol.Signal{Kind: protocol.SignalCandidate, Candidate: raw})
	})
	offer, err := remote.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	if i264, i8 := strings.Index(offer.SDP, "H264"), strings.Index(offer.SDP, "VP8"); i264 < 0 || i264 > i8 {
		t.Fatalf("the test offer does not list H.264 first:\n%s", offer.SDP)
	}
	if err := call.HandleSignal(protocol.Signal{Kind: protocol.SignalOffer, SDP: offer.SDP}); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "decoded VP8 frames", func() bool { return decoded.Load() >= 10 })
	a, _ := answer.Load().(string)
	for _, bad := range []string{"H264", "VP9"} {
		if strings.Contains(a, bad) {
			t.Errorf("answer accepts %s:\n%s", bad, a)
		}
	}
}
