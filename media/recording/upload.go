package recording

// upload.go: finished segments go to the lab server (PROTOCOL.md,
// "Recordings"): declared, sent in chunks from where the server's copy
// ends, and deleted here only once the server has confirmed the SHA-256.
// A failure is retried with a growing pause, and at once whenever the
// engine says the server is reachable again.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/parley-lab/parley/signaling/protocol"
)

// Upload limits.
const (
	// UploadChunk is one PATCH's body: a second of a 100 Mb/s link, far
	// below protocol.MaxUploadChunk.
	UploadChunk = 1 << 20
	// UploadRequestTimeout bounds one request.
	UploadRequestTimeout = time.Minute
	// UploadRetryMin and UploadRetryMax bound the pause after a failure.
	UploadRetryMin = 2 * time.Second
	UploadRetryMax = time.Minute
)

// errRefused is a refusal that sending again cannot change.
var errRefused = errors.New("refused")

// Upload asks for an upload round now (the server is reachable, or a
// segment was finished).
func (r *Recorder) Upload() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

func (r *Recorder) uploadLoop() {
	defer close(r.stopped)
	pause := UploadRetryMin
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	for {
		select {
		case <-r.quit:
			return
		case <-r.kick:
		case <-retry.C:
		}
		if err := r.uploadAll(); err != nil {
			if r.ctx.Err() != nil {
				return // closing: the segment goes at the next start
			}
			r.log.Warn("recording upload will be retried", "in", pause, "err", err)
			retry.Reset(pause)
			pause = min(2*pause, UploadRetryMax)
			continue
		}
		retry.Stop()
		pause = UploadRetryMin
	}
}

// job is one segment to upload, copied out of its manifest.
type job struct {
	m     *manifest
	seg   protocol.Segment
	path  string
	base  string
	token string
}

// uploadAll uploads every finished segment, oldest first; it stops at the
// first failure that may pass (the server down, its disk full).
func (r *Recorder) uploadAll() error {
	r.mu.Lock()
	var jobs []job
	for _, m := range r.manifests {
		for _, e := range m.Segments {
			if e.State == stateClosed {
				jobs = append(jobs, job{m: m, seg: e.Segment, path: filepath.Join(m.dir, e.File), base: m.Server, token: m.Token})
			}
		}
	}
	r.mu.Unlock()
	for _, j := range jobs {
		select {
		case <-r.quit:
			return nil
		default:
		}
		err := r.upload(j)
		switch {
		case err == nil:
			r.done(j, stateUploaded, "")
		case errors.Is(err, errRefused):
			r.log.Error("the server refused a recording segment; it stays on this workstation", "segment", j.seg.ID, "err", err)
			r.done(j, stateRefused, err.Error())
		default:
			return err
		}
	}
	return nil
}

// done records a segment's upload result; an uploaded one's file is
// deleted, and a participant whose discussion is over and whose every
// segment is uploaded leaves nothing here.
func (r *Recorder) done(j job, state, refusal string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := j.m
	for i := range m.Segments {
		e := &m.Segments[i]
		if e.ID != j.seg.ID {
			continue
		}
		if e.Final != j.seg.Final {
			return // marked final meanwhile: it goes again
		}
		e.State, e.Refusal = state, refusal
	}
	if state == stateUploaded {
		if err := os.Remove(j.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			r.log.Warn("an uploaded recording segment could not be deleted here", "path", j.path, "err", err)
		}
		r.log.Info("recording segment uploaded", "segment", j.seg.ID, "seq", j.seg.Seq, "bytes", j.seg.Size)
	}
	if m.Ended && m.pending() == 0 && !hasRefused(m) {
		if err := os.RemoveAll(m.dir); err != nil {
			r.log.Warn("a participant's recording directory could not be removed", "dir", m.dir, "err", err)
		}
		delete(r.manifests, m.dir)
		return
	}
	if err := m.save(); err != nil {
		r.log.Error("recording manifest", "err", err)
	}
}

