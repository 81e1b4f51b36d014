package server

// recordings.go: the HTTP upload of recorded segments (protocol/recording.go):
// PUT declares a segment, GET answers how much the server holds, PATCH
// appends a chunk. Authenticated with the participant's resume token. Bytes
// go to <data>/recordings/<session>/<participant code>/<seq>-<id>.webm.part,
// fsynced before the answer; a complete, checksummed file is renamed to its
// final name.

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/parley-lab/parley/signaling/protocol"
	"github.com/parley-lab/parley/signaling/store"
)

// RecordingsDir is the recordings' directory inside the data directory.
const RecordingsDir = "recordings"

// maxSegmentBody bounds a PUT body (a Segment is a few hundred bytes).
const maxSegmentBody = 64 << 10

// partSuffix marks a file still being uploaded.
const partSuffix = ".part"

// chunkWriter writes b at off in f. The uploads write through it so a test
// can make the disk full (withChunkWriter); production writes with WriteAt.
type chunkWriter func(f *os.File, b []byte, off int64) (int, error)

func writeAt(f *os.File, b []byte, off int64) (int, error) { return f.WriteAt(b, off) }

// withChunkWriter replaces how chunks are written (tests only).
func withChunkWriter(w chunkWriter) Option { return func(s *Server) { s.writeChunk = w } }

// segLocks serialises requests on one segment (two PATCHes of the same
// segment must not interleave); other segments go on in parallel.
type segLocks struct {
	mu    sync.Mutex
	locks map[string]*segLock
}

type segLock struct {
	sync.Mutex
	users int
}

func (l *segLocks) lock(key string) func() {
	l.mu.Lock()
	if l.locks == nil {
		l.locks = map[string]*segLock{}
	}
	sl := l.locks[key]
	if sl == nil {
		sl = &segLock{}
		l.locks[key] = sl
	}
	sl.users++
	l.mu.Unlock()
	sl.Lock()
	return func() {
		sl.Unlock()
		l.mu.Lock()
		if sl.users--; sl.users == 0 {
			delete(l.locks, key)
		}
		l.mu.Unlock()
	}
}

// uploader is the participant a request's token names, as the upload needs it.
type uploader struct {
	id, code, session, group string
	record, consent          string   // the session's record setting, the participant's consent
	webhooks                 []string // the session's webhooks that take events
}

// refusal is a refused upload request.
type refusal struct {
	status int
	body   protocol.UploadError
}

func refuse(status int, code, format string, a ...any) *refusal {
	return &refusal{status: status, body: protocol.UploadError{Code: code, Message: fmt.Sprintf(format, a...)}}
}

func (s *Server) recordingRoutes() {
	p := protocol.RecordingsPath + "{id}"
	s.mux.HandleFunc("PUT "+p, s.uploadHandler(s.putSegment))
	s.mux.HandleFunc("GET "+p, s.uploadHandler(s.getSegment))
	s.mux.HandleFunc("PATCH "+p, s.uploadHandler(s.patchSegment))
	// Anything else under the path is answered in JSON too.
	s.mux.HandleFunc(protocol.RecordingsPath, func(w http.ResponseWriter, r *http.Request) {
		ref := refuse(http.StatusNotFound, protocol.CodeNoSegment, "%s is not a segment's path (%s{id})", r.URL.Path, protocol.RecordingsPath)
		if id := strings.TrimPrefix(r.URL.Path, protocol.RecordingsPath); checkSegmentID(id) == nil {
			ref = refuse(http.StatusMethodNotAllowed, protocol.CodeBadField, "method %s: a segment takes PUT, GET or PATCH", r.Method)
		}
		writeJSON(w, ref.status, ref.body)
	})
}

type uploadFunc func(w http.ResponseWriter, r *http.Request, u uploader, id string) (protocol.UploadStatus, *refusal)

