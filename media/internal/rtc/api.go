package rtc

import (
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/cc"
	"github.com/pion/interceptor/pkg/gcc"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/interceptor/pkg/report"
	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/webrtc/v4"
)

// What a call offers and accepts: VP8 and Opus only (pion's default codecs
// add H.264, H.265, VP9 and AV1, which Parley does not decode), with only
// the feedback and header extensions implemented here.
const (
	payloadTypeVP8  = 96
	payloadTypeOpus = 111
	// transportCCURI is the transport-wide sequence number extension
	// (sdp.TransportCCURI).
	transportCCURI = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"
)

// Bitrates for congestion control. The estimate covers everything sent;
// audio is served first (AudioReserve), video gets the rest between
// VideoFloor and the configured ceiling.
const (
	// DefaultVideoCeiling is the video bitrate on a clean link when the
	// configuration sets none.
	DefaultVideoCeiling = 1_000_000
	// AudioReserve is Opus at 48 kb/s (the kit's default) with its RTP,
	// SRTP, UDP and IP overhead at 50 packets a second, rounded up.
	AudioReserve = 80_000
	// VideoFloor is the least video bitrate asked of the encoder; below
	// the picture's need at the coarsest quantizer libvpx skips frames.
	VideoFloor = 80_000
)

// VideoBitrate is the encoder target for a bandwidth estimate (bit/s):
// what is left after audio, between VideoFloor and ceiling.
func VideoBitrate(estimate, ceiling int) int {
	return max(VideoFloor, min(ceiling, estimate-AudioReserve))
}

var (
	videoFeedback = []webrtc.RTCPFeedback{
		{Type: webrtc.TypeRTCPFBCCM, Parameter: "fir"}, // OnKeyframeRequest
		{Type: webrtc.TypeRTCPFBNACK},                  // nackGenerator, pion's responder
		{Type: webrtc.TypeRTCPFBNACK, Parameter: "pli"},
		{Type: webrtc.TypeRTCPFBTransportCC}, // twcc sender (feedback) and gcc (estimate)
	}
	audioFeedback = []webrtc.RTCPFeedback{{Type: webrtc.TypeRTCPFBTransportCC}}
)

// repair is what one call's API records of loss repair and congestion.
type repair struct {
	nack      *nackGenerator
	budget    *retransmitBudget
	estimator chan cc.BandwidthEstimator
}

// newAPI builds one call's pion API: codecs, interceptors (each call its
// own, so their counts are the call's) and settings.
func newAPI(se webrtc.SettingEngine, videoCeiling int) (*webrtc.API, *repair, error) {
	m := &webrtc.MediaEngine{}
	if err := m.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000, RTCPFeedback: videoFeedback},
		PayloadType:        payloadTypeVP8,
	}, webrtc.RTPCodecTypeVideo); err != nil {
		return nil, nil, err
	}
	if err := m.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2,
			SDPFmtpLine: "minptime=10;useinbandfec=1", RTCPFeedback: audioFeedback},
		PayloadType: payloadTypeOpus,
	}, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, nil, err
	}
	for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: transportCCURI}, kind); err != nil {
			return nil, nil, err
		}
	}

	r := &repair{nack: newNACKGenerator(), budget: newRetransmitBudget(), estimator: make(chan cc.BandwidthEstimator, 1)}
	// Order matters: the first registered is nearest the network. The
	// estimator (and its pacer) sees every packet last, after the
	// transport-wide sequence number is set; the budget sees the
	// responder's retransmissions.
	ir := &interceptor.Registry{}
	ceiling := videoCeiling + AudioReserve
	bwe, err := cc.NewInterceptor(func() (cc.BandwidthEstimator, error) {
		return gcc.NewSendSideBWE(
			gcc.SendSideBWEInitialBitrate(ceiling), // full rate at once on a LAN
			gcc.SendSideBWEMinBitrate(VideoFloor+AudioReserve),
			gcc.SendSideBWEMaxBitrate(ceiling),
			gcc.SendSideBWEPacer(gcc.NewNoOpPacer()), // no queue of our own: latency first
		)
	})
	if err != nil {
		return nil, nil, err
	}
	bwe.OnNewPeerConnection(func(_ string, e cc.BandwidthEstimator) {
		select {
		case r.estimator <- e:
		default:
		}
	})
	ir.Add(bwe)
	ext, err := twcc.NewHeaderExtensionInterceptor()
	if err != nil {
		return nil, nil, err
	}
	ir.Add(ext)
	ir.Add(r.budget)
	responder, err := nack.NewResponderInterceptor()
	if err != nil {
		return nil, nil, err
	}
	ir.Add(responder)
	ir.Add(r.nack)
	recv, err := report.NewReceiverInterceptor()
	if err != nil {
		return nil, nil, err
	}
	send, err := report.NewSenderInterceptor()
	if err != nil {
		return nil, nil, err
	}
	ir.Add(recv)
	ir.Add(send)
	if err := webrtc.ConfigureStatsInterceptor(ir); err != nil {
		return nil, nil, err
	}
	feedback, err := twcc.NewSenderInterceptor()
	if err != nil {
		return nil, nil, err
	}
	ir.Add(feedback)
	return webrtc.NewAPI(webrtc.WithSettingEngine(se), webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir)), r, nil
}
