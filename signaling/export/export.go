// Package export writes a session's chat messages and events as CSV
// (RFC 4180) or JSON Lines for analysis. The message columns keep oTree
// chat's names and meanings first, so existing R and Stata scripts work,
// then add what oTree lacks.
package export

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/parley-lab/parley/signaling/store"
)

// Formats.
const (
	CSV   = "csv"
	JSONL = "jsonl"
)

// Kinds of export.
const (
	Messages = "messages"
	Events   = "events"
)

// ErrFormat is returned for a format other than csv or jsonl.
var ErrFormat = errors.New("unknown export format")

// ErrKind is returned for a kind other than messages or events.
var ErrKind = errors.New("unknown export kind")

// MessageColumns are the CSV header of a messages export.
var MessageColumns = []string{
	// oTree chat's columns, same names and meanings.
	"session_code", "id_in_session", "participant_code", "channel", "nickname", "body", "timestamp",
	// Parley's additions.
	"message_id", "seq", "group", "seat", "sender_role", "timestamp_iso", "elapsed_s",
}

// EventColumns are the CSV header of an events export.
var EventColumns = []string{"session_code", "event_id", "kind", "participant_code", "id_in_session", "seat", "group", "timestamp", "timestamp_iso", "data"}

// Row is one exported message, as JSON Lines writes it.
type Row struct {
	SessionCode     string   `json:"session_code"`
	IDInSession     *int     `json:"id_in_session"`
	ParticipantCode string   `json:"participant_code"`
	Channel         string   `json:"channel"`
	Nickname        string   `json:"nickname"`
	Body            string   `json:"body"`
	Timestamp       float64  `json:"timestamp"`
	MessageID       string   `json:"message_id"`
	Seq             int64    `json:"seq"`
	Group           *int     `json:"group"`
	Seat            string   `json:"seat"`
	SenderRole      string   `json:"sender_role"`
	TimestampISO    string   `json:"timestamp_iso"`
	ElapsedS        *float64 `json:"elapsed_s"`
}

// Options choose what to export.
type Options struct {
	Session string // empty: every session
	Format  string // CSV or JSONL
	Kind    string // Messages or Events
}

// Write writes the export to w.
func Write(w io.Writer, st *store.Store, o Options) error {
	if o.Format != CSV && o.Format != JSONL {
		return fmt.Errorf("%w %q: use csv or jsonl", ErrFormat, o.Format)
	}
	if o.Kind == "" {
		o.Kind = Messages
	}
	sessions, err := sessionsOf(st, o.Session)
	if err != nil {
		return err
	}
	switch o.Kind {
	case Messages:
		return writeMessages(w, st, sessions, o.Format)
	case Events:
		return writeEvents(w, st, sessions, o.Format)
	}
	return fmt.Errorf("%w %q: use messages or events", ErrKind, o.Kind)
}

func sessionsOf(st *store.Store, code string) ([]string, error) {
	if code != "" {
		if _, err := st.Session(code); err != nil {
			return nil, err
		}
		return []string{code}, nil
	}
	all, err := st.Sessions()
	if err != nil {
		return nil, err
	}
	out := make([]string, len(all))
	for i, s := range all {
		out[i] = s.Code
	}
	return out, nil
}

type lookup struct {
	parts  map[string]store.Participant
	groups map[string]store.Group
}

func load(st *store.Store, session string) (lookup, error) {
	l := lookup{parts: map[string]store.Participant{}, groups: map[string]store.Group{}}
	ps, err := st.Participants(session)
	if err != nil {
		return l, err
	}
	for _, p := range ps {
		l.parts[p.ID] = p
	}
	gs, err := st.Groups(session)
	if err != nil {
		return l, err
	}
	for _, g := range gs {
		l.groups[g.ID] = g
	}
	return l, nil
}

func isoMS(msec int64) string {
	return time.UnixMilli(msec).UTC().Format("2006-01-02T15:04:05.000Z")
}

func unixS(msec int64) float64 { return float64(msec) / 1000 }

