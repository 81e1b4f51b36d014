// Package vp8 is a small VP8 encoder and decoder over libvpx, set for a
// live conversation. The encoder: one pass, constant bitrate, no lag
// frames, real-time deadline and a fast speed setting; pion/mediadevices
// v0.10.0 does not expose libvpx's speed (VP8E_SET_CPUUSED), and at its
// default the encoder took about 10 ms a frame at 640x480 on a lab-class
// CPU core. The decoder hands out libvpx's own frame buffer; mediadevices'
// decoder allocates and copies a new image for every frame.
package vp8

/*
#cgo pkg-config: vpx
#include <stdlib.h>
#include <string.h>
#include <vpx/vpx_encoder.h>
#include <vpx/vpx_decoder.h>
#include <vpx/vp8cx.h>
#include <vpx/vp8dx.h>

static vpx_codec_ctx_t *parley_vp8_new(vpx_codec_enc_cfg_t *cfg, int speed, int *err) {
	vpx_codec_ctx_t *ctx = calloc(1, sizeof(vpx_codec_ctx_t));
	*err = vpx_codec_enc_init(ctx, vpx_codec_vp8_cx(), cfg, 0);
	if (*err != VPX_CODEC_OK) { free(ctx); return NULL; }
	vpx_codec_control(ctx, VP8E_SET_CPUUSED, speed);
	vpx_codec_control(ctx, VP8E_SET_NOISE_SENSITIVITY, 0);
	vpx_codec_control(ctx, VP8E_SET_STATIC_THRESHOLD, 1);
	vpx_codec_control(ctx, VP8E_SET_MAX_INTRA_BITRATE_PCT, 300);
	return ctx;
}

static int parley_vp8_default_cfg(vpx_codec_enc_cfg_t *cfg) {
	return vpx_codec_enc_config_default(vpx_codec_vp8_cx(), cfg, 0);
}

// Encodes one I420 frame whose planes live in Go memory (used only during
// the call) and copies the compressed frame into out. Returns its size, -1
// if out is too small, or -2 on an encoder error; *key is set for keyframes.
static int parley_vp8_encode(vpx_codec_ctx_t *ctx, int w, int h,
		unsigned char *y, unsigned char *u, unsigned char *v, int ystride, int cstride,
		long long pts, unsigned long dur, int force_key, unsigned char *out, int out_cap, int *key) {
	vpx_image_t img;
	memset(&img, 0, sizeof(img));
	img.fmt = VPX_IMG_FMT_I420;
	img.w = img.d_w = w;
	img.h = img.d_h = h;
	img.x_chroma_shift = img.y_chroma_shift = 1;
	img.bps = 12;
	img.planes[0] = y; img.planes[1] = u; img.planes[2] = v;
	img.stride[0] = ystride; img.stride[1] = cstride; img.stride[2] = cstride;
	vpx_enc_frame_flags_t flags = force_key ? VPX_EFLAG_FORCE_KF : 0;
	if (vpx_codec_encode(ctx, &img, pts, dur, flags, VPX_DL_REALTIME) != VPX_CODEC_OK) return -2;
	int n = 0;
	*key = 0;
	vpx_codec_iter_t iter = NULL;
	const vpx_codec_cx_pkt_t *pkt;
	while ((pkt = vpx_codec_get_cx_data(ctx, &iter)) != NULL) {
		if (pkt->kind != VPX_CODEC_CX_FRAME_PKT) continue;
		if (n + (int)pkt->data.frame.sz > out_cap) return -1;
		memcpy(out + n, pkt->data.frame.buf, pkt->data.frame.sz);
		n += pkt->data.frame.sz;
		if (pkt->data.frame.flags & VPX_FRAME_IS_KEY) *key = 1;
	}
	return n;
}

static int parley_vp8_set_bitrate(vpx_codec_ctx_t *ctx, vpx_codec_enc_cfg_t *cfg, unsigned int kbps) {
	cfg->rc_target_bitrate = kbps;
	return vpx_codec_enc_config_set(ctx, cfg);
}

static void parley_vp8_free(vpx_codec_ctx_t *ctx) {
	vpx_codec_destroy(ctx);
	free(ctx);
}

static vpx_codec_ctx_t *parley_vp8_dec_new(int *err) {
	vpx_codec_ctx_t *ctx = calloc(1, sizeof(vpx_codec_ctx_t));
	vpx_codec_dec_cfg_t cfg;
	memset(&cfg, 0, sizeof(cfg));
	cfg.threads = 1;
	*err = vpx_codec_dec_init(ctx, vpx_codec_vp8_dx(), &cfg, 0);
	if (*err != VPX_CODEC_OK) { free(ctx); return NULL; }
	return ctx;
}

// Decodes one frame; returns the frame to show (NULL if none) and sets
// *err to libvpx's status.
static vpx_image_t *parley_vp8_decode(vpx_codec_ctx_t *ctx, const unsigned char *data, unsigned int n, int *err) {
	*err = vpx_codec_decode(ctx, data, n, NULL, 0);
	if (*err != VPX_CODEC_OK) return NULL;
	vpx_codec_iter_t iter = NULL;
	return vpx_codec_get_frame(ctx, &iter);
}
*/
import "C"