// uploadHandler authenticates the participant and writes the answer (and
// logs every refusal with its reason).
func (s *Server) uploadHandler(fn uploadFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		u, ref := s.uploaderOf(r)
		var st protocol.UploadStatus
		if ref == nil {
			if err := checkSegmentID(id); err != nil {
				ref = refuse(http.StatusNotFound, protocol.CodeNoSegment, "%v", err)
			} else {
				st, ref = fn(w, r, u, id)
			}
		}
		if ref != nil {
			s.log.Warn("recording refused", "method", r.Method, "participant", u.id, "segment", id,
				"status", ref.status, "code", ref.body.Code, "reason", ref.body.Message)
			writeJSON(w, ref.status, ref.body)
			return
		}
		writeJSON(w, http.StatusOK, st)
	}
}

// uploaderOf finds the participant whose resume token the request carries.
func (s *Server) uploaderOf(r *http.Request) (uploader, *refusal) {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || token == "" {
		return uploader{}, refuse(http.StatusUnauthorized, protocol.CodeBadToken, "send the participant's resume token as \"Authorization: Bearer <token>\"")
	}
	h := s.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	p := h.byToken[hashToken(token)]
	if p == nil {
		return uploader{}, refuse(http.StatusUnauthorized, protocol.CodeBadToken, "the token is not a participant's of this server")
	}
	u := uploader{id: p.rec.ID, code: p.rec.Code, session: p.sess.rec.Code, group: p.groupID(),
		record: p.sess.settings.Record, consent: p.rec.Consent}
	for _, w := range p.sess.webhooks {
		if w.Channel == "" {
			u.webhooks = append(u.webhooks, w.ID)
		}
	}
	return u, nil
}

func (s *Server) putSegment(w http.ResponseWriter, r *http.Request, u uploader, id string) (protocol.UploadStatus, *refusal) {
	seg, ref := decodeSegment(http.MaxBytesReader(w, r.Body, maxSegmentBody))
	if ref != nil {
		return protocol.UploadStatus{}, ref
	}
	if seg.ID != id {
		return protocol.UploadStatus{}, fieldRefusal("id", "%q is not the id in the path, %q", seg.ID, id)
	}
	if seg.Session != u.session || seg.Participant != u.id || (seg.Group != "" && seg.Group != u.group) {
		return protocol.UploadStatus{}, refuse(http.StatusForbidden, protocol.CodeNotYours, "the segment names another participant, session or group than this token's")
	}
	// Nothing is kept that the participant did not agree to.
	if u.record == protocol.RecordOff || u.consent != protocol.ConsentGiven || (u.record == protocol.RecordAudio && seg.Mode != protocol.RecordAudio) {
		return protocol.UploadStatus{}, refuse(http.StatusForbidden, protocol.CodeNotRecorded,
			"this session records %s and the participant's consent is %q: a %s segment is not kept", u.record, u.consent, seg.Mode)
	}
	unlock := s.segLocks.lock(u.id + "/" + id)
	defer unlock()
	rec := store.Recording{
		Participant: u.id, ID: seg.ID, Session: u.session, Group: u.group, Seq: seg.Seq, StartMS: seg.StartMS, EndMS: seg.EndMS,
		Mode: seg.Mode, Container: seg.Container, Codecs: seg.Codecs, Width: seg.Width, Height: seg.Height, Size: seg.Size,
		SHA256: seg.SHA256, VideoFrames: seg.VideoFrames, AudioPkts: seg.AudioPackets, Dropped: seg.Dropped, EndReason: seg.EndReason,
		Repaired: seg.Repaired, Final: seg.Final, DeclaredMS: ms(s.clock.Now()),
		Path: filepath.Join(RecordingsDir, u.session, u.code, fmt.Sprintf("%03d-%s.webm", seg.Seq, seg.ID)),
	}
	stored, created, err := s.st.DeclareSegment(rec)
	if errors.Is(err, store.ErrSeqTaken) {
		return protocol.UploadStatus{}, refuse(http.StatusConflict, protocol.CodeUploadConflict, "seq %d is already declared under another segment id", seg.Seq)
	}
	if err != nil {
		s.log.Error("store segment", "err", err)
		return protocol.UploadStatus{}, refuse(http.StatusInternalServerError, protocol.CodeInternal, "the server could not store the segment; try again")
	}
	if !created && (stored.Size != seg.Size || stored.SHA256 != seg.SHA256) {
		return protocol.UploadStatus{}, refuse(http.StatusConflict, protocol.CodeUploadConflict,
			"segment %s is declared already with another size or checksum (%d bytes, sha256 %s)", id, stored.Size, stored.SHA256)
	}
	if !created && seg.Final && !stored.Final {
		// The discussion ended while this kiosk had no call: its last
		// segment, sent already, is declared again as the last.
		whole, err := s.st.MarkFinal(u.id, id, ms(s.clock.Now()), s.completion(u, stored, s.clock.Now()))
		if err != nil {
			s.log.Error("store segment final", "err", err)
			return protocol.UploadStatus{}, refuse(http.StatusInternalServerError, protocol.CodeInternal, "the server could not store the segment; try again")
		}
		stored.Final = true
		if whole {
			s.log.Info("recording complete", "session", u.session, "participant", u.id, "last_segment", id)
			s.hooks.wake()
		}
	}
	if created {
		s.hub.mu.Lock()
		if p := s.hub.byID[u.id]; p != nil {
			p.recording.declared++
		}
		s.hub.mu.Unlock()
		s.hub.version.Add(1)
	}
	return s.statusOf(stored), nil
}

