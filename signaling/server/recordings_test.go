package server

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/parley-lab/parley/signaling/export"
	"github.com/parley-lab/parley/signaling/protocol"
)

// recordingRoom is a lab room whose sessions record audio and video and
// have no device check.
func recordingConfig(record string) Config {
	return Config{Rooms: []Room{{Name: DefaultRoom, AutoSession: true,
		Defaults: SessionSettings{Record: record, DeviceCheck: protocol.DeviceCheckOff}}}}
}

// startServerWith is startServer with more options.
func startServerWith(t *testing.T, dir string, cfg Config, opts ...Option) *testServer {
	t.Helper()
	cfg.DataDir = dir
	cfg.Listen = "127.0.0.1:0"
	s, err := New(cfg, append([]Option{WithLogger(quietLogger())}, opts...)...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	return &testServer{Server: s, url: "ws://" + s.Addr() + "/ws", base: "http://" + s.Addr()}
}

// consent answers the consent screen and waits for the ack.
func (k *kiosk) consent(given bool) {
	k.t.Helper()
	ref := fmt.Sprintf("consent-%v", given)
	k.send(protocol.TypeConsent, ref, protocol.Consent{Given: given, Language: "en", ID: ref})
	for {
		if env := k.next(protocol.TypeAck); env.Ref == ref {
			return
		}
	}
}

// uploads is a kiosk's HTTP upload client.
type uploads struct {
	t     *testing.T
	base  string
	token string
}

func (ts *testServer) uploads(t *testing.T, token string) *uploads {
	return &uploads{t: t, base: ts.base, token: token}
}

// reply is an upload answer: the status code and the body as both shapes.
type reply struct {
	code   int
	status protocol.UploadStatus
	err    protocol.UploadError
	raw    string
}

func (u *uploads) do(method, path string, body []byte) reply {
	u.t.Helper()
	req, _ := http.NewRequest(method, u.base+path, bytes.NewReader(body))
	if u.token != "" {
		req.Header.Set("Authorization", "Bearer "+u.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		u.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	r := reply{code: resp.StatusCode, raw: string(data)}
	if resp.StatusCode == http.StatusOK {
		json.Unmarshal(data, &r.status)
	} else if err := json.Unmarshal(data, &r.err); err != nil || r.err.Code == "" || r.err.Message == "" {
		u.t.Fatalf("%s %s: %d with a body that is not an UploadError: %q", method, path, resp.StatusCode, data)
	}
	return r
}

func (u *uploads) put(seg protocol.Segment) reply {
	u.t.Helper()
	b, _ := json.Marshal(seg)
	return u.do("PUT", protocol.RecordingsPath+seg.ID, b)
}

func (u *uploads) get(id string) reply {
	u.t.Helper()
	return u.do("GET", protocol.RecordingsPath+id, nil)
}

func (u *uploads) patch(id string, offset int64, chunk []byte) reply {
	u.t.Helper()
	return u.do("PATCH", fmt.Sprintf("%s%s?offset=%d", protocol.RecordingsPath, id, offset), chunk)
}

// want fails unless r has the status code (and, for a refusal, the code).
func (r reply) want(t *testing.T, status int, code string) reply {
	t.Helper()
	if r.code != status || (code != "" && r.err.Code != code) {
		t.Fatalf("answer %d %q, want %d %q: %s", r.code, r.err.Code, status, code, r.raw)
	}
	return r
}

// upload sends data in chunks of n bytes from the status's received.
func (u *uploads) upload(id string, data []byte, n int) protocol.UploadStatus {
	u.t.Helper()
	st := u.get(id).want(u.t, http.StatusOK, "").status
	for !st.Complete {
		end := min(int(st.Received)+n, len(data))
		st = u.patch(id, st.Received, data[st.Received:end]).want(u.t, http.StatusOK, "").status
	}
	return st
}

func segmentBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// segmentOf describes data as a kiosk's segment seq.
func segmentOf(w protocol.Welcome, seq int, data []byte, final bool) protocol.Segment {
	return protocol.Segment{
		ID: fmt.Sprintf("s%d-%s", seq, sha(data)[:8]), Seq: seq, Session: w.Session, Participant: w.ParticipantID,
		StartMS: 1795347004012, EndMS: 1795347304180, Mode: protocol.RecordAudioVideo, Container: protocol.ContainerWebM,
		Codecs: []string{protocol.CodecVP8, protocol.CodecOpus}, Width: 640, Height: 480, Size: int64(len(data)), SHA256: sha(data),
		VideoFrames: 9000, AudioPackets: 15000, EndReason: protocol.SegmentCallEnded, Final: final,
	}
}

// recordingKiosk joins a recording session and consents.
func recordingKiosk(t *testing.T, ts *testServer, name string) *kiosk {
	k := dialKiosk(t, ts.url, name)
	k.join(protocol.JoinRequest{})
	k.consent(true)
	return k
}

func exportRows(t *testing.T, ts *testServer, session, kind string) []map[string]string {
	t.Helper()
	var buf bytes.Buffer
	if err := export.Write(&buf, ts.Store(), export.Options{Session: session, Format: export.CSV, Kind: kind}); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]string
	for _, r := range recs[1:] {
		m := map[string]string{}
		for i, c := range recs[0] {
			m[c] = r[i]
		}
		out = append(out, m)
	}
	return out
}

func TestRecordingUploadInChunks(t *testing.T) {
	checkGoroutines(t)
	dir := t.TempDir()
	ts := startServer(t, dir, recordingConfig(protocol.RecordAudioVideo), nil)
	defer ts.Close()
	a := recordingKiosk(t, ts, "a")
	up := ts.uploads(t, a.welcome.Token)
	data := segmentBytes(10_000)
	seg := segmentOf(a.welcome, 1, data, false)
	st := up.put(seg).want(t, http.StatusOK, "").status
	if st != (protocol.UploadStatus{ID: seg.ID, Size: seg.Size}) {
		t.Fatalf("declared: %+v", st)
	}
	// The same description again is its status; another checksum is a conflict.
	up.put(seg).want(t, http.StatusOK, "")
	other := seg
	other.SHA256 = sha([]byte("other"))
	up.put(other).want(t, http.StatusConflict, protocol.CodeUploadConflict)
	clash := segmentOf(a.welcome, 1, []byte("another file"), false)
	up.put(clash).want(t, http.StatusConflict, protocol.CodeUploadConflict)

	if st := up.upload(seg.ID, data, 3_000); !st.Complete || st.Received != seg.Size {
		t.Fatalf("after the chunks: %+v", st)
	}
	path := filepath.Join(dir, RecordingsDir, a.welcome.Session, ts.codeOf(t, a.id()), "001-"+seg.ID+".webm")
	got, err := os.ReadFile(path)
	if err != nil || sha(got) != seg.SHA256 {
		t.Fatalf("file %s: %v, sha %s, want %s", path, err, sha(got), seg.SHA256)
	}
	if _, err := os.Stat(path + partSuffix); !os.IsNotExist(err) {
		t.Fatalf("the .part file is still there: %v", err)
	}
	// A complete segment answers its status and takes nothing more.
	if st := up.get(seg.ID).want(t, http.StatusOK, "").status; !st.Complete {
		t.Fatalf("GET after completion: %+v", st)
	}
	if st := up.patch(seg.ID, 0, []byte("junk")).want(t, http.StatusOK, "").status; !st.Complete {
		t.Fatalf("PATCH after completion: %+v", st)
	}
	if got2, _ := os.ReadFile(path); !bytes.Equal(got2, data) {
		t.Fatal("a PATCH after completion changed the file")
	}

	rows := exportRows(t, ts, a.welcome.Session, export.Recordings)
	if len(rows) != 1 {
		t.Fatalf("recordings export: %v", rows)
	}
	r := rows[0]
	want := map[string]string{"segment_id": seg.ID, "seq": "1", "upload_state": export.UploadComplete, "size_bytes": "10000", "received_bytes": "10000",
		"sha256": seg.SHA256, "codecs": "V_VP8+A_OPUS", "mode": "audio_video", "duration_s": "300.168", "seat": "seat-a",
		"path":      "recordings/" + a.welcome.Session + "/" + ts.codeOf(t, a.id()) + "/001-" + seg.ID + ".webm",
		"start_iso": "2026-11-22T11:30:04.012Z", "end_reason": "call_ended", "width": "640"}
	for k, v := range want {
		if r[k] != v {
			t.Errorf("recordings export %s = %q, want %q", k, r[k], v)
		}
	}
	var uploaded map[string]any
	for _, e := range exportRows(t, ts, a.welcome.Session, export.Events) {
		if e["kind"] == EvRecordingUploaded {
			json.Unmarshal([]byte(e["data"]), &uploaded)
		}
	}
	if uploaded["segment"] != seg.ID || uploaded["sha256"] != seg.SHA256 || uploaded["size"] != 10000.0 || uploaded["path"] != want["path"] {
		t.Fatalf("events export: recording_uploaded %v", uploaded)
	}
	var ps []ParticipantView
	ts.api(t, "GET", "/api/sessions/"+a.welcome.Session+"/participants", ts.AdminToken(), nil, &ps)
	if ps[0].Consent != protocol.ConsentGiven || ps[0].Recording == nil || ps[0].Recording.Declared != 1 || ps[0].Recording.Uploaded != 1 {
		t.Fatalf("participant view: %+v %+v", ps[0], ps[0].Recording)
	}
}

// codeOf is a participant's code (as exports and recording paths name them).
func (ts *testServer) codeOf(t *testing.T, id string) string {
	t.Helper()
	ts.hub.mu.Lock()
	defer ts.hub.mu.Unlock()
	return ts.hub.codeOf(id)
}

func TestRecordingUploadResumesAfterRestart(t *testing.T) {
	checkGoroutines(t)
	dir := t.TempDir()
	cfg := recordingConfig(protocol.RecordAudioVideo)
	ts := startServer(t, dir, cfg, nil)
	a := recordingKiosk(t, ts, "a")
	token := a.welcome.Token
	data := segmentBytes(9_000)
	seg := segmentOf(a.welcome, 1, data, true)
	up := ts.uploads(t, token)
	up.put(seg).want(t, http.StatusOK, "")
	up.patch(seg.ID, 0, data[:4_000]).want(t, http.StatusOK, "")
	a.close()
	ts.Close()

	ts = startServer(t, dir, cfg, nil)
	defer ts.Close()
	up = ts.uploads(t, token)
	st := up.get(seg.ID).want(t, http.StatusOK, "").status
	if st.Received != 4_000 || st.Complete {
		t.Fatalf("after the restart: %+v", st)
	}
	if st := up.upload(seg.ID, data, 2_500); !st.Complete {
		t.Fatalf("resumed: %+v", st)
	}
	rows := exportRows(t, ts, a.welcome.Session, export.Recordings)
	got, err := os.ReadFile(filepath.Join(dir, rows[0]["path"]))
	if err != nil || sha(got) != seg.SHA256 {
		t.Fatalf("resumed file: %v, sha %s, want %s", err, sha(got), seg.SHA256)
	}
	eventKinds(t, ts, a.welcome.Session, EvRecordingUploaded, EvRecordingComplete)
}

func TestRecordingBadChecksum(t *testing.T) {
	checkGoroutines(t)
	dir := t.TempDir()
	ts := startServer(t, dir, recordingConfig(protocol.RecordAudioVideo), nil)
	defer ts.Close()
	a := recordingKiosk(t, ts, "a")
	up := ts.uploads(t, a.welcome.Token)
	data := segmentBytes(5_000)
	seg := segmentOf(a.welcome, 1, data, false)
	up.put(seg).want(t, http.StatusOK, "")
	bad := bytes.Clone(data)
	bad[4_321] ^= 0xff
	up.patch(seg.ID, 0, bad[:3_000]).want(t, http.StatusOK, "")
	r := up.patch(seg.ID, 3_000, bad[3_000:]).want(t, http.StatusUnprocessableEntity, protocol.CodeBadChecksum)
	if r.err.Status == nil || r.err.Status.Received != 0 {
		t.Fatalf("bad checksum status: %+v", r.err.Status)
	}
	part := filepath.Join(dir, RecordingsDir, a.welcome.Session, ts.codeOf(t, a.id()), "001-"+seg.ID+".webm")
	for _, p := range []string{part, part + partSuffix} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Fatalf("%s kept after a bad checksum: %v", p, err)
		}
	}
	if st := up.get(seg.ID).want(t, http.StatusOK, "").status; st.Received != 0 || st.Complete {
		t.Fatalf("after the discard: %+v", st)
	}
	if st := up.upload(seg.ID, data, 4_000); !st.Complete {
		t.Fatalf("the right bytes: %+v", st)
	}
	if got, _ := os.ReadFile(part); sha(got) != seg.SHA256 {
		t.Fatal("the completed file has the wrong checksum")
	}
}

