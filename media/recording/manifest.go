package recording

// manifest.go: one participant's manifest on this workstation: who they
// are at which server, their segments in order with the gaps between them,
// and each segment's state here. It is rewritten whole, atomically, on
// every change, so a crash leaves the old one or the new one.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/parley-lab/parley/media/record"
	"github.com/parley-lab/parley/signaling/protocol"
)

// manifestName is the manifest's file name in a participant's directory.
const manifestName = "manifest.json"

// Segment states on this workstation.
const (
	stateRecording = "recording" // being written (after a crash: to recover)
	stateClosed    = "closed"    // finished, waiting for upload
	stateUploaded  = "uploaded"  // the server confirmed its checksum; the file is gone
	stateRefused   = "refused"   // the server refused it for good (kept here for the lab)
)

// entry is one segment in a manifest.
type entry struct {
	protocol.Segment
	// File is the segment's file name in the participant's directory.
	File  string `json:"file"`
	State string `json:"state"`
	// GapBeforeMS is the time since the previous segment ended (server
	// time): the participant's time away, or the call's set-up.
	GapBeforeMS int64 `json:"gap_before_ms"`
	// Refusal is why the server refused it (stateRefused).
	Refusal string `json:"refusal,omitempty"`
}

// manifest is one participant's recording here.
type manifest struct {
	Session     string `json:"session"`
	Participant string `json:"participant"`
	// Server is the upload URL's base ("http://host:port"); Token the
	// participant's resume token, which authorises the upload (the kiosk
	// forgets it from its state file when the participant leaves; the
	// upload still needs it).
	Server   string  `json:"server"`
	Token    string  `json:"token"`
	Segments []entry `json:"segments"`
	// Ended: the participant's discussion is over; no segment follows.
	Ended bool `json:"ended"`

	dir string // the participant's directory (not stored)
}

// last is the newest segment, or nil.
func (m *manifest) last() *entry {
	if len(m.Segments) == 0 {
		return nil
	}
	return &m.Segments[len(m.Segments)-1]
}

// pending counts segments still to upload.
func (m *manifest) pending() int {
	n := 0
	for _, e := range m.Segments {
		if e.State == stateClosed || e.State == stateRecording {
			n++
		}
	}
	return n
}

// setGaps computes each segment's gap to the one before it.
func (m *manifest) setGaps() {
	for i := range m.Segments {
		m.Segments[i].GapBeforeMS = 0
		if i > 0 {
			m.Segments[i].GapBeforeMS = m.Segments[i].StartMS - m.Segments[i-1].EndMS
		}
	}
}

// save writes the manifest atomically: a temporary file, synced, renamed
// over the old one, and the directory synced.
func (m *manifest) save() error {
	m.setGaps()
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	path := filepath.Join(m.dir, manifestName)
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("recording manifest: %w", err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil {
		err = record.SyncDir(m.dir)
	}
	if err != nil {
		return fmt.Errorf("recording manifest %s: %w", path, err)
	}
	return nil
}

// loadManifest reads the manifest in dir.
func loadManifest(dir string) (*manifest, error) {
	b, err := os.ReadFile(filepath.Join(dir, manifestName))
	if err != nil {
		return nil, err
	}
	m := &manifest{dir: dir}
	if err := json.Unmarshal(b, m); err != nil {
		return nil, fmt.Errorf("recording manifest %s: %w", filepath.Join(dir, manifestName), err)
	}
	return m, nil
}
