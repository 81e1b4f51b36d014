// Package recording keeps a participant's recording on this workstation:
// one segment per call, written by media/record from the encoded frames
// and packets the kit sends (no second encoder); each participant's
// manifest of segments and the gaps between them; recovery of segments a
// crash cut short; and the upload of finished segments to the lab server,
// which is the only place a segment is deleted from here after.
//
// On disk: <Dir>/<session>/<participant id>/manifest.json and
// NNN-<segment id>.webm, readable by the kiosk's user only.
package recording

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/parley-lab/parley/media/record"
	"github.com/parley-lab/parley/signaling/protocol"
)

// Sink takes what is sent (media/local hands it the kit's through a
// kit.Tap): each VP8 frame and when its picture was captured, each Opus
// packet and when its first sample was.
type Sink interface {
	Video(frame []byte, at time.Time)
	Audio(packet []byte, at time.Time)
}

// Config configures a Recorder.
type Config struct {
	// Dir holds every participant's recording on this workstation.
	Dir string
	// Attach hands a segment to the media being sent, from a keyframe;
	// nil detaches (media/local installs a kit.Tap).
	Attach func(Sink)
	// Video and Audio: what this workstation sends at all (a kiosk without
	// a camera records audio only); Width and Height the pictures' size.
	Video, Audio  bool
	Width, Height int
	// Client makes the uploads (default: one with UploadRequestTimeout).
	Client *http.Client
	Log    *slog.Logger
	// Now is the clock; tests inject one.
	Now func() time.Time
}

// Start is what a segment needs to know of its participant and server.
type Start struct {
	// Server is the lab server's kiosk websocket URL (ws:// or wss://);
	// uploads go to the same host.
	Server      string
	Token       string
	Session     string
	Participant string
	Group       string
	// Mode is protocol.RecordAudio or RecordAudioVideo.
	Mode string
	// Offset is the server's clock minus this workstation's.
	Offset time.Duration
}

// SegmentLead puts a segment's time zero this far before the call
// connected: the first picture (the keyframe the segment asks for, maybe
// captured before it opened) then sits at its own time in the file.
const SegmentLead = 100 * time.Millisecond

// ErrRecording is returned for a request that cannot be recorded.
var ErrRecording = errors.New("recording")

// Recorder writes and uploads segments. Its methods are safe from any
// goroutine.
type Recorder struct {
	cfg Config
	log *slog.Logger

	mu        sync.Mutex
	manifests map[string]*manifest // by directory
	cur       *openSegment
	recovered map[string][]protocol.RecordingState // stop reports of recovered segments, by participant

	kick    chan struct{}
	quit    chan struct{}
	stopped chan struct{}
	closing sync.Once
	// ctx ends with Close: an upload request under way is cancelled.
	ctx    context.Context
	cancel context.CancelFunc
}

type openSegment struct {
	m      *manifest
	idx    int
	w      *record.Writer
	offset time.Duration
}

// Open opens the recordings in cfg.Dir, recovers the segments a crash
// left open, and starts uploading what is finished.
func Open(cfg Config) (*Recorder, error) {
	if cfg.Dir == "" {
		return nil, fmt.Errorf("%w: no directory for recordings", ErrRecording)
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: UploadRequestTimeout}
	}
	if cfg.Attach == nil {
		cfg.Attach = func(Sink) {}
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrRecording, err)
	}
	r := &Recorder{cfg: cfg, log: cfg.Log, manifests: map[string]*manifest{}, recovered: map[string][]protocol.RecordingState{},
		kick: make(chan struct{}, 1), quit: make(chan struct{}), stopped: make(chan struct{})}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	dirs, _ := filepath.Glob(filepath.Join(cfg.Dir, "*", "*", manifestName))
	for _, path := range dirs {
		m, err := loadManifest(filepath.Dir(path))
		if err != nil {
			r.log.Error("a recording manifest cannot be read; its segments stay on disk", "err", err)
			continue
		}
		r.manifests[m.dir] = m
		r.recoverLocked(m)
	}
	go r.uploadLoop()
	r.Upload()
	return r, nil
}