func TestRecordingRefusals(t *testing.T) {
	checkGoroutines(t)
	ts := startServer(t, t.TempDir(), recordingConfig(protocol.RecordAudioVideo), nil)
	defer ts.Close()
	a := recordingKiosk(t, ts, "a")
	b := recordingKiosk(t, ts, "b")
	upA, upB := ts.uploads(t, a.welcome.Token), ts.uploads(t, b.welcome.Token)
	data := segmentBytes(2_000)
	seg := segmentOf(a.welcome, 1, data, false)
	upA.put(seg).want(t, http.StatusOK, "")

	// B cannot declare a segment as A, nor see A's.
	asA := seg
	asA.ID = "b-as-a"
	upB.put(asA).want(t, http.StatusForbidden, protocol.CodeNotYours)
	otherSession := segmentOf(b.welcome, 1, data, false)
	otherSession.Session = "nosuchsession"
	upB.put(otherSession).want(t, http.StatusForbidden, protocol.CodeNotYours)
	upB.get(seg.ID).want(t, http.StatusNotFound, protocol.CodeNoSegment)
	upB.patch(seg.ID, 0, data).want(t, http.StatusNotFound, protocol.CodeNoSegment)
	// No token, a wrong one, the admin's.
	for _, tok := range []string{"", "not-a-token", ts.AdminToken()} {
		ts.uploads(t, tok).get(seg.ID).want(t, http.StatusUnauthorized, protocol.CodeBadToken)
		ts.uploads(t, tok).put(seg).want(t, http.StatusUnauthorized, protocol.CodeBadToken)
	}
	// A chunk that does not start where the server's copy ends.
	upA.patch(seg.ID, 0, data[:500]).want(t, http.StatusOK, "")
	r := upA.patch(seg.ID, 1_000, data[1_000:]).want(t, http.StatusConflict, protocol.CodeBadOffset)
	if r.err.Status == nil || r.err.Status.Received != 500 {
		t.Fatalf("bad offset status: %+v", r.err.Status)
	}
	upA.patch(seg.ID, 500, nil).want(t, http.StatusOK, "")
	upA.patch(seg.ID, -1, data).want(t, http.StatusBadRequest, protocol.CodeBadField)
	// A chunk over the limit, and one past the declared size.
	big := segmentOf(a.welcome, 2, make([]byte, protocol.MaxUploadChunk+2), false)
	upA.put(big).want(t, http.StatusOK, "")
	upA.patch(big.ID, 0, make([]byte, protocol.MaxUploadChunk+1)).want(t, http.StatusRequestEntityTooLarge, protocol.CodeTooLarge)
	upA.patch(seg.ID, 500, make([]byte, 2_000)).want(t, http.StatusRequestEntityTooLarge, protocol.CodeTooLarge)
	if st := upA.get(seg.ID).want(t, http.StatusOK, "").status; st.Received != 500 {
		t.Fatalf("refusals changed the copy: %+v", st)
	}
	upA.get("never-declared").want(t, http.StatusNotFound, protocol.CodeNoSegment)
	upA.do("GET", protocol.RecordingsPath+"a/b", nil).want(t, http.StatusNotFound, protocol.CodeNoSegment)
	upA.do("DELETE", protocol.RecordingsPath+seg.ID, nil).want(t, http.StatusMethodNotAllowed, protocol.CodeBadField)

	// Every field is checked, and the refusal names it.
	for field, change := range map[string]func(*protocol.Segment){
		"id":        func(s *protocol.Segment) { s.ID = "../x" },
		"seq":       func(s *protocol.Segment) { s.Seq = 0 },
		"mode":      func(s *protocol.Segment) { s.Mode = "video" },
		"container": func(s *protocol.Segment) { s.Container = "mp4" },
		"codecs":    func(s *protocol.Segment) { s.Codecs = []string{"H264"} },
		"size":      func(s *protocol.Segment) { s.Size = 0 },
		"sha256":    func(s *protocol.Segment) { s.SHA256 = "abc" },
		"end_ms":    func(s *protocol.Segment) { s.EndMS = s.StartMS - 1 },
	} {
		s := segmentOf(a.welcome, 3, []byte(field), false)
		change(&s)
		body, _ := json.Marshal(s)
		r := upA.do("PUT", protocol.RecordingsPath+"field-"+field, body).want(t, http.StatusBadRequest, protocol.CodeBadField)
		if !strings.HasPrefix(r.err.Message, field+":") && !strings.HasPrefix(r.err.Message, "id:") {
			t.Errorf("%s: refusal %q does not name the field", field, r.err.Message)
		}
	}
	huge := segmentOf(a.welcome, 3, data, false)
	huge.Size = protocol.MaxSegmentBytes + 1
	upA.put(huge).want(t, http.StatusRequestEntityTooLarge, protocol.CodeTooLarge)
}

