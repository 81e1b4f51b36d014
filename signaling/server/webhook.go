package server

// webhook.go: webhooks: the experimenter adds and removes them
// (AddWebhook, DeleteWebhook), and the dispatcher posts each new message
// (and some events) to them, at least once, from the store's outbox.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/parley-lab/parley/signaling/protocol"
	"github.com/parley-lab/parley/signaling/store"
)

const (
	// webhookBatch is how many owed deliveries are attempted at once.
	webhookBatch = 32
	// webhookIdle is how often the outbox is checked when nothing wakes it
	// (a retry falling due).
	webhookIdle = time.Second
)

// WebhookPayload is what a webhook receives for each new message and, for a
// webhook of the whole session (no channel), for each event of the kinds in
// webhookEvents. Delivery is at least once: the X-Parley-Delivery header and
// message.id (event.id) identify repeats.
type WebhookPayload struct {
	WebhookID string          `json:"webhook_id"`
	Session   string          `json:"session"`
	Channel   string          `json:"channel,omitempty"` // channel key, as in exports
	Message   *webhookMessage `json:"message,omitempty"`
	Event     *webhookEvent   `json:"event,omitempty"`
}

// webhookEvents are the event kinds posted to webhooks (each queued in the
// transaction that records it): a participant's recording is all on the
// server.
var webhookEvents = []string{EvRecordingComplete}

type webhookEvent struct {
	ID          int64           `json:"id"`
	Kind        string          `json:"kind"`
	Participant string          `json:"participant_id,omitempty"`
	Group       string          `json:"group,omitempty"`
	Data        json.RawMessage `json:"data"`
	TimeMS      int64           `json:"time_ms"`
}

type webhookMessage struct {
	ID         string `json:"id"`
	Seq        int64  `json:"seq"`
	SenderID   string `json:"sender_id,omitempty"`
	Nickname   string `json:"nickname,omitempty"`
	SenderRole string `json:"sender_role"`
	Body       string `json:"body"`
	TimeMS     int64  `json:"time_ms"`
}

// dispatcher posts the webhook outbox (the deliveries table). Messages are
// queued in the same transaction that commits them, so a restart loses no
// delivery; a slow or dead webhook delays only its own retries, never chat.
type dispatcher struct {
	st    *store.Store
	httpc *http.Client
	clock Clock
	log   *slog.Logger
	cfg   Config
	wakeC chan struct{}
	quit  chan struct{}
	once  sync.Once
}

func newDispatcher(st *store.Store, httpc *http.Client, clock Clock, log *slog.Logger, cfg Config) *dispatcher {
	return &dispatcher{st: st, httpc: httpc, clock: clock, log: log, cfg: cfg, wakeC: make(chan struct{}, 1), quit: make(chan struct{})}
}

func (d *dispatcher) wake() {
	select {
	case d.wakeC <- struct{}{}:
	default:
	}
}

func (d *dispatcher) stop() { d.once.Do(func() { close(d.quit) }) }

func (d *dispatcher) run() {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-d.quit:
			return
		case <-d.wakeC:
		case <-t.C:
		}
		d.drain()
		t.Reset(webhookIdle)
	}
}

// drain attempts every delivery due now, a batch at a time.
func (d *dispatcher) drain() {
	for {
		select {
		case <-d.quit:
			return
		default:
		}
		due, err := d.st.DueDeliveries(ms(d.clock.Now()), webhookBatch)
		if err != nil {
			d.log.Error("webhook outbox", "err", err)
			return
		}
		if len(due) == 0 {
			return
		}
		var wg sync.WaitGroup
		for _, del := range due {
			wg.Add(1)
			go func() { defer wg.Done(); d.attempt(del) }()
		}
		wg.Wait()
	}
}

