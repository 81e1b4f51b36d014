package store

// webhooks.go: webhooks and the outbox of deliveries (messages and events) owed to them.

import (
	"database/sql"
	"errors"
	"fmt"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// Webhook receives every new message of a session (or of one channel).
type Webhook struct {
	ID        string
	Session   string
	Channel   string // empty = every channel of the session
	URL       string
	CreatedMS int64
}

// Delivery is one message, or one event, owed to one webhook.
type Delivery struct {
	ID        int64
	WebhookID string
	URL       string
	MessageID string // "" for an event
	EventID   int64  // 0 for a message
	Attempts  int
	NextMS    int64
}

// AddWebhook stores a webhook.
func (s *Store) AddWebhook(w Webhook) error {
	_, err := s.db.Exec(`INSERT INTO webhooks(id,session_code,channel,url,created_ms) VALUES(?,?,?,?,?)`, w.ID, w.Session, w.Channel, w.URL, w.CreatedMS)
	return err
}

// DeleteWebhook stops a webhook; owed deliveries are dropped.
func (s *Store) DeleteWebhook(id string, ms int64) error {
	res, err := s.db.Exec(`UPDATE webhooks SET deleted_ms=? WHERE id=? AND deleted_ms=0`, ms, id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("webhook %s: %w", id, ErrNotFound)
	}
	return nil
}

// Webhooks lists the live webhooks of a session (all sessions if empty).
func (s *Store) Webhooks(session string) ([]Webhook, error) {
	q := `SELECT id,session_code,channel,url,created_ms FROM webhooks WHERE deleted_ms=0`
	var args []any
	if session != "" {
		q += ` AND session_code=?`
		args = append(args, session)
	}
	return queryAll(s.db, func(sc interface{ Scan(...any) error }) (Webhook, error) {
		var w Webhook
		err := sc.Scan(&w.ID, &w.Session, &w.Channel, &w.URL, &w.CreatedMS)
		return w, err
	}, q+` ORDER BY created_ms, id`, args...)
}

// DueDeliveries returns up to limit deliveries owed at nowMS.
func (s *Store) DueDeliveries(nowMS int64, limit int) ([]Delivery, error) {
	return queryAll(s.db, func(sc interface{ Scan(...any) error }) (Delivery, error) {
		var d Delivery
		err := sc.Scan(&d.ID, &d.WebhookID, &d.URL, &d.MessageID, &d.EventID, &d.Attempts, &d.NextMS)
		return d, err
	}, `SELECT d.id, d.webhook_id, w.url, COALESCE(d.message_id,''), COALESCE(d.event_id,0), d.attempts, d.next_ms
FROM deliveries d JOIN webhooks w ON w.id = d.webhook_id
WHERE d.delivered_ms=0 AND d.gave_up_ms=0 AND w.deleted_ms=0 AND d.next_ms<=? ORDER BY d.next_ms, d.id LIMIT ?`, nowMS, limit)
}

// MarkDelivered records a successful delivery.
func (s *Store) MarkDelivered(id, ms int64) error {
	_, err := s.db.Exec(`UPDATE deliveries SET delivered_ms=?, attempts=attempts+1 WHERE id=?`, ms, id)
	return err
}

// MarkFailed records a failed attempt; nextMS=0 gives up.
func (s *Store) MarkFailed(id, nowMS, nextMS int64, reason string) error {
	if nextMS == 0 {
		_, err := s.db.Exec(`UPDATE deliveries SET attempts=attempts+1, gave_up_ms=?, last_error=? WHERE id=?`, nowMS, reason, id)
		return err
	}
	_, err := s.db.Exec(`UPDATE deliveries SET attempts=attempts+1, next_ms=?, last_error=? WHERE id=?`, nextMS, reason, id)
	return err
}

// Event returns one event by id (for a webhook delivery).
func (s *Store) Event(id int64) (Event, error) {
	e, err := scanEvent(s.db.QueryRow(`SELECT id,session_code,participant_id,group_id,kind,data,ts_ms,client_id FROM events WHERE id=?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return e, fmt.Errorf("event %d: %w", id, ErrNotFound)
	}
	return e, err
}