func TestRecordingDiskFull(t *testing.T) {
	checkGoroutines(t)
	dir := t.TempDir()
	var full atomic.Bool
	// A full disk takes part of the chunk, then refuses the rest.
	fullDisk := func(f *os.File, b []byte, off int64) (int, error) {
		if full.Load() {
			n, _ := f.WriteAt(b[:len(b)/2], off)
			return n, &os.PathError{Op: "write", Path: f.Name(), Err: syscall.ENOSPC}
		}
		return f.WriteAt(b, off)
	}
	ts := startServerWith(t, dir, recordingConfig(protocol.RecordAudioVideo), withChunkWriter(fullDisk))
	defer ts.Close()
	a := recordingKiosk(t, ts, "a")
	up := ts.uploads(t, a.welcome.Token)
	first := segmentBytes(1_000)
	done := segmentOf(a.welcome, 1, first, false)
	up.put(done).want(t, http.StatusOK, "")
	up.upload(done.ID, first, 1_000)
	data := segmentBytes(6_000)
	seg := segmentOf(a.welcome, 2, data, true)
	up.put(seg).want(t, http.StatusOK, "")
	up.patch(seg.ID, 0, data[:2_000]).want(t, http.StatusOK, "")

	full.Store(true)
	r := up.patch(seg.ID, 2_000, data[2_000:4_000]).want(t, http.StatusInsufficientStorage, protocol.CodeDiskFull)
	if !strings.Contains(r.err.Message, "disk is full") {
		t.Fatalf("disk full message: %q", r.err.Message)
	}
	rows := exportRows(t, ts, a.welcome.Session, export.Recordings)
	part := filepath.Join(dir, rows[1]["path"]) + partSuffix
	if got, err := os.ReadFile(part); err != nil || !bytes.Equal(got, data[:2_000]) {
		t.Fatalf("after disk full the .part holds %d bytes (%v), want the 2000 acknowledged", len(got), err)
	}
	if got, err := os.ReadFile(filepath.Join(dir, rows[0]["path"])); err != nil || !bytes.Equal(got, first) {
		t.Fatalf("disk full touched the complete segment: %v", err)
	}
	if st := up.get(seg.ID).want(t, http.StatusOK, "").status; st.Received != 2_000 {
		t.Fatalf("status after disk full: %+v", st)
	}

	full.Store(false)
	if st := up.upload(seg.ID, data, 2_000); !st.Complete {
		t.Fatalf("after the disk freed: %+v", st)
	}
	eventKinds(t, ts, a.welcome.Session, EvRecordingComplete)
}

