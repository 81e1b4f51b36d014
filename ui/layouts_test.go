package ui

import (
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"
)

// A column needs only as much width as its widest object: in a window
// narrower than the column its text wraps instead of being cut off at the
// right (the device check in a 960-pixel demo window was).
func TestColumnFitsANarrowWindow(t *testing.T) {
	test.NewTempApp(t)
	text := widget.NewLabel("No speakers or headphones were found. Please tell the experimenter, who will come to you.")
	text.Wrapping = fyne.TextWrapWord
	box := canvas.NewRectangle(nil)
	box.SetMinSize(fyne.NewSize(480, 360))
	col := container.New(&columnLayout{width: 1000}, container.NewHBox(box), text)
	if w := col.MinSize().Width; w != 480 {
		t.Fatalf("the column needs %v wide, want its widest object's 480", w)
	}
	col.Resize(fyne.NewSize(700, 800))
	if w := text.Size().Width; w != 700 {
		t.Fatalf("in a 700-wide window the text is laid out %v wide", w)
	}
	wide := container.New(&columnLayout{width: 400}, container.NewHBox(box))
	if w := wide.MinSize().Width; w != 400 {
		t.Fatalf("a column of 400 asks for %v", w)
	}
}
