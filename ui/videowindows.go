package ui

// videowindows.go: the videos in X11 windows of their own over the
// kiosk's window (Config.VideoWindows), attached once the window exists,
// placed over their areas, and detached at the end.

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/driver"

	"github.com/parley-lab/parley/ui/internal/xvideo"
)

// attachVideoWindows puts the video views on X11 windows over the kiosk's
// window (Config.VideoWindows; see Surface) once that window exists. Where
// there is no X11 window (another platform, tests) or X refuses, the
// videos stay on the canvas. Call from the UI goroutine.
func (k *Kiosk) attachVideoWindows() {
	if !k.cfg.VideoWindows || k.xvTried {
		return
	}
	nw, ok := k.win.(driver.NativeWindow)
	if !ok {
		k.xvTried = true
		return
	}
	var parent uintptr
	nw.RunNative(func(ctx any) {
		if x, ok := ctx.(driver.X11WindowContext); ok {
			parent = x.WindowHandle
		}
	})
	if parent == 0 {
		return // not on screen yet: the next screen tries again
	}
	k.xvTried = true
	d, err := xvideo.Open()
	if err != nil {
		fyne.LogError("video windows: the videos stay in the window", err)
		return
	}
	k.xv = d
	for _, v := range k.videos() {
		w, err := d.NewWindow(parent, v.mirror) // self-views over the partner
		if err != nil {
			fyne.LogError("video windows: the videos stay in the window", err)
			k.detachVideoWindows()
			return
		}
		k.xvWins = append(k.xvWins, w)
	}
	for i, v := range k.videos() {
		v.UseSurface(k.xvWins[i])
	}
}

// detachVideoWindows puts the videos back on the canvas and closes their
// windows.
func (k *Kiosk) detachVideoWindows() {
	if k.xv == nil {
		return
	}
	for _, v := range k.videos() {
		v.UseSurface(nil)
	}
	for _, w := range k.xvWins {
		w.Close()
	}
	k.xv.Close()
	k.xv, k.xvWins = nil, nil
}

// placeVideos puts the video windows where their views are now, or hides
// them (a dialog opened).
func (k *Kiosk) placeVideos() {
	for _, v := range k.videos() {
		v.place()
	}
}

func (k *Kiosk) videos() []*VideoView {
	return []*VideoView{k.device.self, k.call.remote, k.call.self}
}
