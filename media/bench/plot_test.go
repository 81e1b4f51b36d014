package bench

import (
	"bytes"
	"image/png"
	"testing"
)

func TestWritePlot(t *testing.T) {
	var buf bytes.Buffer
	rows := []Row{
		{Label: "video latency, Parley", D: Dist{N: 10, P50: 6, P95: 9, Max: 19}},
		{Label: "video latency, Chromium", D: Dist{N: 10, P50: 34, P95: 51, Max: 60}, Browser: true},
	}
	if err := WritePlot(&buf, "test", rows); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	b := img.Bounds()
	if b.Dx() != plotW || b.Dy() < 2*rowH {
		t.Fatalf("size %v", b)
	}
	// Both rows share one scale (0 to 100 ms here): each median mark is
	// where its value falls, in its row's colour.
	at := func(v float64, row int) (uint32, uint32, uint32) {
		x := labelW + int(v/100*float64(plotW-margin-labelW))
		r, g, bl, _ := img.At(x, margin*2+row*rowH+rowH/2).RGBA()
		return r >> 8, g >> 8, bl >> 8
	}
	if r, g, bl := at(6, 0); r != uint32(colParley.R) || g != uint32(colParley.G) || bl != uint32(colParley.B) {
		t.Fatalf("Parley's median mark not at 6 ms: %d %d %d", r, g, bl)
	}
	if r, g, bl := at(34, 1); r != uint32(colBrowser.R) || g != uint32(colBrowser.G) || bl != uint32(colBrowser.B) {
		t.Fatalf("Chromium's median mark not at 34 ms: %d %d %d", r, g, bl)
	}
	if niceCeil(61) != 100 || niceCeil(19) != 20 || niceCeil(0.7) != 1 {
		t.Fatalf("niceCeil: %v %v %v", niceCeil(61), niceCeil(19), niceCeil(0.7))
	}
}
