// Package record writes what a participant sends in a call (the encoded
// VP8 frames and Opus packets, the very bytes the partner received) to a
// WebM file, one file per segment, without a second encoder.
//
// A segment is written as it goes: a cluster of about a second at a time,
// each synced to disk once complete, so a kiosk killed or a machine that
// loses power leaves a file that plays up to its last cluster (Repair cuts
// a half-written one off). The caller's goroutine only copies a frame into
// a queue; the file is written on the writer's own goroutine, so a slow
// disk never delays the call.
package record

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Writer limits.
const (
	// ClusterFor is the longest a cluster spans: what a crash can lose.
	ClusterFor = time.Second
	// QueueFrames bounds the frames waiting for the disk (about 10 s of
	// video and audio); beyond it frames are dropped and counted, so a
	// stalled disk never stalls the call.
	QueueFrames = 800
)

// ErrDropped means a segment lost frames because the disk did not keep up.
var ErrDropped = errors.New("recording dropped frames: the disk did not keep up")

// Tracks says what a segment holds.
type Tracks struct {
	Video         bool
	Width, Height int
	Audio         bool
	Channels      int // of the Opus packets (Parley sends mono)
}

// Summary is a closed segment.
type Summary struct {
	Path         string
	Start, End   time.Time
	VideoFrames  int
	AudioPackets int
	Bytes        int64
	Dropped      int
}

// Writer writes one segment. Video, Audio and Close may be called from any
// goroutine.
type Writer struct {
	path   string
	f      *os.File
	tracks Tracks
	start  time.Time
	q      chan block
	done   chan struct{}

	mu      sync.Mutex
	closed  bool
	dropped int
	keyed   bool // a video keyframe was queued: pictures before the first cannot be decoded

	// The writer goroutine's own state (read by Close after done).
	err                  error
	segDataAt            int64 // where the segment's size ends and its data begins
	durationAt           int64
	size                 int64
	cluster              []byte
	clusterMS            int64
	clusterOpen          bool
	trackMS              [3]int64 // each track's newest timecode, by track number
	trackSeen            [3]bool
	videoFrames, packets int
}

type block struct {
	track int
	ms    int64
	key   bool
	data  []byte
}

// Create starts a segment at path (never over an existing file), its
// time zero start.
func Create(path string, t Tracks, start time.Time) (*Writer, error) {
	if !t.Video && !t.Audio {
		return nil, fmt.Errorf("record %s: a segment needs a video or an audio track", path)
	}
	if t.Audio && t.Channels == 0 {
		t.Channels = 1
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return nil, fmt.Errorf("record: %w", err)
	}
	w := &Writer{path: path, f: f, tracks: t, start: start, q: make(chan block, QueueFrames), done: make(chan struct{})}
	head := ebmlHeader()
	head = appendID(head, idSegment)
	head = append(head, unknownSize...)
	w.segDataAt = int64(len(head))
	inf, durAt := info()
	w.durationAt = int64(len(head) + durAt)
	head = append(head, inf...)
	head = append(head, tracks(t)...)
	if err := w.writeSynced(head); err != nil {
		f.Close()
		os.Remove(path)
		return nil, err
	}
	if err := SyncDir(filepath.Dir(path)); err != nil {
		f.Close()
		return nil, err
	}
	go w.run()
	return w, nil
}

// Video queues one encoded VP8 frame captured at at; frames before the
// segment's first keyframe are left out (nothing could decode them), and
// so is an empty one (a frame the encoder dropped) and every frame of a
// segment without video (an audio-only recording).
func (w *Writer) Video(frame []byte, at time.Time) {
	if len(frame) == 0 || !w.tracks.Video {
		return
	}
	w.put(block{track: videoTrack, ms: w.ms(at), key: len(frame) > 0 && frame[0]&1 == 0, data: frame})
}

// Audio queues one Opus packet whose first sample was captured at at.
func (w *Writer) Audio(packet []byte, at time.Time) {
	if !w.tracks.Audio {
		return
	}
	w.put(block{track: audioTrack, ms: w.ms(at), key: true, data: packet})
}

func (w *Writer) ms(at time.Time) int64 { return at.Sub(w.start).Milliseconds() }