func hasRefused(m *manifest) bool {
	for _, e := range m.Segments {
		if e.State == stateRefused {
			return true
		}
	}
	return false
}

// upload sends one segment: declare, then the chunks from where the
// server's copy ends.
func (r *Recorder) upload(j job) error {
	st, err := r.call(http.MethodPut, j, "", j.seg)
	if err != nil {
		return err
	}
	if st.Complete {
		return nil
	}
	f, err := os.Open(j.path)
	if err != nil {
		return fmt.Errorf("%w: the segment's file: %v", errRefused, err)
	}
	defer f.Close()
	buf := make([]byte, UploadChunk)
	for off := st.Received; !st.Complete; off = st.Received {
		if off > j.seg.Size {
			return fmt.Errorf("%w: the server holds %d bytes of %d", errRefused, off, j.seg.Size)
		}
		n, err := f.ReadAt(buf[:min(int64(len(buf)), j.seg.Size-off)], off)
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("%w: reading the segment: %v", errRefused, err)
		}
		st, err = r.call(http.MethodPatch, j, "?offset="+strconv.FormatInt(off, 10), buf[:n])
		var bad *uploadError
		if errors.As(err, &bad) && bad.Code == protocol.CodeBadOffset && bad.Status != nil {
			st = *bad.Status // resume from the server's copy
			continue
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// uploadError is the server's refusal.
type uploadError struct {
	protocol.UploadError
	http int
}

func (e *uploadError) Error() string {
	return fmt.Sprintf("%s (%d %s): %s", e.Code, e.http, http.StatusText(e.http), e.Message)
}

// call makes one request; a refusal that resending cannot change wraps
// errRefused.
func (r *Recorder) call(method string, j job, query string, body any) (protocol.UploadStatus, error) {
	var rd io.Reader
	ctype := "application/octet-stream"
	switch b := body.(type) {
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			return protocol.UploadStatus{}, err
		}
		rd, ctype = bytes.NewReader(raw), "application/json"
	}
	req, err := http.NewRequestWithContext(r.ctx, method, j.base+protocol.RecordingsPath+url.PathEscape(j.seg.ID)+query, rd)
	if err != nil {
		return protocol.UploadStatus{}, fmt.Errorf("%w: %v", errRefused, err)
	}
	req.Header.Set("Authorization", "Bearer "+j.token)
	req.Header.Set("Content-Type", ctype)
	resp, err := r.cfg.Client.Do(req)
	if err != nil {
		return protocol.UploadStatus{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return protocol.UploadStatus{}, err
	}
	if resp.StatusCode == http.StatusOK {
		var st protocol.UploadStatus
		if err := json.Unmarshal(raw, &st); err != nil {
			return st, fmt.Errorf("the server's answer to an upload: %v", err)
		}
		return st, nil
	}
	e := &uploadError{http: resp.StatusCode}
	if json.Unmarshal(raw, &e.UploadError) != nil || e.Code == "" {
		e.Code, e.Message = protocol.CodeInternal, strings.TrimSpace(string(raw))
	}
	switch e.Code {
	case protocol.CodeBadToken, protocol.CodeNotYours, protocol.CodeNoSegment, protocol.CodeUploadConflict,
		protocol.CodeTooLarge, protocol.CodeBadField, protocol.CodeNotRecorded:
		return protocol.UploadStatus{}, fmt.Errorf("%w: %w", errRefused, e)
	}
	// disk_full, bad_checksum (sent again from the start), internal, a
	// proxy's 5xx: later.
	return protocol.UploadStatus{}, e
}

// uploadBase is the HTTP base of a kiosk websocket URL.
func uploadBase(ws string) string {
	u, err := url.Parse(ws)
	if err != nil {
		return ws
	}
	switch u.Scheme {
	case "ws":
		u.Scheme = "http"
	case "wss":
		u.Scheme = "https"
	}
	u.Path, u.RawQuery, u.Fragment = "", "", ""
	return strings.TrimSuffix(u.String(), "/")
}
