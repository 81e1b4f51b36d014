package server

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/parley-lab/parley/signaling/protocol"
)

// FuzzDecodeSegment: the PUT body decoder never panics, and whatever it
// accepts is a segment the upload can store safely.
func FuzzDecodeSegment(f *testing.F) {
	w := protocol.Welcome{Session: "S1", ParticipantID: "p_1"}
	good, _ := json.Marshal(segmentOf(w, 1, []byte("webm"), true))
	f.Add(good)
	f.Add([]byte(`{"id":"../../etc","seq":1}`))
	f.Add([]byte(`{"id":"a","seq":1,"size":-1}`))
	f.Add([]byte(`{} {}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		seg, ref := decodeSegment(bytes.NewReader(body))
		if ref != nil {
			if ref.body.Code == "" || ref.body.Message == "" || ref.status < 400 {
				t.Fatalf("refusal without code or message: %+v", ref)
			}
			return
		}
		if checkSegmentID(seg.ID) != nil || strings.ContainsAny(seg.ID, "/\\.") || seg.Seq < 1 ||
			seg.Size < 1 || seg.Size > protocol.MaxSegmentBytes || len(seg.SHA256) != 64 || seg.EndMS < seg.StartMS {
			t.Fatalf("accepted a bad segment: %+v", seg)
		}
	})
}