import (
	"errors"
	"fmt"
	"image"
	"sync"
	"time"
	"unsafe"
)

// Settings of an encoder.
type Settings struct {
	Width, Height int
	FPS           int
	Bitrate       int // bit/s
	// Speed is libvpx's cpu-used, -16..16: larger is faster and coarser;
	// negative values are real-time speeds. DefaultSpeed suits 640x480@30
	// on one core.
	Speed            int
	Threads          int
	KeyframeInterval int // frames
}

// Defaults.
const (
	DefaultSpeed = -8
	// dropFrameThreshold is the rate buffer's fill (percent) under which
	// libvpx skips a frame; WebRTC's VP8 setting.
	dropFrameThreshold = 30
	// maxFrameBytes bounds one compressed frame.
	maxFrameBytes = 2 << 20
)

// Errors.
var (
	ErrSettings = errors.New("vp8: bad settings")
	ErrEncode   = errors.New("vp8: encode failed")
	ErrDecode   = errors.New("vp8: not a decodable frame")
	ErrSize     = errors.New("vp8: frame size differs from the encoder's")
	ErrClosed   = errors.New("vp8: encoder closed")
)

// Encoder encodes I420 frames. Safe for one goroutine at a time; Close may
// be called from another.
type Encoder struct {
	mu    sync.Mutex
	ctx   *C.vpx_codec_ctx_t
	cfg   C.vpx_codec_enc_cfg_t // as set; SetBitrate changes its target
	s     Settings
	start time.Time
	last  time.Duration
	out   []byte
}

// New makes an encoder.
func New(s Settings) (*Encoder, error) {
	if s.Width <= 0 || s.Height <= 0 || s.Width%2 != 0 || s.Height%2 != 0 || s.FPS <= 0 || s.Bitrate <= 0 {
		return nil, fmt.Errorf("%w: %+v", ErrSettings, s)
	}
	if s.Speed == 0 {
		s.Speed = DefaultSpeed
	}
	if s.Threads == 0 {
		s.Threads = 1
	}
	if s.KeyframeInterval == 0 {
		s.KeyframeInterval = 10 * s.FPS
	}
	var cfg C.vpx_codec_enc_cfg_t
	if C.parley_vp8_default_cfg(&cfg) != 0 {
		return nil, fmt.Errorf("%w: no default configuration", ErrSettings)
	}
	cfg.g_w, cfg.g_h = C.uint(s.Width), C.uint(s.Height)
	cfg.g_timebase.num, cfg.g_timebase.den = 1, 1000 // milliseconds
	cfg.g_threads = C.uint(s.Threads)
	cfg.g_lag_in_frames = 0
	cfg.g_pass = C.VPX_RC_ONE_PASS
	cfg.g_error_resilient = C.VPX_ERROR_RESILIENT_DEFAULT
	cfg.rc_end_usage = C.VPX_CBR
	cfg.rc_target_bitrate = C.uint(s.Bitrate / 1000)
	cfg.rc_min_quantizer, cfg.rc_max_quantizer = 4, 56
	cfg.rc_undershoot_pct, cfg.rc_overshoot_pct = 100, 15
	cfg.rc_buf_sz, cfg.rc_buf_initial_sz, cfg.rc_buf_optimal_sz = 1000, 500, 600
	// Below the rate the picture needs at the coarsest quantizer, libvpx
	// skips a frame rather than overshoot (frame rate steps down on a
	// congested link; at a LAN's rate nothing is skipped).
	cfg.rc_dropframe_thresh = dropFrameThreshold
	cfg.rc_resize_allowed = 0
	cfg.kf_mode = C.VPX_KF_AUTO
	cfg.kf_max_dist = C.uint(s.KeyframeInterval)
	var cerr C.int
	ctx := C.parley_vp8_new(&cfg, C.int(s.Speed), &cerr)
	if ctx == nil {
		return nil, fmt.Errorf("%w: vpx_codec_enc_init returned %d", ErrSettings, int(cerr))
	}
	return &Encoder{ctx: ctx, cfg: cfg, s: s, start: time.Now(), out: make([]byte, 256<<10)}, nil
}

// MinBitrate is the lowest target SetBitrate accepts (libvpx counts in kb/s).
const MinBitrate = 10_000

// SetBitrate changes the target bitrate (bit/s) from the next frame on,
// without a keyframe: libvpx's rate control takes a new target between
// frames.
func (e *Encoder) SetBitrate(bps int) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ctx == nil {
		return ErrClosed
	}
	if bps < MinBitrate {
		return fmt.Errorf("%w: bitrate %d below %d", ErrSettings, bps, MinBitrate)
	}
	if bps == e.s.Bitrate {
		return nil
	}
	if rc := C.parley_vp8_set_bitrate(e.ctx, &e.cfg, C.uint(bps/1000)); rc != 0 {
		return fmt.Errorf("%w: vpx_codec_enc_config_set returned %d", ErrSettings, int(rc))
	}
	e.s.Bitrate = bps
	return nil
}