// payload is what del posts, and its session.
func (d *dispatcher) payload(del store.Delivery) (body []byte, session string, err error) {
	if del.EventID != 0 {
		e, err := d.st.Event(del.EventID)
		if err != nil {
			return nil, "", err
		}
		body, _ = json.Marshal(WebhookPayload{WebhookID: del.WebhookID, Session: e.Session, Event: &webhookEvent{
			ID: e.ID, Kind: e.Kind, Participant: e.Participant, Group: e.Group, Data: e.Data, TimeMS: e.TimeMS,
		}})
		return body, e.Session, nil
	}
	m, err := d.st.Message(del.MessageID)
	if err != nil {
		return nil, "", err
	}
	body, _ = json.Marshal(WebhookPayload{WebhookID: del.WebhookID, Session: m.Session, Channel: m.Channel, Message: &webhookMessage{
		ID: m.ID, Seq: m.Seq, SenderID: m.SenderID, Nickname: m.Nickname, SenderRole: m.SenderRole, Body: m.Body, TimeMS: m.TimeMS,
	}})
	return body, m.Session, nil
}

func (d *dispatcher) attempt(del store.Delivery) {
	body, session, err := d.payload(del)
	if err != nil {
		d.log.Error("webhook payload", "err", err)
		return
	}
	err = d.post(del, body)
	now := d.clock.Now()
	if err == nil {
		if err := d.st.MarkDelivered(del.ID, ms(now)); err != nil {
			d.log.Error("webhook mark delivered", "err", err)
		}
		return
	}
	attempts := del.Attempts + 1
	var next int64
	if attempts < d.cfg.WebhookAttempts {
		delay := min(d.cfg.WebhookBackoff<<min(attempts-1, 20), DefaultWebhookMaxDelay)
		next = ms(now.Add(delay))
	}
	if err := d.st.MarkFailed(del.ID, ms(now), next, err.Error()); err != nil {
		d.log.Error("webhook mark failed", "err", err)
	}
	if next == 0 {
		d.log.Warn("webhook gave up", "webhook", del.WebhookID, "message", del.MessageID, "event", del.EventID, "attempts", attempts, "err", err)
		data := fmt.Sprintf(`{"webhook_id":%q,"message_id":%q,"attempts":%d}`, del.WebhookID, del.MessageID, attempts)
		if del.EventID != 0 {
			data = fmt.Sprintf(`{"webhook_id":%q,"event_id":%d,"attempts":%d}`, del.WebhookID, del.EventID, attempts)
		}
		d.st.AddEvent(store.Event{Session: session, Kind: EvWebhookGaveUp, TimeMS: ms(now), Data: json.RawMessage(data)})
	}
}

func (d *dispatcher) post(del store.Delivery, body []byte) error {
	req, err := http.NewRequest(http.MethodPost, del.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Parley-Delivery", strconv.FormatInt(del.ID, 10))
	resp, err := d.httpc.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("webhook answered %s", resp.Status)
	}
	return nil
}

// AddWebhook registers url to receive every new message of the session, or
// of one channel.
func (h *Hub) AddWebhook(code, channel, rawURL string) (store.Webhook, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return store.Webhook{}, fmt.Errorf("%w: url %q is not an http(s) URL", ErrBadRequest, rawURL)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	s, err := h.sessionLocked(code)
	if err != nil {
		return store.Webhook{}, err
	}
	if channel != "" {
		if _, err := h.channelLocked(s, channel); err != nil && !strings.HasPrefix(channel, protocol.GroupKeyPrefix) {
			return store.Webhook{}, err
		}
	}
	w := store.Webhook{ID: "w_" + randomCode(10), Session: code, Channel: channel, URL: rawURL, CreatedMS: ms(h.clock.Now())}
	if err := h.st.AddWebhook(w); err != nil {
		return store.Webhook{}, err
	}
	s.webhooks = append(s.webhooks, w)
	// The host only: a webhook's path or query may hold its secret.
	h.log.Info("webhook added", "session", code, "channel", channel, "webhook", w.ID, "host", u.Host)
	return w, nil
}

// DeleteWebhook stops a webhook.
func (h *Hub) DeleteWebhook(id string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.st.DeleteWebhook(id, ms(h.clock.Now())); err != nil {
		return err
	}
	for _, s := range h.order {
		for i, w := range s.webhooks {
			if w.ID == id {
				s.webhooks = append(s.webhooks[:i], s.webhooks[i+1:]...)
				h.log.Info("webhook removed", "session", s.rec.Code, "webhook", id)
				return nil
			}
		}
	}
	return nil
}
