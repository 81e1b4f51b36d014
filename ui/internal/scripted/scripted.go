// Package scripted is a participant.Engine test double for the kiosk UI: it
// holds a State the test (or a demo) sets, fires Changed on every change,
// serves synthetic RGBA frames and records every intent. It contains no
// engine logic: Join, SendChat, SetMute and Leave only record the call (and
// run an optional hook), so a script decides what the "engine" does next.
package scripted

import (
	"fmt"
	"image"
	"image/color"
	"sync"

	"github.com/parley-lab/parley/media/frames"
	"github.com/parley-lab/parley/signaling/participant"
	"github.com/parley-lab/parley/signaling/protocol"
)

// Call is one recorded intent.
type Call struct {
	Method string // "Join", "SendChat", "SetMute", "Leave"
	Args   []any
}

// Engine is a scripted participant.Engine. The zero value is not usable; use New.
type Engine struct {
	mu      sync.Mutex
	state   participant.State
	calls   []Call
	changed chan struct{}
	nextID  int
	mic     float64

	remote, local *Frames

	// OnJoin, OnSend, OnMute, OnLeave run (outside the lock) after the call
	// is recorded; a script can use them to set the next State.
	OnJoin  func(pseudonym string)
	OnSend  func(channel, body, clientMsgID string)
	OnMute  func(audio, video bool)
	OnLeave func()
}

var _ participant.Engine = (*Engine)(nil)

// New returns an engine in s with synthetic remote (colour bars) and local
// (gradient) video of the given size.
func New(s participant.State, w, h int) *Engine {
	return &Engine{
		state:   s,
		changed: make(chan struct{}, 1),
		remote:  NewFrames(w, h, Bars),
		local:   NewFrames(w, h, Gradient),
	}
}

// Set replaces the state and fires Changed.
func (e *Engine) Set(s participant.State) {
	e.mu.Lock()
	e.state = s
	e.mu.Unlock()
	e.fire()
}

// Update changes the state with f and fires Changed.
func (e *Engine) Update(f func(*participant.State)) {
	e.mu.Lock()
	f(&e.state)
	e.mu.Unlock()
	e.fire()
}

func (e *Engine) fire() {
	select {
	case e.changed <- struct{}{}:
	default:
	}
}

// SetMicLevel sets what MicLevel returns.
func (e *Engine) SetMicLevel(l float64) { e.mu.Lock(); e.mic = l; e.mu.Unlock() }

// Calls returns a copy of the recorded intents.
func (e *Engine) Calls() []Call {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]Call(nil), e.calls...)
}

// CallsOf returns the recorded intents of one method.
func (e *Engine) CallsOf(method string) []Call {
	var out []Call
	for _, c := range e.Calls() {
		if c.Method == method {
			out = append(out, c)
		}
	}
	return out
}

func (e *Engine) record(m string, args ...any) {
	e.mu.Lock()
	e.calls = append(e.calls, Call{Method: m, Args: args})
	e.mu.Unlock()
}

// RemoteFrames and LocalFrames give access to the synthetic streams.
func (e *Engine) RemoteFrames() *Frames { return e.remote }
func (e *Engine) LocalFrames() *Frames  { return e.local }

// State implements participant.Engine. Slices and the Pending map are copied.
func (e *Engine) State() participant.State {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.state
	s.Partners = append([]string(nil), s.Partners...)
	s.Channels = append([]participant.Channel(nil), s.Channels...)
	s.Messages = append([]participant.Message(nil), s.Messages...)
	s.Pending = append([]participant.PendingMessage(nil), s.Pending...)
	if s.LastError != nil {
		n := *s.LastError
		s.LastError = &n
	}
	if s.Announcement != nil {
		m := *s.Announcement
		s.Announcement = &m
	}
	return s
}

func (e *Engine) Changed() <-chan struct{} { return e.changed }
func (e *Engine) Remote() frames.Stream    { return e.remote }
func (e *Engine) Local() frames.Stream     { return e.local }
func (e *Engine) MicLevel() float64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.mic
}

func (e *Engine) Join(pseudonym string) {
	e.record("Join", pseudonym)
	if e.OnJoin != nil {
		e.OnJoin(pseudonym)
	}
}

// SendChat records the call and returns "c1", "c2", ...
func (e *Engine) SendChat(channel, body string) string {
	e.mu.Lock()
	e.nextID++
	id := fmt.Sprintf("c%d", e.nextID)
	e.mu.Unlock()
	e.record("SendChat", channel, body, id)
	if e.OnSend != nil {
		e.OnSend(channel, body, id)
	}
	return id
}