// Bitrate is the current target (bit/s).
func (e *Encoder) Bitrate() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.s.Bitrate
}

// Encode compresses one frame captured at t. The returned slice is valid
// until the next call.
func (e *Encoder) Encode(img *image.YCbCr, t time.Time, forceKey bool) (frame []byte, key bool, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ctx == nil {
		return nil, false, ErrClosed
	}
	if img.Rect.Dx() != e.s.Width || img.Rect.Dy() != e.s.Height || img.SubsampleRatio != image.YCbCrSubsampleRatio420 {
		return nil, false, fmt.Errorf("%w: got %v %v, want %dx%d 4:2:0", ErrSize, img.Rect, img.SubsampleRatio, e.s.Width, e.s.Height)
	}
	pts := t.Sub(e.start)
	if pts <= e.last {
		pts = e.last + time.Millisecond // strictly increasing
	}
	dur := time.Second / time.Duration(e.s.FPS)
	e.last = pts
	force := C.int(0)
	if forceKey {
		force = 1
	}
	var k C.int
	n := C.parley_vp8_encode(e.ctx, C.int(e.s.Width), C.int(e.s.Height),
		(*C.uchar)(unsafe.Pointer(&img.Y[0])), (*C.uchar)(unsafe.Pointer(&img.Cb[0])), (*C.uchar)(unsafe.Pointer(&img.Cr[0])),
		C.int(img.YStride), C.int(img.CStride), C.longlong(pts.Milliseconds()), C.ulong(dur.Milliseconds()), force,
		(*C.uchar)(unsafe.Pointer(&e.out[0])), C.int(len(e.out)), &k)
	switch {
	case n >= 0:
		return e.out[:n], k != 0, nil
	case n == -1:
		// The frame is consumed and lost; the next one fits. The caller
		// asks for a keyframe so the receiver recovers.
		if len(e.out) < maxFrameBytes {
			e.out = make([]byte, 2*len(e.out))
		}
		return nil, false, fmt.Errorf("%w: compressed frame larger than %d bytes", ErrEncode, len(e.out)/2)
	}
	return nil, false, ErrEncode
}

// Close frees the encoder. Idempotent.
func (e *Encoder) Close() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ctx != nil {
		C.parley_vp8_free(e.ctx)
		e.ctx = nil
	}
}

// Decoder decodes VP8 frames. Safe for one goroutine at a time; Close may
// be called from another.
type Decoder struct {
	mu  sync.Mutex
	ctx *C.vpx_codec_ctx_t
}

// NewDecoder makes a decoder.
func NewDecoder() (*Decoder, error) {
	var cerr C.int
	ctx := C.parley_vp8_dec_new(&cerr)
	if ctx == nil {
		return nil, fmt.Errorf("%w: vpx_codec_dec_init returned %d", ErrSettings, int(cerr))
	}
	return &Decoder{ctx: ctx}, nil
}

// Decode decodes one whole compressed frame. The image is libvpx's frame
// buffer, not a copy: it is valid until the next Decode or Close. It is nil
// (with no error) when the frame is not one to show. A frame libvpx cannot
// decode is ErrDecode; the decoder then needs a keyframe.
func (d *Decoder) Decode(frame []byte) (*image.YCbCr, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ctx == nil {
		return nil, ErrClosed
	}
	if len(frame) == 0 {
		return nil, fmt.Errorf("%w: empty", ErrDecode)
	}
	var cerr C.int
	img := C.parley_vp8_decode(d.ctx, (*C.uchar)(unsafe.Pointer(&frame[0])), C.uint(len(frame)), &cerr)
	if cerr != C.VPX_CODEC_OK {
		return nil, fmt.Errorf("%w: libvpx status %d", ErrDecode, int(cerr))
	}
	if img == nil {
		return nil, nil
	}
	if img.fmt != C.VPX_IMG_FMT_I420 || img.stride[1] != img.stride[2] {
		return nil, fmt.Errorf("%w: image format %d", ErrDecode, int(img.fmt))
	}
	w, h := int(img.d_w), int(img.d_h)
	ys, cs := int(img.stride[0]), int(img.stride[1])
	cw, ch := (w+1)/2, (h+1)/2
	if w <= 0 || h <= 0 || ys < w || cs < cw {
		return nil, fmt.Errorf("%w: %dx%d, strides %d and %d", ErrDecode, w, h, ys, cs)
	}
	return &image.YCbCr{
		Y:              unsafe.Slice((*byte)(unsafe.Pointer(img.planes[0])), ys*(h-1)+w),
		Cb:             unsafe.Slice((*byte)(unsafe.Pointer(img.planes[1])), cs*(ch-1)+cw),
		Cr:             unsafe.Slice((*byte)(unsafe.Pointer(img.planes[2])), cs*(ch-1)+cw),
		YStride:        ys,
		CStride:        cs,
		SubsampleRatio: image.YCbCrSubsampleRatio420,
		Rect:           image.Rect(0, 0, w, h),
	}, nil
}

// Close frees the decoder and the last image. Idempotent.
func (d *Decoder) Close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ctx != nil {
		C.parley_vp8_free(d.ctx)
		d.ctx = nil
	}
}
