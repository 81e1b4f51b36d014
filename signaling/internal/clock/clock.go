// Package clock is the time source of the rendezvous server: the wall
// clock, and a fake one that tests move by hand, so the discussion clock,
// timeouts and rate limits are tested without sleeping.
package clock

import (
	"sort"
	"sync"
	"time"
)

// Clock gives the time and runs functions later.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f in its own goroutine after d.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending AfterFunc.
type Timer interface {
	Stop() bool
}

type real struct{}

func (real) Now() time.Time { return time.Now() }
func (real) AfterFunc(d time.Duration, f func()) Timer {
	return time.AfterFunc(d, f)
}

// Real is the wall clock.
var Real Clock = real{}

// Fake is a clock that moves only when Advance is called; timers that fall
// due run in Advance, in order of their time, on its goroutine.
type Fake struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	c       *Fake
	at      time.Time
	f       func()
	stopped bool
}

// FakeStart is when a NewFake clock starts: a fixed moment, so tests are
// repeatable.
var FakeStart = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

// NewFake returns a fake clock at FakeStart.
func NewFake() *Fake { return NewFakeAt(FakeStart) }

// NewFakeAt returns a fake clock at t.
func NewFakeAt(t time.Time) *Fake { return &Fake{now: t} }

// Now is the fake time.
func (c *Fake) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// AfterFunc schedules f for d after the fake now.
func (c *Fake) AfterFunc(d time.Duration, f func()) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{c: c, at: c.now.Add(d), f: f}
	c.timers = append(c.timers, t)
	return t
}

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := !t.stopped
	t.stopped = true
	return was
}

// Advance moves time forward and runs, in order, the timers that fall due.
func (c *Fake) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var due []*fakeTimer
	keep := c.timers[:0]
	for _, t := range c.timers {
		if t.stopped {
			continue
		}
		if !t.at.After(c.now) {
			t.stopped = true
			due = append(due, t)
		} else {
			keep = append(keep, t)
		}
	}
	c.timers = keep
	c.mu.Unlock()
	sort.Slice(due, func(i, j int) bool { return due[i].at.Before(due[j].at) })
	for _, t := range due {
		t.f()
	}
}