func TestRecordingCompleteWebhook(t *testing.T) {
	checkGoroutines(t)
	hooked := make(chan WebhookPayload, 16)
	hookSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p WebhookPayload
		json.NewDecoder(r.Body).Decode(&p)
		hooked <- p
	}))
	defer hookSrv.Close()
	hook := hookSrv.URL
	ts := startServer(t, t.TempDir(), recordingConfig(protocol.RecordAudio), nil)
	defer ts.Close()
	a := recordingKiosk(t, ts, "a")
	code := a.welcome.Session
	if st := ts.api(t, "POST", "/api/sessions/"+code+"/webhooks", ts.AdminToken(), map[string]string{"url": hook}, nil); st != http.StatusOK {
		t.Fatalf("add webhook: %d", st)
	}
	up := ts.uploads(t, a.welcome.Token)
	var segs []protocol.Segment
	var datas [][]byte
	for seq := 1; seq <= 3; seq++ {
		d := segmentBytes(1_000 * seq)
		s := segmentOf(a.welcome, seq, d, seq == 3)
		s.Mode, s.Codecs, s.Width, s.Height, s.VideoFrames = protocol.RecordAudio, []string{protocol.CodecOpus}, 0, 0, 0
		segs, datas = append(segs, s), append(datas, d)
	}
	// An audio session keeps no video.
	video := segmentOf(a.welcome, 9, []byte("video"), false)
	up.put(video).want(t, http.StatusForbidden, protocol.CodeNotRecorded)
	for _, i := range []int{2, 0} { // the final one first, then the first
		up.put(segs[i]).want(t, http.StatusOK, "")
		up.upload(segs[i].ID, datas[i], 1_000)
	}
	up.put(segs[1]).want(t, http.StatusOK, "")
	up.patch(segs[1].ID, 0, datas[1][:1_000]).want(t, http.StatusOK, "")
	eventKinds(t, ts, code, EvRecordingUploaded)
	if n := eventKinds(t, ts, code)[EvRecordingComplete]; n != 0 {
		t.Fatalf("recording_complete with segment 2 missing")
	}
	up.upload(segs[1].ID, datas[1], 1_000)
	if n := eventKinds(t, ts, code, EvRecordingComplete)[EvRecordingComplete]; n != 1 {
		t.Fatalf("%d recording_complete events", n)
	}
	var p WebhookPayload
	select {
	case p = <-hooked:
	case <-time.After(waitTimeout):
		t.Fatal("no webhook for recording_complete")
	}
	if p.Event == nil || p.Event.Kind != EvRecordingComplete || p.Session != code || p.Event.Participant != a.id() {
		t.Fatalf("webhook payload %+v", p)
	}
	var data struct {
		Segments int   `json:"segments"`
		Bytes    int64 `json:"bytes"`
	}
	json.Unmarshal(p.Event.Data, &data)
	if data.Segments != 3 || data.Bytes != 6_000 {
		t.Fatalf("recording_complete data %s", p.Event.Data)
	}
}

