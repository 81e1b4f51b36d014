package ui

import (
	"image/color"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/theme"
)

// Type sizes of the kiosk theme: large and readable from a lab chair.
const (
	themeTextSize       = 20
	themeHeadingSize    = 36
	themeSubHeadingSize = 26
	themeCaptionSize    = 16
	// countdownSize and countdownFinalSize are the countdown's normal and
	// last-30-seconds type sizes.
	countdownSize      = 34
	countdownFinalSize = 52
)

// Fixed colours of the kiosk theme (the lab's primary and accent come from Config).
var (
	colBackground  = color.NRGBA{R: 0xf7, G: 0xf7, B: 0xf5, A: 0xff}
	colForeground  = color.NRGBA{R: 0x1a, G: 0x1a, B: 0x1a, A: 0xff}
	colVideoBG     = color.NRGBA{R: 0x20, G: 0x22, B: 0x25, A: 0xff}
	colOverlayText = color.NRGBA{R: 0xff, G: 0xff, B: 0xff, A: 0xff}
	colNameplate   = color.NRGBA{R: 0x00, G: 0x00, B: 0x00, A: 0xa0}
	colPartnerMsg  = color.NRGBA{R: 0xe6, G: 0xe8, B: 0xeb, A: 0xff}
	colDanger      = color.NRGBA{R: 0xc6, G: 0x28, B: 0x28, A: 0xff}
	colMuted       = color.NRGBA{R: 0x5f, G: 0x63, B: 0x68, A: 0xff}
	colMeterBG     = color.NRGBA{R: 0xd0, G: 0xd3, B: 0xd6, A: 0xff}
)

// Theme colour names of the kiosk's own (used by RichText segments).
const (
	colorNameMuted fyne.ThemeColorName = "parley-muted" // secondary text
	colorNameOwn   fyne.ThemeColorName = "parley-own"   // own messages' header: the accent, darkened
)

// kioskTheme is a light, high-contrast theme with large type in the lab's
// colours. It ignores the system's dark/light variant so every seat looks
// the same.
type kioskTheme struct {
	primary, accent color.NRGBA
}

var _ fyne.Theme = (*kioskTheme)(nil)

func withAlpha(c color.NRGBA, a uint8) color.NRGBA { c.A = a; return c }

func (t *kioskTheme) Color(n fyne.ThemeColorName, _ fyne.ThemeVariant) color.Color {
	switch n {
	case theme.ColorNameBackground:
		return colBackground
	case theme.ColorNameForeground:
		return colForeground
	case theme.ColorNamePrimary, theme.ColorNameHyperlink:
		return t.primary
	case theme.ColorNameFocus:
		return withAlpha(t.primary, 0x7f)
	case theme.ColorNameSelection:
		return withAlpha(t.primary, 0x40)
	case theme.ColorNameDisabled:
		return colMuted // readable greyed-out text (Fyne's default is very faint)
	case theme.ColorNameError:
		return colDanger
	case colorNameMuted:
		return colMuted
	case colorNameOwn:
		return darken(t.accent)
	case theme.ColorNameInputBackground:
		return color.White
	case theme.ColorNameInputBorder:
		return color.NRGBA{R: 0x9a, G: 0x9e, B: 0xa3, A: 0xff}
	}
	return theme.DefaultTheme().Color(n, theme.VariantLight)
}

func (t *kioskTheme) Font(s fyne.TextStyle) fyne.Resource { return theme.DefaultTheme().Font(s) }

func (t *kioskTheme) Icon(n fyne.ThemeIconName) fyne.Resource { return theme.DefaultTheme().Icon(n) }

func (t *kioskTheme) Size(n fyne.ThemeSizeName) float32 {
	switch n {
	case theme.SizeNameText:
		return themeTextSize
	case theme.SizeNameHeadingText:
		return themeHeadingSize
	case theme.SizeNameSubHeadingText:
		return themeSubHeadingSize
	case theme.SizeNameCaptionText:
		return themeCaptionSize
	case theme.SizeNameInputBorder:
		return 2
	case theme.SizeNameInnerPadding:
		return 12
	}
	return theme.DefaultTheme().Size(n)
}
