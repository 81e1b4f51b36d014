package client

// statefile.go: the state file that lets a kiosk rejoin as the same
// participant after a crash or restart: written atomically (a temporary
// file, synced when the change must survive a power cut, renamed over the
// old one), by the writer goroutine only.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// save writes the state file if it changed. Only the writer goroutine and
// Close call it.
func (s *Session) save() {
	s.saveMu.Lock()
	defer s.saveMu.Unlock()
	s.mu.Lock()
	if !s.dirty || s.cfg.StateFile == "" || s.forgotten {
		s.mu.Unlock()
		return
	}
	b, err := json.Marshal(s.st)
	durable := s.durable
	s.dirty, s.durable = false, false
	s.mu.Unlock()
	if err == nil {
		err = writeFileAtomic(s.cfg.StateFile, b, durable)
	}
	if err != nil {
		s.log.Error("kiosk state", "err", fmt.Errorf("%w: %v", ErrStateFile, err))
		s.mu.Lock()
		s.dirty, s.durable = true, s.durable || durable // try again with the next change
		s.mu.Unlock()
	}
}

// writeFileAtomic replaces path with b; durable also syncs it to disk.
func writeFileAtomic(path string, b []byte, durable bool) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".parley-state-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // after a successful rename there is nothing left to remove
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if durable {
		if err := f.Sync(); err != nil {
			f.Close()
			return err
		}
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Chmod(f.Name(), 0o600); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
