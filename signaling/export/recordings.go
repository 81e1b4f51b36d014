package export

// recordings.go: the recordings export: one row per segment a kiosk
// declared, with where its file is and how much of it the server holds.

import (
	"strconv"
	"strings"

	"github.com/parley-lab/parley/signaling/store"
)

// Upload states (RecordingRow.UploadState).
const (
	UploadDeclared = "declared" // described, no byte acknowledged yet
	UploadPartial  = "partial"  // some bytes held, not all
	UploadComplete = "complete" // all bytes held, checksum verified
)

// RecordingColumns are the CSV header of a recordings export.
var RecordingColumns = []string{
	"session_code", "participant_code", "seat", "group", "seq", "segment_id",
	"start_iso", "start_ms", "end_iso", "end_ms", "duration_s",
	"mode", "codecs", "width", "height", "size_bytes", "sha256", "path",
	"upload_state", "received_bytes", "repaired", "end_reason", "dropped",
	"discussion_start_ms", "offset_s", "gap_before_s",
}

// RecordingRow is one exported segment. Path is relative to the server's
// data directory (the final name; while partial the bytes are in Path +
// ".part").
type RecordingRow struct {
	SessionCode     string  `json:"session_code"`
	ParticipantCode string  `json:"participant_code"`
	Seat            string  `json:"seat"`
	Group           *int    `json:"group"`
	Seq             int     `json:"seq"`
	SegmentID       string  `json:"segment_id"`
	StartISO        string  `json:"start_iso"`
	StartMS         int64   `json:"start_ms"`
	EndISO          string  `json:"end_iso"`
	EndMS           int64   `json:"end_ms"`
	DurationS       float64 `json:"duration_s"`
	Mode            string  `json:"mode"`
	Codecs          string  `json:"codecs"` // joined with '+'
	Width           int     `json:"width"`
	Height          int     `json:"height"`
	SizeBytes       int64   `json:"size_bytes"`
	SHA256          string  `json:"sha256"`
	Path            string  `json:"path"`
	UploadState     string  `json:"upload_state"`
	ReceivedBytes   int64   `json:"received_bytes"`
	Repaired        bool    `json:"repaired"`
	EndReason       string  `json:"end_reason"`
	Dropped         int     `json:"dropped"`
	// DiscussionStartMS is when the group's discussion clock started;
	// OffsetS is where the segment starts on that clock (negative: before
	// it), so two speakers' files line up; GapBeforeS is the time since the
	// participant's previous segment ended (nil for the first).
	DiscussionStartMS *int64   `json:"discussion_start_ms"`
	OffsetS           *float64 `json:"offset_s"`
	GapBeforeS        *float64 `json:"gap_before_s"`
}

func recordingRow(r store.Recording, l lookup) RecordingRow {
	row := RecordingRow{
		SessionCode: r.Session, Seq: r.Seq, SegmentID: r.ID,
		StartISO: isoMS(r.StartMS), StartMS: r.StartMS, EndISO: isoMS(r.EndMS), EndMS: r.EndMS,
		DurationS: float64(r.EndMS-r.StartMS) / 1000, Mode: r.Mode, Codecs: strings.Join(r.Codecs, "+"),
		Width: r.Width, Height: r.Height, SizeBytes: r.Size, SHA256: r.SHA256, Path: strings.ReplaceAll(r.Path, "\\", "/"),
		ReceivedBytes: r.Received, Repaired: r.Repaired, EndReason: r.EndReason, Dropped: r.Dropped,
	}
	switch {
	case r.CompleteMS != 0:
		row.UploadState = UploadComplete
	case r.Received > 0:
		row.UploadState = UploadPartial
	default:
		row.UploadState = UploadDeclared
	}
	gid := r.Group
	if p, ok := l.parts[r.Participant]; ok {
		row.ParticipantCode, row.Seat = p.Code, p.Seat
		if gid == "" {
			gid = p.GroupID
		}
	}
	if g, ok := l.groups[gid]; ok {
		num := g.Num
		row.Group = &num
		if start := g.ClockStartedMS; start != 0 {
			off := float64(r.StartMS-start) / 1000
			row.DiscussionStartMS, row.OffsetS = &start, &off
		}
	}
	return row
}

func writeRecordings(out *sink, st *store.Store, sessions []string) error {
	if err := out.header(RecordingColumns); err != nil {
		return err
	}
	for _, code := range sessions {
		l, err := load(st, code)
		if err != nil {
			return err
		}
		recs, err := st.Recordings(code)
		if err != nil {
			return err
		}
		prevEnd := map[string]int64{} // by participant: segments come in order of seq
		for _, rec := range recs {
			r := recordingRow(rec, l)
			if end, ok := prevEnd[rec.Participant]; ok {
				gap := float64(rec.StartMS-end) / 1000
				r.GapBeforeS = &gap
			}
			prevEnd[rec.Participant] = rec.EndMS
			if err := out.row(r, []string{
				r.SessionCode, r.ParticipantCode, r.Seat, optInt(r.Group), strconv.Itoa(r.Seq), r.SegmentID,
				r.StartISO, strconv.FormatInt(r.StartMS, 10), r.EndISO, strconv.FormatInt(r.EndMS, 10), strconv.FormatFloat(r.DurationS, 'f', 3, 64),
				r.Mode, r.Codecs, strconv.Itoa(r.Width), strconv.Itoa(r.Height), strconv.FormatInt(r.SizeBytes, 10), r.SHA256, r.Path,
				r.UploadState, strconv.FormatInt(r.ReceivedBytes, 10), strconv.FormatBool(r.Repaired), r.EndReason, strconv.Itoa(r.Dropped),
				optInt64(r.DiscussionStartMS), optFloat(r.OffsetS), optFloat(r.GapBeforeS),
			}); err != nil {
				return err
			}
		}
	}
	return out.flush()
}

func optInt64(p *int64) string {
	if p == nil {
		return ""
	}
	return strconv.FormatInt(*p, 10)
}