func (s *Server) getSegment(w http.ResponseWriter, r *http.Request, u uploader, id string) (protocol.UploadStatus, *refusal) {
	unlock := s.segLocks.lock(u.id + "/" + id)
	defer unlock()
	rec, ref := s.segmentOf(u, id)
	if ref != nil {
		return protocol.UploadStatus{}, ref
	}
	st := s.statusOf(rec)
	if !st.Complete && st.Received == rec.Size {
		return s.finish(u, rec) // a restart came between the last chunk and its check
	}
	return st, nil
}

func (s *Server) segmentOf(u uploader, id string) (store.Recording, *refusal) {
	rec, err := s.st.Segment(u.id, id)
	if errors.Is(err, store.ErrNotFound) {
		return rec, refuse(http.StatusNotFound, protocol.CodeNoSegment, "no segment %q is declared for this participant; PUT its description first", id)
	}
	if err != nil {
		s.log.Error("load segment", "err", err)
		return rec, refuse(http.StatusInternalServerError, protocol.CodeInternal, "the server could not read the segment; try again")
	}
	return rec, nil
}

// statusOf is the server's copy of rec. Received is the .part file's size,
// not the stored column: the file is fsynced before each answer, so after a
// restart its size is exactly what was acknowledged (or a chunk more, whose
// answer was lost: the kiosk's next GET resumes from it), with no database
// write per chunk to keep in step.
func (s *Server) statusOf(rec store.Recording) protocol.UploadStatus {
	st := protocol.UploadStatus{ID: rec.ID, Size: rec.Size}
	if rec.CompleteMS != 0 {
		st.Received, st.Complete = rec.Size, true
		return st
	}
	full := filepath.Join(s.cfg.DataDir, rec.Path)
	if fi, err := os.Stat(full + partSuffix); err == nil {
		st.Received = fi.Size()
	} else if fi, err := os.Stat(full); err == nil && fi.Size() == rec.Size {
		st.Received = rec.Size // renamed, then a restart before it was recorded complete
	}
	return st
}

