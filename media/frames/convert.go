package frames

import (
	"encoding/binary"
	"image"
	"image/draw"
)

// MaxShrink is the largest factor by which a frame is converted smaller
// than it was decoded.
const MaxShrink = 4

// Shrink returns the factor (1, 2 or 4) by which a frame of size frame can
// be converted smaller and still give at least one pixel per screen pixel
// when scaled to fit (contain) a box of fit pixels. A zero fit means the
// box is not known yet: full size.
//
// A self-view a quarter of the window wide shows a 640x480 camera in about
// 200x150 pixels: converting it at 320x240 costs a quarter of the work and
// of the texture upload, and the picture on screen is the same.
func Shrink(frame, fit image.Point) int {
	if fit.X <= 0 || fit.Y <= 0 || frame.X <= 0 || frame.Y <= 0 {
		return 1
	}
	k := 1
	// Contained, the picture fills the box's width or its height; k is
	// fine while the smaller frame still covers that side.
	for k < MaxShrink && (frame.X >= 2*k*fit.X || frame.Y >= 2*k*fit.Y) {
		k *= 2
	}
	return k
}

// ShrunkSize is the size of a frame of size frame converted with factor k.
func ShrunkSize(frame image.Point, k int) image.Point {
	return image.Pt(frame.X/k, frame.Y/k)
}

// Convert writes src into dst as RGBA, shrunk by k (each output pixel is
// the mean of a k x k block) and mirrored left to right if mirror is set.
// dst must be ShrunkSize(src's size, k). The colours are those of
// image/draw (JFIF full range, as image/color.YCbCrToRGB): at k 1 the
// result is draw.Draw's, mirrored or not, give or take rounding.
//
// 4:2:0 frames (what the VP8 decoder and the test camera give) go through
// libyuv, Chromium's SIMD converter (yuv.go): about a tenth of the time of
// the Go code, with colours within yuvTolerance of image/color's. Other
// layouts convert in Go, pixel by pixel.
func Convert(dst *image.RGBA, src *image.YCbCr, k int, mirror bool) {
	r := src.Rect
	w, h := r.Dx()/k, r.Dy()/k
	if w <= 0 || h <= 0 {
		return
	}
	fast := src.SubsampleRatio == image.YCbCrSubsampleRatio420 && r.Min.X%2 == 0 && r.Min.Y%2 == 0
	switch {
	case fast && convert420(dst, src, k, mirror):
	case k == 1:
		draw.Draw(dst, image.Rect(dst.Rect.Min.X, dst.Rect.Min.Y, dst.Rect.Min.X+w, dst.Rect.Min.Y+h), src, r.Min, draw.Src)
		if mirror {
			mirrorRows(dst, w, h)
		}
	default:
		convertBlocks(dst, src, k, mirror, 0, h, w)
	}
}

// pixel is one RGBA pixel, packed little-endian, from Y and the chroma
// terms of rgbTerms. The clamping is image/color's.
func pixel(y, rc, gc, bc int32) uint32 {
	yy := y * 0x10101
	r, g, b := yy+rc, yy+gc, yy+bc
	if uint32(r|g|b)&0xff000000 != 0 { // a channel out of range: rare in video
		return clamped(r, g, b)
	}
	return pack(r, g, b)
}

// pack packs in-range 16.16 channels into an RGBA pixel.
func pack(r, g, b int32) uint32 {
	return uint32(r)>>16 | uint32(g)>>8&0xff00 | uint32(b)&0xff0000 | 0xff<<24
}

// clamped packs channels that may be out of range.
func clamped(r, g, b int32) uint32 {
	return clamp8(r) | clamp8(g)<<8 | clamp8(b)<<16 | 0xff<<24
}

// rgbTerms are the chroma parts of R, G and B for one Cb, Cr pair.
func rgbTerms(cb, cr uint8) (rc, gc, bc int32) {
	cb1, cr1 := int32(cb)-128, int32(cr)-128
	return 91881 * cr1, -22554*cb1 - 46802*cr1, 116130 * cb1
}

// clamp8 takes a 16.16 fixed-point channel to 0..255 without a branch
// (min and max compile to conditional moves).
func clamp8(v int32) uint32 {
	return uint32(min(max(v>>16, 0), 255))
}

// out returns where output pixel x of row y goes, and the step to the next.
func out(dst *image.RGBA, w, y int, mirror bool) (row []byte, at, step int) {
	row = dst.Pix[dst.PixOffset(dst.Rect.Min.X, dst.Rect.Min.Y+y):][:4*w]
	if mirror {
		return row, 4 * (w - 1), -4
	}
	return row, 0, 4
}

// convertBlocks converts output rows y0..y1 (of width w) pixel by pixel:
// any subsampling, any k. Each output pixel is the rounded mean of Y, Cb
// and Cr over the k x k source pixels it covers. libyuv's path gives the
// same within yuvTolerance.
func convertBlocks(dst *image.RGBA, src *image.YCbCr, k int, mirror bool, y0, y1, w int) {
	r := src.Rect
	n := int32(k * k)
	for y := y0; y < y1; y++ {
		d, at, step := out(dst, w, y, mirror)
		for x := 0; x < w; x++ {
			var sy, sb, sr int32
			for by := 0; by < k; by++ {
				for bx := 0; bx < k; bx++ {
					px, py := r.Min.X+x*k+bx, r.Min.Y+y*k+by
					sy += int32(src.Y[src.YOffset(px, py)])
					ci := src.COffset(px, py)
					sb += int32(src.Cb[ci])
					sr += int32(src.Cr[ci])
				}
			}
			rc, gc, bc := rgbTerms(uint8((sb+n/2)/n), uint8((sr+n/2)/n))
			binary.LittleEndian.PutUint32(d[at:], pixel((sy+n/2)/n, rc, gc, bc))
			at += step
		}
	}
}

// mirrorRows flips the first w x h pixels of dst left to right, in place.
func mirrorRows(dst *image.RGBA, w, h int) {
	for y := 0; y < h; y++ {
		row := dst.Pix[dst.PixOffset(dst.Rect.Min.X, dst.Rect.Min.Y+y):][:4*w]
		for i, j := 0, 4*(w-1); i < j; i, j = i+4, j-4 {
			a, b := binary.LittleEndian.Uint32(row[i:]), binary.LittleEndian.Uint32(row[j:])
			binary.LittleEndian.PutUint32(row[i:], b)
			binary.LittleEndian.PutUint32(row[j:], a)
		}
	}
}

// ConvertRGBA is Convert for an RGBA source (synthetic frames): each
// output pixel is the rounded mean of a k x k block, mirrored if asked.
func ConvertRGBA(dst, src *image.RGBA, k int, mirror bool) {
	w, h := src.Rect.Dx()/k, src.Rect.Dy()/k
	n := uint32(k * k)
	for y := 0; y < h; y++ {
		d, at, step := out(dst, w, y, mirror)
		if k == 1 && !mirror {
			copy(d, src.Pix[src.PixOffset(src.Rect.Min.X, src.Rect.Min.Y+y):][:4*w])
			continue
		}
		for x := 0; x < w; x++ {
			var sum [4]uint32
			for by := 0; by < k; by++ {
				s := src.Pix[src.PixOffset(src.Rect.Min.X+x*k, src.Rect.Min.Y+y*k+by):][:4*k]
				for i, v := range s {
					sum[i%4] += uint32(v)
				}
			}
			for c := range sum {
				d[at+c] = uint8((sum[c] + n/2) / n)
			}
			at += step
		}
	}
}
