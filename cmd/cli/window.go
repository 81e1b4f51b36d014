package cli

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/driver/desktop"
	"github.com/go-gl/glfw/v3.3/glfw"

	"github.com/parley-lab/parley/signaling/participant"
	"github.com/parley-lab/parley/ui"
)

// newWindow makes a Fyne window whose OpenGL framebuffer has colour only.
//
// Fyne draws in painter's order with the depth test off and clips with the
// scissor, so it never reads a depth or stencil buffer, yet it clears the
// depth buffer before every frame, and GLFW asks for 24 bits of depth and 8
// of stencil by default. On software OpenGL (Mesa's llvmpipe: a lab PC
// without a GPU driver, a virtual display) clearing the depth of a
// depth-stencil buffer is a masked write of every pixel, about a sixteenth
// of a kiosk's CPU in a call. Without the buffers the clear costs nothing. GLFW
// keeps window hints until they are changed, and Fyne sets only its own, so
// hints set here hold when Fyne creates the window on its first Show. Call
// on the main goroutine.
func newWindow(a fyne.App, title string) fyne.Window {
	w := a.NewWindow(title) // initialises GLFW under the desktop driver
	if _, ok := a.Driver().(desktop.Driver); ok {
		glfw.WindowHint(glfw.DepthBits, 0)
		glfw.WindowHint(glfw.StencilBits, 0)
	}
	return w
}

// windowedKiosk is the kiosk for eng in a demo-sized window, not full
// screen, titled title, that leaves quitting to its caller (the demo and
// the on-screen benchmark). Call on the main goroutine.
func windowedKiosk(a fyne.App, eng participant.Engine, title string, deviceCheck bool) (fyne.Window, *ui.Kiosk) {
	cfg := ui.DefaultConfig()
	cfg.Kiosk, cfg.DeviceCheck, cfg.LabName = false, deviceCheck, title
	cfg.OnQuit = func(int) {}
	win := newWindow(a, title)
	win.Resize(fyne.NewSize(DemoWindowWidth, DemoWindowHeight))
	return win, ui.New(a, win, eng, cfg)
}
