package server

// commit.go: the batched committer: chat messages and events are written in
// groups (one disk sync for many) off the hub's lock, then acknowledged and
// delivered in order. When a batch fails, kiosks resend their chat and
// reports (they are refused "internal"); the server's own events are
// retried here.

import (
	"time"

	"github.com/parley-lab/parley/signaling/protocol"
	"github.com/parley-lab/parley/signaling/store"
)

// commitReq is one message, or events, waiting for the committer.
type commitReq struct {
	sess   *session
	msg    *store.Message // nil: events only
	events []store.Event
	from   *participant // nil for the experimenter
	msgRef string       // the envelope's ref, echoed in the ack
	// ackRef: the kiosk's ref of a reported event, acknowledged to from
	// once committed.
	ackRef string
	done   chan commitResult
	// tries counts failed commits of a server-made event.
	tries int
}

// serverMade: events the server makes itself (a disconnect, a reconnect,
// no_partner): no kiosk or experimenter waits for them to resend them, so
// the committer retries them itself.
func (r *commitReq) serverMade() bool { return r.msg == nil && r.ackRef == "" && r.done == nil }

type commitResult struct {
	stored store.Message
	err    error
}

// maxCommitBatch bounds one group commit.
const maxCommitBatch = 256

// Retrying server-made events after a failed commit: on their own (a
// poisoned event must not fail the chat of everyone else's batches), after
// a wait that doubles from commitRetryMin to commitRetryMax; after
// maxEventCommitTries failures (or one failure while the server stops) an
// event is logged in full as lost.
const (
	commitRetryMin      = 100 * time.Millisecond
	commitRetryMax      = 5 * time.Second
	maxEventCommitTries = 30
)

// enqueueLocked hands a validated message to the committer. It never blocks:
// the queue is bounded by the per-participant rate limit.
func (h *Hub) enqueueLocked(r *commitReq) {
	h.version.Add(1)
	h.cqMu.Lock()
	h.cq = append(h.cq, r)
	h.cqMu.Unlock()
	select {
	case h.cqWake <- struct{}{}:
	default:
	}
}

// committer commits queued messages in batches (one disk sync per batch)
// and only then acknowledges and relays them, in queue order. It drains the
// queue before it stops, so nothing validated is dropped at shutdown.
func (h *Hub) committer(stop <-chan struct{}) {
	defer close(h.cqDone)
	stopping := false
	retryTimer := time.NewTimer(0)
	defer retryTimer.Stop()
	for {
		h.cqMu.Lock()
		var batch []*commitReq
		retryDue := len(h.cqRetry) > 0 && (stopping || !time.Now().Before(h.retryAt))
		if retryDue {
			batch, h.cqRetry = h.cqRetry, nil
		} else {
			n := min(len(h.cq), maxCommitBatch)
			batch = append([]*commitReq(nil), h.cq[:n]...)
			h.cq = h.cq[n:]
		}
		pendingRetry, retryAt := len(h.cqRetry) > 0, h.retryAt
		h.cqMu.Unlock()
		if len(batch) > 0 {
			h.commitBatch(batch, retryDue, stopping)
			continue
		}
		if stopping && !pendingRetry {
			h.cqMu.Lock()
			empty := len(h.cq) == 0
			h.cqMu.Unlock()
			if empty {
				return
			}
			continue
		}
		var retry <-chan time.Time
		if pendingRetry {
			retryTimer.Reset(time.Until(retryAt))
			retry = retryTimer.C
		}
		select {
		case <-h.cqWake:
		case <-retry:
		case <-stop:
			stopping = true
		}
	}
}

// requeueEvents keeps server-made events of a failed commit for a retry,
// or logs them in full as lost.
func (h *Hub) requeueEvents(failed []*commitReq, stopping bool, err error) {
	var again []*commitReq
	for _, r := range failed {
		r.tries++
		if stopping || r.tries >= maxEventCommitTries {
			for _, e := range r.events {
				h.log.Error("research event lost: it could not be stored", "err", err, "tries", r.tries,
					"session", e.Session, "participant", e.Participant, "group", e.Group, "kind", e.Kind, "data", string(e.Data), "ts_ms", e.TimeMS)
			}
			continue
		}
		again = append(again, r)
	}
	if len(again) == 0 {
		return
	}
	h.cqMu.Lock()
	h.cqRetry = append(h.cqRetry, again...)
	wait := min(commitRetryMin<<min(h.retryTries, 16), commitRetryMax)
	h.retryTries++
	h.retryAt = time.Now().Add(wait)
	h.cqMu.Unlock()
	h.log.Warn("events kept for another try", "events", len(again), "retry_in", wait)
	select {
	case h.cqWake <- struct{}{}:
	default:
	}
}

// commitBatch commits batch (retry: it is server-made events committed
// again) and answers for each entry.
func (h *Hub) commitBatch(batch []*commitReq, retry, stopping bool) {
	h.commitMu.Lock()
	defer h.commitMu.Unlock()
	var items []store.Append
	var events []store.Event
	index := make([]int, len(batch)) // batch entry -> its message in items, or -1
	hooked := false
	h.mu.Lock()
	for i, r := range batch {
		events = append(events, r.events...)
		index[i] = -1
		if r.msg == nil {
			continue
		}
		index[i] = len(items)
		it := store.Append{Msg: *r.msg}
		for _, w := range r.sess.webhooks {
			if w.Channel == "" || w.Channel == r.msg.Channel {
				it.Webhooks = append(it.Webhooks, w.ID)
				hooked = true
			}
		}
		items = append(items, it)
	}
	h.mu.Unlock()
	res, err := h.st.CommitBatch(items, events)
	h.mu.Lock()
	defer h.mu.Unlock()
	if err != nil {
		h.log.Error("store messages and events", "messages", len(items), "events", len(events), "err", err)
		var failed []*commitReq
		for _, r := range batch {
			if r.serverMade() {
				failed = append(failed, r)
			}
		}
		h.requeueEvents(failed, stopping, err)
	} else if retry {
		h.cqMu.Lock()
		h.retryTries = 0
		h.cqMu.Unlock()
	}
	for i, r := range batch {
		if r.msg == nil {
			// Events: acknowledged once stored; on failure the kiosk
			// resends them (its outbox keeps what is not acknowledged).
			if r.ackRef != "" && r.from != nil && r.from.conn != nil {
				if err != nil {
					r.from.conn.sendError(r.ackRef, protocol.CodeInternal, "the report could not be saved; send it again", "")
				} else {
					h.ackLocked(r.from, r.ackRef)
				}
			}
			continue
		}
		if err != nil {
			if r.done != nil {
				r.done <- commitResult{err: err}
			} else if r.from != nil && r.from.conn != nil {
				r.from.conn.sendError(r.msgRef, protocol.CodeInternal, "the message could not be saved; it was not sent", "")
			}
			continue
		}
		stored, dup := res[index[i]].Stored, res[index[i]].Dup
		if r.from != nil {
			h.sendLocked(r.from, protocol.TypeChatAck, r.msgRef, protocol.ChatAck{ClientMsgID: r.msg.ClientMsgID, Message: wireMessage(stored)})
		}
		if !dup {
			h.deliverLocked(r.sess, stored, r.from)
		}
		if r.done != nil {
			r.done <- commitResult{stored: stored}
		}
	}
	if hooked && err == nil {
		h.notifyWebhooks()
	}
}
