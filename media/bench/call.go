package bench

// call.go: the call part of `parley bench`: set-up, latency, what each
// participant process costs, and the same call in Chromium; and the
// on-screen part: two kiosk processes drawing their windows, then
// Chromium's page in a window of the same size.

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Call benchmark sizes (the minimums).
const (
	Calls       = 10
	LatencyTime = 30 * time.Second
	CPUTime     = 20 * time.Second
	BrowserTime = 20 * time.Second
	// ScreenTime is how long each side of the on-screen comparison is measured.
	ScreenTime = 20 * time.Second
	// CallLimit bounds the call part; ScreenBrowserLimit Chromium's run on screen.
	CallLimit          = 10 * time.Minute
	ScreenBrowserLimit = 5 * time.Minute
)

// CallResult is what the call part measured.
type CallResult struct {
	Setup        map[string]Dist    `json:"setup"`
	Latency      LatencyResult      `json:"latency"`
	Participants []ParticipantUsage `json:"participants"`
	Chromium     *BrowserResult     `json:"chromium"`
}

// Call runs the call part; parley is the path to the program (for the
// participant processes); say hears what runs now.
func Call(parley string, say func(string)) (CallResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), CallLimit)
	defer cancel()
	var r CallResult
	var err error
	say(fmt.Sprintf("call set-up, %d calls", Calls))
	if r.Setup, err = CallSetup(ctx, Calls); err != nil {
		return r, err
	}
	say(fmt.Sprintf("latency, one call of %v", LatencyTime))
	if r.Latency, err = Latency(ctx, LatencyTime); err != nil {
		return r, err
	}
	say(fmt.Sprintf("CPU and memory, two participant processes for %v", CPUTime))
	if r.Participants, err = Processes(parley, CPUTime, false); err != nil {
		return r, err
	}
	if path, err := FindChromium(); err != nil {
		say(fmt.Sprintf("no side-by-side with the browser: %v", err))
	} else {
		say(fmt.Sprintf("the same call in headless Chromium (%d set-ups, %v of latency)", Calls, BrowserTime))
		b, err := Browser(ctx, path, BrowserOptions{Calls: Calls, Latency: BrowserTime})
		if err != nil {
			return r, fmt.Errorf("browser: %w", err)
		}
		r.Chromium = &b
	}
	return r, nil
}

// ScreenResult is the call with the picture on screen: two kiosk processes,
// each drawing its window, then Chromium's page in a window of the same size
// on the same display.
type ScreenResult struct {
	Display  string             `json:"display"`
	Window   string             `json:"window"`
	Parley   []ParticipantUsage `json:"parley_participants"`
	Shown    Dist               `json:"parley_capture_to_shown"`
	Chromium *BrowserResult     `json:"chromium,omitempty"`
}

// ErrNoDisplay means the on-screen comparison has no X display to draw on.
var ErrNoDisplay = errors.New("no X display ($DISPLAY is empty; packaging/dev.sh bench starts a virtual one)")

// Screen runs the on-screen part on display, in windows of w by h
// (parley's participant processes draw theirs at that size).
func Screen(parley, display string, w, h int, say func(string)) (*ScreenResult, error) {
	if display == "" {
		return nil, ErrNoDisplay
	}
	res := &ScreenResult{Display: display, Window: fmt.Sprintf("%dx%d", w, h)}
	say(fmt.Sprintf("on screen (%s): two kiosk windows, each in its own process, for %v", display, ScreenTime))
	usage, err := Processes(parley, ScreenTime, true)
	if err != nil {
		return nil, err
	}
	var shown []time.Duration
	for i := range usage {
		for _, ms := range usage[i].ShownMS {
			shown = append(shown, time.Duration(ms*float64(time.Millisecond)))
		}
		usage[i].ShownMS = nil
	}
	res.Parley, res.Shown = usage, Summarise(shown)
	if res.Shown.N == 0 {
		return nil, errors.New("no partner frame reached either kiosk's screen")
	}
	if path, err := FindChromium(); err != nil {
		say(fmt.Sprintf("no on-screen comparison with the browser: %v", err))
	} else {
		say(fmt.Sprintf("the same two-way call in Chromium, in a window on %s, for %v", display, ScreenTime))
		ctx, cancel := context.WithTimeout(context.Background(), ScreenBrowserLimit)
		defer cancel()
		b, err := Browser(ctx, path, BrowserOptions{Latency: ScreenTime, Window: &BrowserWindow{Width: w, Height: h}, TwoWay: true})
		if err != nil {
			return nil, fmt.Errorf("browser on screen: %w", err)
		}
		res.Chromium = &b
	}
	return res, nil
}
