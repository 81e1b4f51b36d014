// Package export writes a session's chat messages, events and recorded
// segments as CSV
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

	"github.com/parley-lab/parley/signaling/protocol"
	"github.com/parley-lab/parley/signaling/store"
)

// Formats.
const (
	CSV   = "csv"
	JSONL = "jsonl"
)

// Kinds of export.
const (
	Messages   = "messages"
	Events     = "events"
	Recordings = "recordings" // one row per uploaded (or declared) segment
)

// Kinds lists the kinds of export, for help and refusals.
var Kinds = []string{Messages, Events, Recordings}

// ValidKind reports whether k is a kind of export.
func ValidKind(k string) bool {
	for _, x := range Kinds {
		if x == k {
			return true
		}
	}
	return false
}

// ErrFormat is returned for a format other than csv or jsonl.
var ErrFormat = errors.New("unknown export format")

// ErrKind is returned for a kind other than messages, events or recordings.
var ErrKind = errors.New("unknown export kind")

// ErrExcel is returned for the spreadsheet mode with a format other than CSV.
var ErrExcel = errors.New("the spreadsheet mode applies to CSV only")

// MessageColumns are the CSV header of a messages export.
var MessageColumns = []string{
	// oTree chat's columns, same names and meanings.
	"session_code", "id_in_session", "participant_code", "channel", "nickname", "body", "timestamp",
	// Parley's additions.
	"message_id", "seq", "group", "seat", "sender_role", "timestamp_iso", "elapsed_s",
	// late: typed before its group's end (typed_timestamp_iso) while the
	// kiosk was offline, and stored after it (timestamp).
	"late", "typed_timestamp_iso",
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
	Late            bool     `json:"late"`
	TypedISO        string   `json:"typed_timestamp_iso"` // empty when the kiosk did not say
}

// Options choose what to export.
type Options struct {
	Session string // empty: every session
	Format  string // CSV or JSONL
	Kind    string // Messages, Events or Recordings
	// Excel makes a CSV for opening in a spreadsheet: UTF-8 with a byte
	// order mark, and every cell that a spreadsheet would run as a formula
	// (starting with =, +, -, @, a tab or a carriage return) prefixed with
	// an apostrophe. Without it the export is byte-exact.
	Excel bool
}

// Write writes the export to w.
func Write(w io.Writer, st *store.Store, o Options) error {
	if o.Format != CSV && o.Format != JSONL {
		return fmt.Errorf("%w %q: use csv or jsonl", ErrFormat, o.Format)
	}
	if o.Kind == "" {
		o.Kind = Messages
	}
	if o.Excel && o.Format != CSV {
		return fmt.Errorf("%w (format %q)", ErrExcel, o.Format)
	}
	sessions, err := sessionsOf(st, o.Session)
	if err != nil {
		return err
	}
	if !ValidKind(o.Kind) {
		return fmt.Errorf("%w %q: use messages, events or recordings", ErrKind, o.Kind)
	}
	out := &sink{format: o.Format, enc: json.NewEncoder(w), excel: o.Excel}
	out.enc.SetEscapeHTML(false)
	if o.Format == CSV {
		if o.Excel {
			if _, err := io.WriteString(w, utf8BOM); err != nil {
				return err
			}
		}
		out.cw = csv.NewWriter(w)
	}
	switch o.Kind {
	case Messages:
		return writeMessages(out, st, sessions)
	case Events:
		return writeEvents(out, st, sessions)
	case Recordings:
		return writeRecordings(out, st, sessions)
	}
	return fmt.Errorf("%w %q: use messages, events or recordings", ErrKind, o.Kind)
}

// sessionsOf lists the sessions to export: the one named, or every
// experiment session. Workstation checks are never research data.
func sessionsOf(st *store.Store, code string) ([]string, error) {
	if code != "" {
		s, err := st.Session(code)
		if err != nil {
			return nil, err
		}
		if s.Room == protocol.CheckRoom {
			return nil, fmt.Errorf("session %s: %w (it is a workstation check)", code, store.ErrNotFound)
		}
		return []string{code}, nil
	}
	all, err := st.Sessions()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, s := range all {
		if s.Room != protocol.CheckRoom {
			out = append(out, s.Code)
		}
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
		TimestampISO: isoMS(m.TimeMS), Late: m.Late,
	}
	if m.TypedMS != 0 {
		r.TypedISO = isoMS(m.TypedMS)
	}
	// The group: the channel's for a group channel, else the sender's.
	gid, _ := protocol.GroupOfKey(m.Channel)
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

// utf8BOM tells a spreadsheet the file is UTF-8.
const utf8BOM = "\uFEFF"

// sink writes rows as CSV or JSON Lines.
type sink struct {
	format string
	cw     *csv.Writer
	enc    *json.Encoder
	excel  bool
}

// header writes the CSV header.
func (s *sink) header(cols []string) error {
	if s.cw == nil {
		return nil
	}
	return s.cw.Write(cols)
}

// row writes v as JSON, or cells as a CSV record.
func (s *sink) row(v any, cells []string) error {
	if s.cw == nil {
		return s.enc.Encode(v)
	}
	if s.excel {
		for i, c := range cells {
			cells[i] = inert(c)
		}
	}
	return s.cw.Write(cells)
}

func (s *sink) flush() error {
	if s.cw == nil {
		return nil
	}
	s.cw.Flush()
	return s.cw.Error()
}

// inert keeps a spreadsheet from running a cell as a formula (CSV
// injection): a leading apostrophe shows the text as typed.
func inert(cell string) string {
	if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
		return "'" + cell
	}
	return cell
}

func writeMessages(out *sink, st *store.Store, sessions []string) error {
	if err := out.header(MessageColumns); err != nil {
		return err
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
			if err := out.row(r, []string{
				r.SessionCode, optInt(r.IDInSession), r.ParticipantCode, r.Channel, r.Nickname, r.Body,
				strconv.FormatFloat(r.Timestamp, 'f', 3, 64), r.MessageID, strconv.FormatInt(r.Seq, 10),
				optInt(r.Group), r.Seat, r.SenderRole, r.TimestampISO, optFloat(r.ElapsedS),
				strconv.FormatBool(r.Late), r.TypedISO,
			}); err != nil {
				return err
			}
		}
	}
	return out.flush()
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

func writeEvents(out *sink, st *store.Store, sessions []string) error {
	if err := out.header(EventColumns); err != nil {
		return err
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
			if err := out.row(r, []string{r.SessionCode, strconv.FormatInt(r.EventID, 10), r.Kind, r.ParticipantCode, optInt(r.IDInSession), r.Seat, optInt(r.Group),
				strconv.FormatFloat(r.Timestamp, 'f', 3, 64), r.TimestampISO, string(r.Data)}); err != nil {
				return err
			}
		}
	}
	return out.flush()
}