func (s *Server) patchSegment(w http.ResponseWriter, r *http.Request, u uploader, id string) (protocol.UploadStatus, *refusal) {
	offset, err := strconv.ParseInt(r.URL.Query().Get("offset"), 10, 64)
	if err != nil || offset < 0 {
		return protocol.UploadStatus{}, fieldRefusal("offset", "give the chunk's first byte as ?offset=N (N is the status's received)")
	}
	if _, ref := s.segmentOf(u, id); ref != nil {
		return protocol.UploadStatus{}, ref
	}
	chunk, err := io.ReadAll(http.MaxBytesReader(w, r.Body, protocol.MaxUploadChunk))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return protocol.UploadStatus{}, refuse(http.StatusRequestEntityTooLarge, protocol.CodeTooLarge, "a chunk may have at most %d bytes", protocol.MaxUploadChunk)
		}
		return protocol.UploadStatus{}, refuse(http.StatusBadRequest, protocol.CodeBadField, "body: the chunk could not be read: %v", err)
	}
	unlock := s.segLocks.lock(u.id + "/" + id)
	defer unlock()
	rec, ref := s.segmentOf(u, id)
	if ref != nil {
		return protocol.UploadStatus{}, ref
	}
	st := s.statusOf(rec)
	if st.Complete {
		return st, nil // nothing written: the kiosk may delete its copy
	}
	if offset != st.Received {
		ref := refuse(http.StatusConflict, protocol.CodeBadOffset, "the chunk starts at byte %d but the server holds %d; send from there", offset, st.Received)
		ref.body.Status = &st
		return st, ref
	}
	if end := offset + int64(len(chunk)); end > rec.Size {
		return st, refuse(http.StatusRequestEntityTooLarge, protocol.CodeTooLarge, "the chunk ends at byte %d, past the segment's size of %d", end, rec.Size)
	}
	if len(chunk) > 0 {
		if ref := s.appendChunk(u, rec, offset, chunk); ref != nil {
			return st, ref
		}
		st.Received += int64(len(chunk))
		if err := s.st.SetReceived(u.id, id, st.Received); err != nil {
			s.log.Error("store received", "err", err) // the .part file is the truth; see statusOf
		}
	}
	if st.Received == rec.Size {
		return s.finish(u, rec)
	}
	return st, nil
}

// appendChunk writes chunk at offset in the segment's .part file and syncs
// it. On failure the file is cut back to offset, so the server holds
// exactly what it held before; a full disk deletes nothing.
func (s *Server) appendChunk(u uploader, rec store.Recording, offset int64, chunk []byte) *refusal {
	part := filepath.Join(s.cfg.DataDir, rec.Path) + partSuffix
	if err := os.MkdirAll(filepath.Dir(part), 0o750); err != nil {
		return s.writeRefusal(rec, err)
	}
	f, err := os.OpenFile(part, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return s.writeRefusal(rec, err)
	}
	defer f.Close()
	_, err = s.writeChunk(f, chunk, offset)
	if err == nil {
		err = f.Sync()
	}
	if err != nil {
		if terr := f.Truncate(offset); terr != nil {
			s.log.Error("recording: cut back a failed chunk", "path", part, "err", terr)
		} else {
			f.Sync()
		}
		return s.writeRefusal(rec, err)
	}
	if offset == 0 {
		syncDir(filepath.Dir(part)) // the new .part's name survives a crash
	}
	return nil
}

// writeRefusal answers a failed write: 507 for a full disk or quota.
func (s *Server) writeRefusal(rec store.Recording, err error) *refusal {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		s.log.Error("recording: the disk is full", "segment", rec.ID, "participant", rec.Participant, "err", err)
		return refuse(http.StatusInsufficientStorage, protocol.CodeDiskFull,
			"the server's disk is full; nothing was deleted, keep the recording and try again later")
	}
	s.log.Error("recording: write", "segment", rec.ID, "participant", rec.Participant, "err", err)
	return refuse(http.StatusInternalServerError, protocol.CodeInternal, "the server could not write the chunk; it holds what it held before, try again")
}