// Ready records the call and sets State.Ready.
func (e *Engine) Ready() {
	e.record("Ready")
	e.Update(func(s *participant.State) { s.Ready = true })
}

// RetryDevices records the call.
func (e *Engine) RetryDevices() { e.record("RetryDevices") }

// Dismiss records the call and clears the announcement.
func (e *Engine) Dismiss(id string) {
	e.record("Dismiss", id)
	e.Update(func(s *participant.State) {
		if s.Announcement != nil && s.Announcement.ID == id {
			s.Announcement = nil
		}
	})
}

// Consent records the answer and keeps it in the state, as the engine does.
func (e *Engine) Consent(given bool, language string) {
	e.record("Consent", given, language)
	e.Update(func(s *participant.State) {
		if s.Consent == "" {
			s.Consent = protocol.ConsentDeclined
			if given {
				s.Consent = protocol.ConsentGiven
			}
		}
	})
}

func (e *Engine) SetMute(audio, video bool) {
	e.record("SetMute", audio, video)
	if e.OnMute != nil {
		e.OnMute(audio, video)
	}
}

func (e *Engine) Leave() {
	e.record("Leave")
	if e.OnLeave != nil {
		e.OnLeave()
	}
}

// Pattern draws synthetic frame n into img.
type Pattern func(img *image.RGBA, n uint64)

// Frames is a synthetic frames.Stream. Advance draws a new frame;
// Render converts it for a view, as the engine does.
type Frames struct {
	mu      sync.Mutex
	img     *image.RGBA // the newest frame: Render copies it under mu
	seq     uint64
	pattern Pattern
	renders int
}

// NewFrames returns frames of size w x h drawn by p, with frame 1 ready.
func NewFrames(w, h int, p Pattern) *Frames {
	f := &Frames{pattern: p, img: image.NewRGBA(image.Rect(0, 0, w, h))}
	f.Advance()
	return f
}

// Advance draws the next frame.
func (f *Frames) Advance() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seq++
	f.pattern(f.img, f.seq)
}

// Render implements frames.Stream.
func (f *Frames) Render(dst *image.RGBA, seen uint64, v frames.View) (*image.RGBA, uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.renders++
	if f.seq == seen {
		return nil, f.seq
	}
	dst, k := frames.Target(dst, f.img.Rect.Size(), v.Fit)
	frames.ConvertRGBA(dst, f.img, k, v.Mirror)
	return dst, f.seq
}

// RenderCalls counts calls of Render.
func (f *Frames) RenderCalls() int { f.mu.Lock(); defer f.mu.Unlock(); return f.renders }

// Frame returns the newest frame as drawn (for comparing with what a view
// shows); the next Advance draws over it.
func (f *Frames) Frame() *image.RGBA { f.mu.Lock(); defer f.mu.Unlock(); return f.img }

// Bars draws vertical colour bars with a bright marker whose position moves with n.
func Bars(img *image.RGBA, n uint64) {
	bars := []color.RGBA{{0xc0, 0xc0, 0xc0, 0xff}, {0xc0, 0xc0, 0x00, 0xff}, {0x00, 0xc0, 0xc0, 0xff},
		{0x00, 0xc0, 0x00, 0xff}, {0xc0, 0x00, 0xc0, 0xff}, {0xc0, 0x00, 0x00, 0xff}, {0x00, 0x00, 0xc0, 0xff}}
	w, h := img.Rect.Dx(), img.Rect.Dy()
	mx := int(n*7) % w
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := bars[x*len(bars)/w]
			if y > h*3/4 && x >= mx && x < mx+w/20 {
				c = color.RGBA{0xff, 0xff, 0xff, 0xff}
			}
			img.SetRGBA(x, y, c)
		}
	}
}

// Gradient draws a soft blue-green gradient with a moving band.
func Gradient(img *image.RGBA, n uint64) {
	w, h := img.Rect.Dx(), img.Rect.Dy()
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := color.RGBA{uint8(40 + 80*x/w), uint8(90 + 100*y/h), 0xb0, 0xff}
			if (y+int(n))%h < h/12 {
				c = color.RGBA{0xf0, 0xf0, 0xf0, 0xff}
			}
			img.SetRGBA(x, y, c)
		}
	}
}