// recoverLocked finishes every segment of m that a crash left open.
func (r *Recorder) recoverLocked(m *manifest) {
	changed := false
	for i := range m.Segments {
		e := &m.Segments[i]
		if e.State != stateRecording {
			continue
		}
		changed = true
		path := filepath.Join(m.dir, e.File)
		rec, err := record.Recover(path)
		if err != nil {
			e.State, e.Refusal = stateRefused, "not recoverable: "+err.Error()
			r.log.Error("a recording segment cut short cannot be recovered; it stays on disk", "segment", e.ID, "err", err)
			continue
		}
		e.EndMS = e.StartMS + rec.LastMS
		e.VideoFrames, e.AudioPackets = rec.VideoFrames, rec.AudioPackets
		e.Repaired, e.EndReason = !rec.Closed, protocol.SegmentCrash
		if err := r.checksum(e, path); err != nil {
			e.State, e.Refusal = stateRefused, err.Error()
			continue
		}
		e.State = stateClosed
		r.log.Info("recording segment recovered after a crash", "segment", e.ID, "seq", e.Seq, "cut_bytes", rec.Cut,
			"duration", time.Duration(rec.LastMS)*time.Millisecond)
		r.recovered[m.Participant] = append(r.recovered[m.Participant], protocol.RecordingState{
			Segment: e.ID, Seq: e.Seq, State: protocol.RecordingStopped, Reason: protocol.SegmentCrash, AtMS: e.EndMS})
	}
	if changed {
		if err := m.save(); err != nil {
			r.log.Error("recording manifest", "err", err)
		}
	}
}

// checksum sets e's size and SHA-256 from the file at path.
func (r *Recorder) checksum(e *entry, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrRecording, err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrRecording, err)
	}
	e.Size, e.SHA256 = n, hex.EncodeToString(h.Sum(nil))
	return nil
}

// manifestLocked is the participant's manifest, made if new.
func (r *Recorder) manifestLocked(s Start) (*manifest, error) {
	dir := filepath.Join(r.cfg.Dir, safeName(s.Session), safeName(s.Participant))
	if m := r.manifests[dir]; m != nil {
		m.Server, m.Token = uploadBase(s.Server), s.Token
		return m, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrRecording, err)
	}
	m := &manifest{Session: s.Session, Participant: s.Participant, Server: uploadBase(s.Server), Token: s.Token, dir: dir}
	r.manifests[dir] = m
	return m, nil
}

// Start opens a segment of the call that just connected and attaches it to
// the media sent; the report is for the server.
func (r *Recorder) Start(s Start) (protocol.RecordingState, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cur != nil {
		return protocol.RecordingState{}, fmt.Errorf("%w: a segment is being written already", ErrRecording)
	}
	t := record.Tracks{Video: r.cfg.Video && s.Mode == protocol.RecordAudioVideo, Width: r.cfg.Width, Height: r.cfg.Height, Audio: r.cfg.Audio}
	if !t.Video && !t.Audio {
		return protocol.RecordingState{}, fmt.Errorf("%w: this workstation sends nothing to record (no camera and no microphone)", ErrRecording)
	}
	m, err := r.manifestLocked(s)
	if err != nil {
		return protocol.RecordingState{}, err
	}
	id, err := newID()
	if err != nil {
		return protocol.RecordingState{}, err
	}
	seq := len(m.Segments) + 1
	file := fmt.Sprintf("%03d-%s.webm", seq, id)
	now := r.cfg.Now().Add(-SegmentLead)
	w, err := record.Create(filepath.Join(m.dir, file), t, now)
	if err != nil {
		return protocol.RecordingState{}, fmt.Errorf("%w: %v", ErrRecording, err)
	}
	seg := protocol.Segment{ID: id, Seq: seq, Session: s.Session, Participant: s.Participant, Group: s.Group,
		StartMS: now.Add(s.Offset).UnixMilli(), Mode: s.Mode, Container: protocol.ContainerWebM}
	if t.Video {
		seg.Codecs, seg.Width, seg.Height = append(seg.Codecs, protocol.CodecVP8), t.Width, t.Height
	}
	if t.Audio {
		seg.Codecs = append(seg.Codecs, protocol.CodecOpus)
	}
	m.Segments = append(m.Segments, entry{Segment: seg, File: file, State: stateRecording})
	m.Ended = false
	if err := m.save(); err != nil {
		w.Close(now)
		m.Segments = m.Segments[:len(m.Segments)-1]
		return protocol.RecordingState{}, err
	}
	r.cur = &openSegment{m: m, idx: len(m.Segments) - 1, w: w, offset: s.Offset}
	r.cfg.Attach(w)
	r.log.Info("recording", "segment", id, "seq", seq, "mode", s.Mode, "file", filepath.Join(m.dir, file))
	return protocol.RecordingState{Segment: id, Seq: seq, State: protocol.RecordingStarted, AtMS: seg.StartMS}, nil
}

// Recording reports whether a segment is being written.
func (r *Recorder) Recording() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cur != nil
}

