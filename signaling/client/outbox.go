package client

// outbox.go: what a kiosk has sent and the server has not yet confirmed.
// Chat messages and event reports (call states, stats) stay here until the
// server acknowledges them or refuses them for a reason resending cannot
// change; signals until the server acknowledges that it relayed them. After
// a reconnect everything still here is sent again (the server drops
// duplicates by id). Sending is paced: a few items in flight at a time, and
// after a rate-limit refusal nothing until the server's wait is over.

import (
	"encoding/json"
	"time"
)

// Pacing and liveness of the outbox.
const (
	// ChatWindow and ReportWindow bound the unacknowledged items in flight
	// on one connection, so a reconnect after a long outage does not burst
	// past the server's rate limit.
	ChatWindow   = 4
	ReportWindow = 4
	// AckTimeout: an item unacknowledged this long means the connection is
	// dead even if the kernel still accepts writes; it is dropped and the
	// session reconnects and resends.
	AckTimeout = 4 * time.Second
	// MaxSignalAge: a signal not acknowledged when its connection died is
	// resent on the next one only if it is younger than this; an older
	// offer or candidate belongs to a call attempt that has moved on.
	MaxSignalAge = 10 * time.Second
	// DefaultRetryWait is the wait after a retryable refusal that names none.
	DefaultRetryWait = time.Second
)

// Ref prefixes: the ref of each outbox item names it, so the server's ack or
// error finds it.
const (
	// ChatRefPrefix starts the ref of a chat send; the client message id
	// follows, so an error names the message it refuses.
	ChatRefPrefix   = "chat:"
	reportRefPrefix = "report:"
	signalRefPrefix = "signal:"
)

// Report is a call state or stats report waiting for the server's ack.
type Report struct {
	Type string          `json:"type"` // protocol.TypeCallState or TypeStats
	ID   string          `json:"id"`
	Data json.RawMessage `json:"data"`
}

// pendingSignal is a signal waiting for the server's ack (memory only).
type pendingSignal struct {
	ref   string
	frame []byte
	at    time.Time
}

// flight tracks what was sent on the current connection and not yet
// answered, by ref, with when it was sent.
type flight struct {
	sent map[string]time.Time
}

func (f *flight) reset() { f.sent = map[string]time.Time{} }

func (f *flight) has(ref string) bool { _, ok := f.sent[ref]; return ok }

func (f *flight) add(ref string, at time.Time) { f.sent[ref] = at }

func (f *flight) done(ref string) { delete(f.sent, ref) }

// count is how many refs with prefix are in flight.
func (f *flight) count(prefix string) int {
	n := 0
	for ref := range f.sent {
		if len(ref) >= len(prefix) && ref[:len(prefix)] == prefix {
			n++
		}
	}
	return n
}

// oldest is the send time of the oldest item in flight (zero if none).
func (f *flight) oldest() time.Time {
	var o time.Time
	for _, at := range f.sent {
		if o.IsZero() || at.Before(o) {
			o = at
		}
	}
	return o
}
