package ui

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/theme"
)

// columnLayout centres its objects stacked vertically in a column of at most
// width, each at its minimum height, the whole block centred vertically.
// Wrapped labels get a known width this way (a Center container would give
// them their tiny minimum width).
type columnLayout struct{ width float32 }

func (l *columnLayout) width4(size fyne.Size) float32 {
	if size.Width < l.width {
		return size.Width
	}
	return l.width
}

func (l *columnLayout) Layout(objs []fyne.CanvasObject, size fyne.Size) {
	w := l.width4(size)
	pad := theme.Padding()
	// First give every object the column width so wrapped text knows its
	// height, then measure and place.
	var total float32
	n := 0
	for _, o := range objs {
		if !o.Visible() {
			continue
		}
		o.Resize(fyne.NewSize(w, o.MinSize().Height))
		total += o.MinSize().Height
		n++
	}
	if n > 1 {
		total += pad * float32(n-1)
	}
	y := (size.Height - total) / 2
	if y < 0 {
		y = 0
	}
	x := (size.Width - w) / 2
	for _, o := range objs {
		if !o.Visible() {
			continue
		}
		h := o.MinSize().Height
		o.Resize(fyne.NewSize(w, h))
		o.Move(fyne.NewPos(x, y))
		y += h + pad
	}
}

// MinSize is as wide as the widest object needs (at most the column's
// width), so that a window narrower than the column still shows it all,
// wrapped, instead of cutting its right side off.
func (l *columnLayout) MinSize(objs []fyne.CanvasObject) fyne.Size {
	var w, h float32
	n := 0
	for _, o := range objs {
		if !o.Visible() {
			continue
		}
		m := o.MinSize()
		w = max(w, m.Width)
		h += m.Height
		n++
	}
	if n > 1 {
		h += theme.Padding() * float32(n-1)
	}
	return fyne.NewSize(min(w, l.width), h)
}

// fracLayout splits the width between two objects: the first gets frac of it.
type fracLayout struct{ frac float32 }

func (l *fracLayout) Layout(objs []fyne.CanvasObject, size fyne.Size) {
	if len(objs) != 2 {
		return
	}
	pad := theme.Padding()
	w0 := (size.Width - pad) * l.frac
	objs[0].Move(fyne.NewPos(0, 0))
	objs[0].Resize(fyne.NewSize(w0, size.Height))
	objs[1].Move(fyne.NewPos(w0+pad, 0))
	objs[1].Resize(fyne.NewSize(size.Width-w0-pad, size.Height))
}

func (l *fracLayout) MinSize(objs []fyne.CanvasObject) fyne.Size {
	var w, h float32
	for _, o := range objs {
		m := o.MinSize()
		w += m.Width
		if m.Height > h {
			h = m.Height
		}
	}
	return fyne.NewSize(w+theme.Padding(), h)
}

// sideLayout puts its single object at frac of the width on the left, or on
// the right when right is set (chat bubbles).
type sideLayout struct {
	right bool
	frac  float32
}

func (l *sideLayout) Layout(objs []fyne.CanvasObject, size fyne.Size) {
	w := size.Width * l.frac
	for _, o := range objs {
		o.Resize(fyne.NewSize(w, size.Height))
		if l.right {
			o.Move(fyne.NewPos(size.Width-w, 0))
		} else {
			o.Move(fyne.NewPos(0, 0))
		}
	}
}

func (l *sideLayout) MinSize(objs []fyne.CanvasObject) fyne.Size {
	var s fyne.Size
	for _, o := range objs {
		s = s.Max(o.MinSize())
	}
	return s
}

// videoLayout lays out the call's video area: objs[0] (partner video) and
// objs[1] (connection overlay) fill it, objs[2] (partner's name plate) sits
// bottom-left at its minimum size, objs[3] (self-view) bottom-right at
// selfViewFrac of the width in 4:3.
type videoLayout struct{}

// selfViewFrac is the self-view's share of the video area's width.
const selfViewFrac = 0.24

func (videoLayout) Layout(objs []fyne.CanvasObject, size fyne.Size) {
	pad := 2 * theme.Padding()
	for i, o := range objs {
		switch i {
		case 0, 1:
			o.Move(fyne.NewPos(0, 0))
			o.Resize(size)
		case 2:
			m := o.MinSize()
			o.Resize(m)
			o.Move(fyne.NewPos(pad, size.Height-m.Height-pad))
			if v, ok := objs[0].(*VideoView); ok { // the plate shows through a video window
				v.SetHole(o.Position(), m)
			}
		case 3:
			w := size.Width * selfViewFrac
			h := w * 3 / 4
			o.Resize(fyne.NewSize(w, h))
			o.Move(fyne.NewPos(size.Width-w-pad, size.Height-h-pad))
		}
	}
}

func (videoLayout) MinSize([]fyne.CanvasObject) fyne.Size { return fyne.NewSize(320, 240) }

// meterLayout draws a level meter: objs[0] the track fills the area,
// objs[1] the bar covers level (0..1) of its width.
type meterLayout struct {
	level  float64
	height float32
}

func (l *meterLayout) Layout(objs []fyne.CanvasObject, size fyne.Size) {
	if len(objs) != 2 {
		return
	}
	objs[0].Move(fyne.NewPos(0, 0))
	objs[0].Resize(size)
	lv := l.level
	if lv < 0 {
		lv = 0
	} else if lv > 1 {
		lv = 1
	}
	objs[1].Move(fyne.NewPos(0, 0))
	objs[1].Resize(fyne.NewSize(size.Width*float32(lv), size.Height))
}

func (l *meterLayout) MinSize([]fyne.CanvasObject) fyne.Size { return fyne.NewSize(200, l.height) }
