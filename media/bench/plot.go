package bench

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"math"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// Row is one distribution on the plot.
type Row struct {
	Label string
	D     Dist
	// Browser marks Chromium's rows (drawn in another colour).
	Browser bool
}

// Plot layout.
const (
	plotW, rowH    = 900, 34
	labelW, margin = 330, 20
)

var (
	colParley  = color.RGBA{0x1f, 0x5f, 0xa8, 0xff}
	colBrowser = color.RGBA{0xc2, 0x54, 0x00, 0xff}
	colAxis    = color.RGBA{0x60, 0x60, 0x60, 0xff}
)

// WritePlot draws each distribution as a bar from 0 to its p95 (light), its
// median (a thick mark) and its maximum (a thin mark), on one millisecond
// scale per group of rows with the same unit, and writes a PNG.
func WritePlot(w io.Writer, title string, rows []Row) error {
	h := margin*3 + rowH*len(rows) + 30
	img := image.NewRGBA(image.Rect(0, 0, plotW, h))
	draw.Draw(img, img.Rect, image.White, image.Point{}, draw.Src)
	text(img, margin, margin+4, title, color.Black)
	maxV := 0.0
	for _, r := range rows {
		maxV = math.Max(maxV, r.D.Max)
	}
	if maxV <= 0 {
		maxV = 1
	}
	scaleMax := niceCeil(maxV)
	x0, x1 := labelW, plotW-margin
	px := func(v float64) int { return x0 + int(v/scaleMax*float64(x1-x0)) }
	top := margin * 2
	for i, r := range rows {
		y := top + i*rowH
		c := colParley
		if r.Browser {
			c = colBrowser
		}
		text(img, margin, y+rowH/2+4, r.Label, color.Black)
		light := color.NRGBA{c.R, c.G, c.B, 0x50}
		fill(img, image.Rect(x0, y+8, px(r.D.P95), y+rowH-8), light)
		fill(img, image.Rect(px(r.D.P50)-2, y+4, px(r.D.P50)+2, y+rowH-4), c)
		fill(img, image.Rect(px(r.D.Max), y+8, px(r.D.Max)+1, y+rowH-8), c)
		stats := fmt.Sprintf("p50 %.1f  p95 %.1f  max %.1f ms", r.D.P50, r.D.P95, r.D.Max)
		// Beside the maximum, or right-aligned where that would overflow.
		tx := min(px(r.D.Max)+6, plotW-margin-7*len(stats))
		text(img, tx, y+rowH/2-6, stats, colAxis)
	}
	axisY := top + rowH*len(rows) + 4
	fill(img, image.Rect(x0, axisY, x1, axisY+1), colAxis)
	for i := 0; i <= 4; i++ {
		v := scaleMax * float64(i) / 4
		fill(img, image.Rect(px(v), axisY, px(v)+1, axisY+5), colAxis)
		text(img, px(v)-8, axisY+18, fmt.Sprintf("%g ms", v), colAxis)
	}
	text(img, margin, h-8, "bar: 0 to p95; thick mark: median; thin mark: maximum. blue: Parley, orange: Chromium", colAxis)
	return png.Encode(w, img)
}

func niceCeil(v float64) float64 {
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

func fill(img *image.RGBA, r image.Rectangle, c color.Color) {
	draw.Draw(img, r.Intersect(img.Rect), &image.Uniform{c}, image.Point{}, draw.Over)
}

func text(img *image.RGBA, x, y int, s string, c color.Color) {
	d := font.Drawer{Dst: img, Src: image.NewUniform(c), Face: basicfont.Face7x13, Dot: fixed.P(x, y)}
	d.DrawString(s)
}