func row(m store.Message, l lookup) Row {
	r := Row{
		SessionCode: m.Session, Channel: m.Channel, Nickname: m.Nickname, Body: m.Body,
		Timestamp: unixS(m.TimeMS), MessageID: m.ID, Seq: m.Seq, SenderRole: m.SenderRole,
		TimestampISO: isoMS(m.TimeMS),
	}
	// The group: the channel's for a group channel, else the sender's.
	gid := strings.TrimPrefix(m.Channel, "group:")
	if gid == m.Channel {
		gid = ""
	}
	if p, ok := l.parts[m.SenderID]; ok {
		id := p.IDInSession
		r.IDInSession, r.ParticipantCode, r.Seat = &id, p.Code, p.Seat
		if gid == "" {
			gid = p.GroupID
		}
	}
	if g, ok := l.groups[gid]; ok {
		num := g.Num
		r.Group = &num
		if g.ClockStartedMS != 0 {
			e := float64(m.TimeMS-g.ClockStartedMS) / 1000
			r.ElapsedS = &e
		}
	}
	return r
}

func writeMessages(w io.Writer, st *store.Store, sessions []string, format string) error {
	var cw *csv.Writer
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	if format == CSV {
		cw = csv.NewWriter(w)
		if err := cw.Write(MessageColumns); err != nil {
			return err
		}
	}
	for _, code := range sessions {
		l, err := load(st, code)
		if err != nil {
			return err
		}
		msgs, err := st.Messages(code, "", 0)
		if err != nil {
			return err
		}
		for _, m := range msgs {
			r := row(m, l)
			if cw == nil {
				if err := enc.Encode(r); err != nil {
					return err
				}
				continue
			}
			if err := cw.Write([]string{
				r.SessionCode, optInt(r.IDInSession), r.ParticipantCode, r.Channel, r.Nickname, r.Body,
				strconv.FormatFloat(r.Timestamp, 'f', 3, 64), r.MessageID, strconv.FormatInt(r.Seq, 10),
				optInt(r.Group), r.Seat, r.SenderRole, r.TimestampISO, optFloat(r.ElapsedS),
			}); err != nil {
				return err
			}
		}
	}
	if cw != nil {
		cw.Flush()
		return cw.Error()
	}
	return nil
}

func optInt(p *int) string {
	if p == nil {
		return ""
	}
	return strconv.Itoa(*p)
}

func optFloat(p *float64) string {
	if p == nil {
		return ""
	}
	return strconv.FormatFloat(*p, 'f', 3, 64)
}

// EventRow is one exported event.
type EventRow struct {
	SessionCode     string          `json:"session_code"`
	EventID         int64           `json:"event_id"`
	Kind            string          `json:"kind"`
	ParticipantCode string          `json:"participant_code"`
	IDInSession     *int            `json:"id_in_session"`
	Seat            string          `json:"seat"`
	Group           *int            `json:"group"`
	Timestamp       float64         `json:"timestamp"`
	TimestampISO    string          `json:"timestamp_iso"`
	Data            json.RawMessage `json:"data"`
}

func writeEvents(w io.Writer, st *store.Store, sessions []string, format string) error {
	var cw *csv.Writer
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	if format == CSV {
		cw = csv.NewWriter(w)
		if err := cw.Write(EventColumns); err != nil {
			return err
		}
	}
	for _, code := range sessions {
		l, err := load(st, code)
		if err != nil {
			return err
		}
		evs, err := st.Events(code)
		if err != nil {
			return err
		}
		for _, e := range evs {
			r := EventRow{SessionCode: e.Session, EventID: e.ID, Kind: e.Kind, Timestamp: unixS(e.TimeMS), TimestampISO: isoMS(e.TimeMS), Data: e.Data}
			if p, ok := l.parts[e.Participant]; ok {
				id := p.IDInSession
				r.ParticipantCode, r.IDInSession, r.Seat = p.Code, &id, p.Seat
			}
			if g, ok := l.groups[e.Group]; ok {
				num := g.Num
				r.Group = &num
			}
			if cw == nil {
				if err := enc.Encode(r); err != nil {
					return err
				}
				continue
			}
			if err := cw.Write([]string{r.SessionCode, strconv.FormatInt(r.EventID, 10), r.Kind, r.ParticipantCode, optInt(r.IDInSession), r.Seat, optInt(r.Group),
				strconv.FormatFloat(r.Timestamp, 'f', 3, 64), r.TimestampISO, string(r.Data)}); err != nil {
				return err
			}
		}
	}
	if cw != nil {
		cw.Flush()
		return cw.Error()
	}
	return nil
}
