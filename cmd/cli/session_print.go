package cli

// session_print.go: what `parley session` prints without --json: a table or
// a line for each command's answer.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/parley-lab/parley/signaling/server"
	"github.com/parley-lab/parley/signaling/store"
)

// allGroupsEnded is what show, participants and watch say when every
// group's discussion is over but the session is still open.
func allGroupsEnded(s server.SessionView) string {
	if !s.AllGroupsEnded || s.State == store.SessionEnded {
		return ""
	}
	return fmt.Sprintf("all %s have ended; the session is still %s (parley session end %s closes it)", plural(s.Groups, "group"), s.State, s.Code)
}

// printAllEnded says so under the participants table when every group
// of session code has ended.
func printAllEnded(w io.Writer, c *apiClient, code string) error {
	var buf bytes.Buffer
	if err := c.do("GET", "/api/sessions/"+code, nil, &buf); err != nil {
		return err
	}
	var s server.SessionView
	if err := json.Unmarshal(buf.Bytes(), &s); err != nil {
		return err
	}
	if note := allGroupsEnded(s); note != "" {
		fmt.Fprintln(w, note)
	}
	return nil
}

func printSessionResult(w io.Writer, sub string, data []byte) error {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	defer tw.Flush()
	switch sub {
	case "list":
		var ss []server.SessionView
		if err := json.Unmarshal(data, &ss); err != nil {
			return err
		}
		fmt.Fprintln(tw, "CODE\tROOM\tSTATE\tDURATION\tMATCHING\tPARTICIPANTS\tCONNECTED\tGROUPS\tCREATED")
		for _, s := range ss {
			state := s.State
			if s.AllGroupsEnded && s.State != "ended" {
				state += " (all groups ended)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%ds\t%s\t%d\t%d\t%d\t%s\n", s.Code, s.Room, state, s.Settings.DurationS, s.Settings.Matching,
				s.Participants, s.Connected, s.Groups, s.CreatedAt.Local().Format("2006-01-02 15:04"))
		}
	case "participants":
		var ps []server.ParticipantView
		if err := json.Unmarshal(data, &ps); err != nil {
			return err
		}
		fmt.Fprintln(tw, "#\tCODE\tSEAT\tPSEUDONYM\tCONNECTED\tSTATE\tGROUP\tTIME LEFT\tCONSENT\tRECORDING")
		for _, p := range ps {
			left := ""
			if p.TimeLeftS != nil {
				left = fmt.Sprintf("%.0fs", *p.TimeLeftS)
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%v\t%s\t%d\t%s\t%s\t%s\n", p.IDInSession, p.Code, p.Seat, p.Pseudonym, p.Connected, p.State, p.Group, left,
				consentCell(p), recordingCell(p.Recording))
		}
	case "post":
		var m server.APIMessage
		if err := json.Unmarshal(data, &m); err != nil {
			return err
		}
		fmt.Fprintf(tw, "posted %s to %s (seq %d)\n", m.ID, m.Channel, m.Seq)
	case "end-group", "pause", "resume", "pair", "time":
		var gs []server.GroupView
		if sub == "time" {
			if err := json.Unmarshal(data, &gs); err != nil {
				return err
			}
		} else {
			var g server.GroupView
			if err := json.Unmarshal(data, &g); err != nil {
				return err
			}
			gs = []server.GroupView{g}
		}
		if len(gs) == 0 {
			fmt.Fprintln(tw, "no discussion is running: nothing was changed")
		}
		for _, g := range gs {
			left := ""
			if g.TimeLeftS != nil {
				left = fmt.Sprintf(", %.0fs left", *g.TimeLeftS)
			}
			fmt.Fprintf(tw, "group %d (%s): %s%s\n", g.Num, strings.Join(g.Seats, ", "), g.State, left)
		}
	case "remove":
		var p server.ParticipantView
		if err := json.Unmarshal(data, &p); err != nil {
			return err
		}
		fmt.Fprintf(tw, "%s (%s) removed\n", p.Seat, p.Code)
	case "start":
		var sv server.StartView
		if err := json.Unmarshal(data, &sv); err != nil {
			return err
		}
		fmt.Fprintf(tw, "session %s started: %s formed now, %d left without a group\n", sv.Code, plural(len(sv.Paired), "group"), len(sv.LeftOver))
		for i, seats := range sv.Paired {
			fmt.Fprintf(tw, "  paired %d: %s\n", i+1, strings.Join(seats, ", "))
		}
		if len(sv.LeftOver) > 0 {
			fmt.Fprintf(tw, "  left over: %s\n", strings.Join(sv.LeftOver, ", "))
		}
	default:
		var s server.SessionView
		if err := json.Unmarshal(data, &s); err != nil {
			return err
		}
		fmt.Fprintf(tw, "session %s in room %s: %s (duration %ds, matching %s, record %s, %d participants)\n", s.Code, s.Room, s.State, s.Settings.DurationS, s.Settings.Matching, s.Settings.Record, s.Participants)
		if note := allGroupsEnded(s); note != "" {
			fmt.Fprintln(tw, note)
		}
	}
	return nil
}

// plural is "1 group", "2 groups".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// consentCell is a participant's consent as the table shows it: given,
// declined, or — (not answered, or the session records nothing).
func consentCell(p server.ParticipantView) string {
	if p.Consent == "" {
		return "—"
	}
	return p.Consent
}

// recordingCell is a participant's recording: whether a segment is being
// recorded, and segments uploaded of those declared.
func recordingCell(r *server.RecordingView) string {
	if r == nil {
		return "—"
	}
	now := "not recording"
	if r.Recording {
		now = "recording"
	}
	return fmt.Sprintf("%s, %d/%d uploaded", now, r.Uploaded, r.Declared)
}