// A discussion that ends while the kiosk has no call: its last segment,
// uploaded already, is declared again as final, and that completes the
// participant's recording (once: a third declaration changes nothing).
func TestRecordingFinalDeclaredAfterUpload(t *testing.T) {
	checkGoroutines(t)
	ts := startServer(t, t.TempDir(), recordingConfig(protocol.RecordAudio), nil)
	defer ts.Close()
	a := recordingKiosk(t, ts, "a")
	code := a.welcome.Session
	up := ts.uploads(t, a.welcome.Token)
	d := segmentBytes(2_000)
	s := segmentOf(a.welcome, 1, d, false)
	s.Mode, s.Codecs, s.Width, s.Height, s.VideoFrames = protocol.RecordAudio, []string{protocol.CodecOpus}, 0, 0, 0
	up.put(s).want(t, http.StatusOK, "")
	up.upload(s.ID, d, 1_000)
	eventKinds(t, ts, code, EvRecordingUploaded)
	if n := eventKinds(t, ts, code)[EvRecordingComplete]; n != 0 {
		t.Fatal("recording_complete before any segment was final")
	}
	s.Final = true
	up.put(s).want(t, http.StatusOK, "")
	if n := eventKinds(t, ts, code, EvRecordingComplete)[EvRecordingComplete]; n != 1 {
		t.Fatalf("%d recording_complete events after the final declaration", n)
	}
	up.put(s).want(t, http.StatusOK, "")
	if n := eventKinds(t, ts, code)[EvRecordingComplete]; n != 1 {
		t.Fatalf("%d recording_complete events after declaring it final twice", n)
	}
}
