package server

// segment.go: reading and checking a segment's description (the body of
// PUT /recordings/{id}); every refusal names the field.

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/parley-lab/parley/signaling/protocol"
)

// decodeSegment reads and checks a PUT body; the refusal names the field.
func decodeSegment(r io.Reader) (protocol.Segment, *refusal) {
	var seg protocol.Segment
	if err := decodeJSON(r, &seg); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return seg, refuse(http.StatusRequestEntityTooLarge, protocol.CodeTooLarge, "the segment's description is over %d bytes", maxSegmentBody)
		}
		if field := protocol.ErrorField(err); field != "" {
			return seg, fieldRefusal(field, "%v", err)
		}
		return seg, fieldRefusal("body", "the body is not a segment description: %s", protocol.DescribeJSONError(err, ""))
	}
	return seg, checkSegment(seg)
}

func fieldRefusal(field, format string, a ...any) *refusal {
	return refuse(http.StatusBadRequest, protocol.CodeBadField, "%s: %s", field, fmt.Sprintf(format, a...))
}

// checkSegment checks a declared segment's fields.
func checkSegment(seg protocol.Segment) *refusal {
	if err := checkSegmentID(seg.ID); err != nil {
		return fieldRefusal("id", "%v", err)
	}
	switch {
	case seg.Seq < 1:
		return fieldRefusal("seq", "must be 1 or more, got %d", seg.Seq)
	case seg.Session == "":
		return fieldRefusal("session", "is empty")
	case seg.Participant == "":
		return fieldRefusal("participant", "is empty")
	case seg.Mode != protocol.RecordAudio && seg.Mode != protocol.RecordAudioVideo:
		return fieldRefusal("mode", "must be %q or %q, got %q", protocol.RecordAudio, protocol.RecordAudioVideo, seg.Mode)
	case seg.Container != protocol.ContainerWebM:
		return fieldRefusal("container", "must be %q, got %q", protocol.ContainerWebM, seg.Container)
	case len(seg.Codecs) == 0:
		return fieldRefusal("codecs", "names no codec")
	case seg.Size > protocol.MaxSegmentBytes:
		return refuse(http.StatusRequestEntityTooLarge, protocol.CodeTooLarge, "size: %d bytes is over the %d a segment may have", seg.Size, int64(protocol.MaxSegmentBytes))
	case seg.Size < 1:
		return fieldRefusal("size", "must be 1 or more bytes, got %d", seg.Size)
	case seg.EndMS < seg.StartMS:
		return fieldRefusal("end_ms", "%d is before start_ms %d", seg.EndMS, seg.StartMS)
	case seg.Width < 0 || seg.Height < 0:
		return fieldRefusal("width", "the picture size %dx%d is negative", seg.Width, seg.Height)
	case seg.VideoFrames < 0 || seg.AudioPackets < 0 || seg.Dropped < 0:
		return fieldRefusal("video_frames", "counts may not be negative")
	case seg.EndReason != "" && !knownEndReason(seg.EndReason):
		return fieldRefusal("end_reason", "%q is not %s", seg.EndReason, endReasonList)
	}
	seen := map[string]bool{}
	for _, c := range seg.Codecs {
		if c != protocol.CodecVP8 && c != protocol.CodecOpus {
			return fieldRefusal("codecs", "%q is not %q or %q", c, protocol.CodecVP8, protocol.CodecOpus)
		}
		if seen[c] {
			return fieldRefusal("codecs", "%q is named twice", c)
		}
		seen[c] = true
	}
	if len(seg.SHA256) != sha256.Size*2 || strings.ToLower(seg.SHA256) != seg.SHA256 {
		return fieldRefusal("sha256", "must be %d lower-case hex digits", sha256.Size*2)
	}
	if _, err := hex.DecodeString(seg.SHA256); err != nil {
		return fieldRefusal("sha256", "must be %d lower-case hex digits", sha256.Size*2)
	}
	return nil
}

// decodeJSON decodes one JSON value. Unknown fields are allowed: a newer
// kiosk may describe more than this server stores.
func decodeJSON(r io.Reader, v any) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	// Checked as a kiosk's frames are: text that is not UTF-8 is refused,
	// never stored with U+FFFD in its place.
	if err := protocol.CheckUTF8(raw); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("more than one JSON value")
	}
	return nil
}