// finish checks a fully received segment: the right SHA-256 renames it to
// its final name and records it complete (with recording_complete once the
// participant's final segment and all before it are complete); the wrong
// one discards the copy.
// completion is how a segment's upload, and the participant's whole
// recording, are recorded.
func (s *Server) completion(u uploader, rec store.Recording, now time.Time) store.Completion {
	return store.Completion{
		Uploaded: ev(u.session, u.id, rec.Group, EvRecordingUploaded,
			map[string]any{"segment": rec.ID, "seq": rec.Seq, "size": rec.Size, "sha256": rec.SHA256, "path": filepath.ToSlash(rec.Path)}, now),
		Whole: func(n int, bytes int64) store.Event {
			return ev(u.session, u.id, rec.Group, EvRecordingComplete, map[string]any{"segments": n, "bytes": bytes}, now)
		},
		Webhooks: hooksFor(EvRecordingComplete, u.webhooks),
	}
}

func (s *Server) finish(u uploader, rec store.Recording) (protocol.UploadStatus, *refusal) {
	full := filepath.Join(s.cfg.DataDir, rec.Path)
	src := full + partSuffix
	if _, err := os.Stat(src); err != nil {
		src = full
	}
	sum, err := fileSHA256(src)
	if err != nil {
		s.log.Error("recording: checksum", "path", src, "err", err)
		return protocol.UploadStatus{}, refuse(http.StatusInternalServerError, protocol.CodeInternal, "the server could not read the segment back; try again")
	}
	if sum != rec.SHA256 {
		os.Remove(src)
		syncDir(filepath.Dir(src))
		s.st.SetReceived(u.id, rec.ID, 0)
		st := protocol.UploadStatus{ID: rec.ID, Size: rec.Size}
		ref := refuse(http.StatusUnprocessableEntity, protocol.CodeBadChecksum,
			"the %d bytes received have SHA-256 %s, not the declared %s; they were discarded, send the segment again", rec.Size, sum, rec.SHA256)
		ref.body.Status = &st
		return st, ref
	}
	if src != full {
		if err := os.Rename(src, full); err != nil {
			s.log.Error("recording: rename", "path", src, "err", err)
			return protocol.UploadStatus{}, refuse(http.StatusInternalServerError, protocol.CodeInternal, "the server could not keep the segment; try again")
		}
	}
	if err := syncDir(filepath.Dir(full)); err != nil {
		s.log.Error("recording: sync directory", "path", full, "err", err)
		return protocol.UploadStatus{}, refuse(http.StatusInternalServerError, protocol.CodeInternal, "the server could not keep the segment; try again")
	}
	now := s.clock.Now()
	whole, err := s.st.CompleteSegment(u.id, rec.ID, ms(now), s.completion(u, rec, now))
	if err != nil {
		s.log.Error("store segment complete", "err", err)
		return protocol.UploadStatus{}, refuse(http.StatusInternalServerError, protocol.CodeInternal, "the server could not record the segment complete; try again")
	}
	s.log.Info("recording uploaded", "session", u.session, "participant", u.id, "segment", rec.ID, "seq", rec.Seq, "bytes", rec.Size, "path", rec.Path)
	s.hub.mu.Lock()
	if p := s.hub.byID[u.id]; p != nil {
		p.recording.uploaded++
	}
	s.hub.mu.Unlock()
	s.hub.version.Add(1)
	if whole {
		s.log.Info("recording complete", "session", u.session, "participant", u.id, "last_segment", rec.ID)
		s.hooks.wake()
	}
	return protocol.UploadStatus{ID: rec.ID, Size: rec.Size, Received: rec.Size, Complete: true}, nil
}

// hooksFor is the webhooks an event of kind is posted to.
func hooksFor(kind string, hooks []string) []string {
	if !contains(webhookEvents, kind) {
		return nil
	}
	return hooks
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// syncDir makes a directory's entries (a new or renamed file) durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
