package frames

// #cgo LDFLAGS: -lyuv
// #include <libyuv/convert_argb.h>
// #include <libyuv/planar_functions.h>
// #include <libyuv/scale.h>
import "C"

import (
	"image"
	"sync"
	"unsafe"
)

// yuvTolerance bounds how far a channel converted by libyuv may be from
// image/color's: the two round their fixed-point products differently.
const yuvTolerance = 1

// scratch holds the buffers of a conversion in steps (shrunk planes, the
// picture before mirroring), kept for reuse so that a 30 fps view
// allocates nothing.
var scratch sync.Pool // *[]byte

func getScratch(n int) *[]byte {
	b, _ := scratch.Get().(*[]byte)
	if b == nil || cap(*b) < n {
		s := make([]byte, n)
		b = &s
	}
	*b = (*b)[:n]
	return b
}

// convert420 converts a 4:2:0 frame into dst with libyuv, shrunk by k (1,
// 2 or 4) and mirrored if asked, and reports whether libyuv took it. The
// matrix is full-range BT.601 (JFIF), image/color's; libyuv's ABGR is R,
// G, B, A in memory, image.RGBA's layout.
func convert420(dst *image.RGBA, src *image.YCbCr, k int, mirror bool) bool {
	if k != 1 && k != 2 && k != 4 {
		return false
	}
	r := src.Rect
	w, h := r.Dx()/k, r.Dy()/k
	y, cb, cr := src.Y[src.YOffset(r.Min.X, r.Min.Y):], src.Cb[src.COffset(r.Min.X, r.Min.Y):], src.Cr[src.COffset(r.Min.X, r.Min.Y):]
	out := dst.Pix[dst.PixOffset(dst.Rect.Min.X, dst.Rect.Min.Y):]
	// libyuv trusts the sizes it is given: check them here, where a wrong
	// one is a refusal (the Go path then panics at the bad index) rather
	// than a write past a buffer.
	cw, ch := (w*k+1)/2, (h*k+1)/2
	if !fits(y, src.YStride, w*k, h*k) || !fits(cb, src.CStride, cw, ch) || !fits(cr, src.CStride, cw, ch) ||
		!fits(out, dst.Stride, 4*w, h) || dst.Rect.Dx() < w || dst.Rect.Dy() < h {
		return false
	}
	to, stride := out, dst.Stride
	if mirror { // converted aside, then mirrored into dst
		b := getScratch(4 * w * h)
		defer scratch.Put(b)
		to, stride = *b, 4*w
	}
	if !toABGR(to, stride, y, cb, cr, src.YStride, src.CStride, w, h, k) {
		return false
	}
	if mirror {
		C.ARGBMirror(ptr(to), C.int(stride), ptr(out), C.int(dst.Stride), C.int(w), C.int(h))
	}
	return true
}

// toABGR converts the w*k x h*k 4:2:0 picture in y, cb and cr to w x h
// pixels at to.
func toABGR(to []byte, stride int, y, cb, cr []byte, ys, cs, w, h, k int) bool {
	if k == 1 {
		return C.J420ToABGR(ptr(y), C.int(ys), ptr(cb), C.int(cs), ptr(cr), C.int(cs),
			ptr(to), C.int(stride), C.int(w), C.int(h)) == 0
	}
	// Shrunk, each output pixel is the mean of its k x k block of Y and of
	// the chroma samples under that block, as in convertBlocks (the source
	// is cropped to a multiple of k): the planes are box-filtered to the
	// output size, 4:4:4, and converted as such. At k 2 the chroma planes
	// are that size already.
	b := getScratch(3 * w * h)
	defer scratch.Put(b)
	p := *b
	sy := p[:w*h]
	C.ScalePlane(ptr(y), C.int(ys), C.int(w*k), C.int(h*k), ptr(sy), C.int(w), C.int(w), C.int(h), C.kFilterBox)
	if k > 2 {
		scb, scr := p[w*h:2*w*h], p[2*w*h:]
		C.ScalePlane(ptr(cb), C.int(cs), C.int(w*k/2), C.int(h*k/2), ptr(scb), C.int(w), C.int(w), C.int(h), C.kFilterBox)
		C.ScalePlane(ptr(cr), C.int(cs), C.int(w*k/2), C.int(h*k/2), ptr(scr), C.int(w), C.int(w), C.int(h), C.kFilterBox)
		cb, cr, cs = scb, scr, w
	}
	return C.J444ToABGR(ptr(sy), C.int(w), ptr(cb), C.int(cs), ptr(cr), C.int(cs),
		ptr(to), C.int(stride), C.int(w), C.int(h)) == 0
}

// fits reports whether rows of n bytes, stride apart, fit in p.
func fits(p []byte, stride, n, rows int) bool {
	return n <= stride && len(p) >= (rows-1)*stride+n
}

// ptr is the C view of a slice libyuv reads or writes during the call.
func ptr(b []byte) *C.uint8_t { return (*C.uint8_t)(unsafe.Pointer(unsafe.SliceData(b))) }
