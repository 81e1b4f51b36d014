package server

// commit.go: the batched committer: chat messages and events are written in
// groups (one disk sync for many) off the hub's lock, then acknowledged and
// delivered in order.

import (
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
}

type commitResult struct {
	stored store.Message
	err    error
}

// maxCommitBatch bounds one group commit.
const maxCommitBatch = 256

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
	for {
		h.cqMu.Lock()
		n := min(len(h.cq), maxCommitBatch)
		batch := append([]*commitReq(nil), h.cq[:n]...)
		h.cq = h.cq[n:]
		h.cqMu.Unlock()
		if n == 0 {
			select {
			case <-h.cqWake:
				continue
			case <-stop:
				h.cqMu.Lock()
				empty := len(h.cq) == 0
				h.cqMu.Unlock()
				if empty {
					return
				}
				continue
			}
		}
		h.commitBatch(batch)
	}
}

func (h *Hub) commitBatch(batch []*commitReq) {
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