func (w *Writer) put(b block) {
	if b.ms < 0 {
		// Captured before the segment's time zero (the keyframe a new
		// segment asks for may be in the encoder already): a sound from
		// before the segment is left out; a picture is shown from zero,
		// else nothing could be decoded until the next keyframe.
		if b.track == audioTrack {
			return
		}
		b.ms = 0
	}
	b.data = append([]byte(nil), b.data...) // the caller reuses its buffer
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return
	}
	if b.track == videoTrack && !w.keyed {
		if !b.key {
			return
		}
		w.keyed = true
	}
	select {
	case w.q <- b:
	default:
		w.dropped++
	}
}

func (w *Writer) run() {
	defer close(w.done)
	for b := range w.q {
		if w.err != nil {
			continue // the file is broken: Close reports it
		}
		w.add(b)
	}
	if w.err == nil {
		w.flush()
	}
}

// add puts a frame in the current cluster, first closing the cluster when
// it spans ClusterFor, a video keyframe begins, or the relative timecode
// would not fit.
func (w *Writer) add(b block) {
	// A track's timecodes must increase: two pictures captured within a
	// millisecond (a source delivering late, then two at once) are
	// written a millisecond apart.
	if w.trackSeen[b.track] && b.ms <= w.trackMS[b.track] {
		b.ms = w.trackMS[b.track] + 1
	}
	w.trackMS[b.track], w.trackSeen[b.track] = b.ms, true
	rel := b.ms - w.clusterMS
	if w.clusterOpen && ((b.track == videoTrack && b.key) || rel >= ClusterFor.Milliseconds() || rel < -1<<15 || rel >= 1<<15) {
		w.flush()
	}
	if !w.clusterOpen {
		w.clusterMS, w.clusterOpen = max(b.ms, 0), true
		w.cluster = appendUint(w.cluster[:0], idTimecode, uint64(w.clusterMS))
		rel = b.ms - w.clusterMS
	}
	w.cluster = simpleBlock(w.cluster, b.track, int16(rel), b.key, b.data)
	if b.track == videoTrack {
		w.videoFrames++
	} else {
		w.packets++
	}
}

// flush writes the open cluster whole and syncs it.
func (w *Writer) flush() {
	if !w.clusterOpen {
		return
	}
	w.clusterOpen = false
	w.err = w.writeSynced(appendElem(nil, idCluster, w.cluster))
}

func (w *Writer) writeSynced(b []byte) error {
	n, err := w.f.Write(b)
	w.size += int64(n)
	if err == nil {
		err = w.f.Sync()
	}
	if err != nil {
		return fmt.Errorf("record %s: %w", w.path, err)
	}
	return nil
}

// Close writes what is queued, sets the segment's duration and size, and
// closes the file. The segment ends at end.
func (w *Writer) Close(end time.Time) (Summary, error) {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return Summary{}, fmt.Errorf("record %s: closed twice", w.path)
	}
	w.closed = true
	close(w.q)
	dropped := w.dropped
	w.mu.Unlock()
	<-w.done
	s := Summary{Path: w.path, Start: w.start, End: end, VideoFrames: w.videoFrames, AudioPackets: w.packets, Dropped: dropped}
	err := w.err
	if err == nil {
		err = w.finish(end)
	}
	if cerr := w.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("record %s: %w", w.path, cerr)
	}
	s.Bytes = w.size
	if err == nil && dropped > 0 {
		err = fmt.Errorf("%w: %d frames of %s", ErrDropped, dropped, w.path)
	}
	return s, err
}

// finish patches the Duration slot and the segment's size: a file closed
// in order says how long it is; one cut short still plays as live.
func (w *Writer) finish(end time.Time) error {
	ms := float64(max(w.ms(end), w.trackMS[videoTrack], w.trackMS[audioTrack]))
	if _, err := w.f.WriteAt(durationElem(ms), w.durationAt); err != nil {
		return fmt.Errorf("record %s: %w", w.path, err)
	}
	if _, err := w.f.WriteAt(size8(uint64(w.size-w.segDataAt)), w.segDataAt-8); err != nil {
		return fmt.Errorf("record %s: %w", w.path, err)
	}
	if err := w.f.Sync(); err != nil {
		return fmt.Errorf("record %s: %w", w.path, err)
	}
	return nil
}

// SyncDir syncs a directory, so that a file created or renamed in it
// survives a power cut.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("record: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("record: sync %s: %w", dir, err)
	}
	return nil
}
