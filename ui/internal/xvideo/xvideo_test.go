package xvideo

import (
	"bufio"
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// xserver starts a private Xvfb for the test and points $DISPLAY at it.
func xserver(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("Xvfb"); err != nil {
		t.Skip("no Xvfb (Debian package xvfb)")
	}
	if _, err := exec.LookPath("import"); err != nil {
		t.Skip("no import (Debian package imagemagick) to read the screen back")
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("Xvfb", "-displayfd", "3", "-screen", "0", "320x240x24", "-nolisten", "tcp")
	cmd.ExtraFiles = []*os.File{w}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(r).ReadString('\n')
		line <- strings.TrimSpace(s)
	}()
	select {
	case n := <-line:
		if n == "" {
			t.Fatal("Xvfb gave no display number")
		}
		t.Setenv("DISPLAY", ":"+n)
		return ":" + n
	case <-time.After(20 * time.Second):
		t.Fatal("Xvfb did not start")
	}
	return ""
}

// open starts a private X server and connects to it.
func open(t *testing.T) (*Display, string) {
	t.Helper()
	display := xserver(t)
	d, err := Open()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	return d, display
}

// screen reads the screen back as the user sees it.
func screen(t *testing.T, display string) image.Image {
	t.Helper()
	out, err := exec.Command("import", "-display", display, "-window", "root", "png:-").Output()
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	img, err := png.Decode(bytes.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func solid(w, h int, c color.RGBA) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(img, img.Rect, image.NewUniform(c), image.Point{}, draw.Src)
	return img
}

var (
	red   = color.RGBA{220, 20, 30, 255}
	green = color.RGBA{10, 200, 40, 255}
	blue  = color.RGBA{20, 30, 210, 255}
)

func near(a color.Color, b color.RGBA) bool {
	r, g, bl, _ := a.RGBA()
	d := func(x uint32, y uint8) bool { v := int(x>>8) - int(y); return v >= -3 && v <= 3 }
	return d(r, b.R) && d(g, b.G) && d(bl, b.B)
}

func expect(t *testing.T, img image.Image, p image.Point, want color.RGBA, what string) {
	t.Helper()
	if got := img.At(p.X, p.Y); !near(got, want) {
		t.Errorf("%s: pixel %v is %v, want %v", what, p, got, want)
	}
}

// A frame is scaled to the window, in its colours, where the window is;
// the hole shows the parent; a hidden window shows the parent, and when
// shown again, the last frame without being given it again.
func TestWindowShowsFramesOverItsParent(t *testing.T) {
	d, display := open(t)
	t.Logf("MIT-SHM: %v", d.SharedMemory())

	// The parent: a blue window over the screen, as the kiosk's window.
	parent, err := d.NewWindow(d.root(), false)
	if err != nil {
		t.Fatal(err)
	}
	if err := parent.Place(image.Rect(0, 0, 320, 240), image.Rectangle{}, true); err != nil {
		t.Fatal(err)
	}
	// Exposed parts of the kiosk's window are repainted by Fyne; here
	// repaint is that.
	repaint := func() {
		t.Helper()
		if err := parent.Show(solid(32, 24, blue)); err != nil {
			t.Fatal(err)
		}
	}
	repaint()

	v, err := d.NewWindow(uintptr(parent.win), false)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	// Left half red, right half green, at half the window's size.
	frame := solid(64, 48, red)
	draw.Draw(frame, image.Rect(32, 0, 64, 48), image.NewUniform(green), image.Point{}, draw.Src)
	at := image.Rect(40, 20, 168, 116) // 128x96
	hole := image.Rect(0, 76, 30, 96)  // bottom-left corner, as a name plate
	if err := v.Place(at, hole, true); err != nil {
		t.Fatal(err)
	}
	if err := v.Show(frame); err != nil {
		t.Fatal(err)
	}
	s := screen(t, display)
	expect(t, s, image.Pt(40+32, 20+30), red, "left half")
	expect(t, s, image.Pt(40+96, 20+30), green, "right half")
	expect(t, s, image.Pt(40+10, 20+86), blue, "inside the hole")
	expect(t, s, image.Pt(40+40, 20+86), red, "beside the hole")
	expect(t, s, image.Pt(30, 10), blue, "outside the window")
	expect(t, s, image.Pt(200, 30), blue, "right of the window")

	if err := v.Place(at, hole, false); err != nil {
		t.Fatal(err)
	}
	repaint()
	expect(t, screen(t, display), image.Pt(40+32, 20+30), blue, "hidden")
	moved := at.Add(image.Pt(100, 100))
	if err := v.Place(moved, image.Rectangle{}, true); err != nil {
		t.Fatal(err)
	}
	repaint()
	s = screen(t, display)
	expect(t, s, image.Pt(140+10, 120+86), red, "shown again at the new place, last frame, no hole")
	expect(t, s, image.Pt(40+32, 20+30), blue, "the old place")

	v.Close()
	v.Close()
	if err := v.Show(frame); !errors.Is(err, ErrClosed) {
		t.Errorf("Show after Close: %v", err)
	}
	repaint()
	expect(t, screen(t, display), image.Pt(140+32, 120+30), blue, "closed")
}

// A parent that does not exist is an error, not the end of the process.
func TestNoParentIsAnError(t *testing.T) {
	d, _ := open(t)
	if _, err := d.NewWindow(0x7fffff, false); !errors.Is(err, ErrX) {
		t.Errorf("NewWindow(no such window) = %v, want ErrX", err)
	}
}

// A window whose parent is destroyed (the kiosk's window at exit) says it
// is gone when given a frame, and closes without a fuss.
func TestParentDestroyedIsGone(t *testing.T) {
	d, _ := open(t)
	parent, err := d.NewWindow(d.root(), false)
	if err != nil {
		t.Fatal(err)
	}
	v, err := d.NewWindow(uintptr(parent.win), false)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Place(image.Rect(0, 0, 32, 24), image.Rectangle{}, true); err != nil {
		t.Fatal(err)
	}
	if err := v.Show(solid(32, 24, red)); err != nil {
		t.Fatal(err)
	}
	parent.Close() // destroys v's window with it
	if err := v.Show(solid(32, 24, green)); !errors.Is(err, ErrGone) {
		t.Errorf("Show with the parent destroyed: %v, want ErrGone", err)
	}
	v.Close()
}