// Stop closes the open segment for reason (a protocol.Segment* value);
// final: the participant's discussion is over. ok is false when no segment
// was open (a final stop then marks the participant's last segment final).
func (r *Recorder) Stop(s Start, reason string, final bool) (st protocol.RecordingState, ok bool, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	defer r.Upload()
	cur := r.cur
	if cur == nil {
		if final {
			err = r.endLocked(s)
		}
		return protocol.RecordingState{}, false, err
	}
	r.cur = nil
	r.cfg.Attach(nil)
	now := r.cfg.Now()
	sum, cerr := cur.w.Close(now)
	e := &cur.m.Segments[cur.idx]
	e.EndMS = now.Add(cur.offset).UnixMilli()
	e.VideoFrames, e.AudioPackets, e.Dropped = sum.VideoFrames, sum.AudioPackets, sum.Dropped
	e.EndReason, e.Final = reason, final
	if cerr != nil && !errors.Is(cerr, record.ErrDropped) {
		// The file is cut where the disk failed: recover what it holds.
		r.log.Error("recording segment did not close cleanly; recovering it", "segment", e.ID, "err", cerr)
		if rec, rerr := record.Recover(sum.Path); rerr == nil {
			e.VideoFrames, e.AudioPackets, e.Repaired = rec.VideoFrames, rec.AudioPackets, true
		}
	} else if cerr != nil {
		r.log.Warn("recording segment lost frames: the disk did not keep up", "segment", e.ID, "dropped", sum.Dropped)
	}
	if err := r.checksum(e, sum.Path); err != nil {
		e.State, e.Refusal = stateRefused, err.Error()
	} else {
		e.State = stateClosed
	}
	cur.m.Ended = final
	if err := cur.m.save(); err != nil {
		return protocol.RecordingState{}, true, err
	}
	r.log.Info("recording stopped", "segment", e.ID, "seq", e.Seq, "reason", reason,
		"duration", time.Duration(e.EndMS-e.StartMS)*time.Millisecond, "bytes", e.Size, "video_frames", e.VideoFrames, "audio_packets", e.AudioPackets)
	return protocol.RecordingState{Segment: e.ID, Seq: e.Seq, State: protocol.RecordingStopped, Reason: reason, AtMS: e.EndMS}, true, nil
}

// endLocked marks the participant's discussion over when no segment is
// open (the call was down at the end): its last segment becomes final, and
// goes to the server again if it was uploaded already, so the server knows.
func (r *Recorder) endLocked(s Start) error {
	m := r.manifests[filepath.Join(r.cfg.Dir, safeName(s.Session), safeName(s.Participant))]
	if m == nil || m.Ended {
		return nil
	}
	m.Ended = true
	if e := m.last(); e != nil && !e.Final {
		e.Final = true
		if e.State == stateUploaded {
			e.State = stateClosed // declared again: the server already has its bytes
		}
	}
	return m.save()
}

// Recovered returns, once, the stop reports of participant's segments
// that were recovered after a crash.
func (r *Recorder) Recovered(participant string) []protocol.RecordingState {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.recovered[participant]
	delete(r.recovered, participant)
	return out
}

// Pending counts the segments on this workstation still to be uploaded.
func (r *Recorder) Pending() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, m := range r.manifests {
		n += m.pending()
	}
	return n
}

// StopLimit bounds how long Close waits for the upload loop once its
// request is cancelled: a kiosk that quits never waits for an upload (what
// is not uploaded stays here and goes at the next start).
const StopLimit = 500 * time.Millisecond

// ErrStopTimeout: the upload loop had not stopped within StopLimit.
var ErrStopTimeout = errors.New("the recording upload did not stop in time")

// Close stops uploading, cancelling a request under way, and waits for
// that at most StopLimit; an open segment is closed as at a shutdown.
func (r *Recorder) Close() error {
	r.mu.Lock()
	var err error
	if r.cur != nil {
		r.mu.Unlock()
		_, _, err = r.Stop(Start{}, protocol.SegmentShutdown, false)
	} else {
		r.mu.Unlock()
	}
	r.closing.Do(func() {
		close(r.quit)
		r.cancel()
	})
	t := time.NewTimer(StopLimit)
	defer t.Stop()
	select {
	case <-r.stopped:
	case <-t.C:
		err = errors.Join(err, fmt.Errorf("%w (%v)", ErrStopTimeout, StopLimit))
		r.log.Warn("the recording upload did not stop in time; what is not uploaded goes at the next start", "limit", StopLimit)
	}
	return err
}

func newID() (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("%w: %v", ErrRecording, err)
	}
	return "s" + hex.EncodeToString(b[:]), nil
}

// safeName keeps a server-given name usable as one path element.
func safeName(s string) string {
	out := []byte(s)
	for i, c := range out {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			out[i] = '_'
		}
	}
	if len(out) == 0 {
		return "_"
	}
	return string(out)
}
