package client

// statefile.go: the state file that lets a kiosk rejoin as the same
// participant after a crash or restart: written atomically (a temporary
// file, synced when the change must survive a power cut, renamed over the
// old one), by the writer goroutine only; held by one session at a time
// (an exclusive lock on a file beside it, for the session's life).

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/parley-lab/parley/signaling/protocol"
)

// Identity is a participant as the state file names it: the server, room
// and seat it joined at, and the token that lets a kiosk act as it.
type Identity struct {
	URL           string `json:"url"`
	Room          string `json:"room"`
	Seat          string `json:"seat"`
	Token         string `json:"token"`
	ParticipantID string `json:"participant_id"`
	Session       string `json:"session"`
}

// State is what a kiosk keeps on disk to rejoin as the same participant
// after a crash or restart.
type State struct {
	Identity
	Pseudonym string `json:"pseudonym"`
	// Since is the last seq seen per channel, for a reconnect within this
	// process; a restarted kiosk asks for the whole history (it shows it
	// again, as otreechat does on reload), so it is not kept on disk.
	Since map[string]int64 `json:"-"`
	// Outbox holds chat messages sent but not acknowledged, so a restarted
	// kiosk resends them (the server drops duplicates by client_msg_id).
	Outbox []protocol.ChatSend `json:"outbox,omitempty"`
	// Reports are call states and stats not yet acknowledged.
	Reports []Report `json:"reports,omitempty"`
	// Ready: the participant finished the device check; told to the server
	// after every (re)join until it says so in its welcome.
	Ready bool `json:"ready,omitempty"`
	// Unsent holds what earlier participants at this seat had not
	// delivered when they left or their discussion ended; the next start
	// delivers it (see Session.Close).
	Unsent []Unsent `json:"unsent,omitempty"`
}

// ErrStateInUse: another kiosk holds the state file. Two kiosks on one
// state file would resume as the same participant and take each other's
// place at the server.
var ErrStateInUse = errors.New("the kiosk state file is in use by another kiosk")

// errLocked is what tryLock returns when another holds the lock.
var errLocked = errors.New("locked")

// lockSuffix names the lock file beside the state file (the state file
// itself is replaced on every save, so a lock on it would not hold).
const lockSuffix = ".lock"

// lockStateFile takes the exclusive lock of the state file path and
// writes this process's id into the lock file; the lock holds until the
// returned file is closed (or the process ends, however it ends).
func lockStateFile(path string) (*os.File, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("kiosk state file: %w", err)
	}
	lp := path + lockSuffix
	f, err := os.OpenFile(lp, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("kiosk state file lock: %w", err)
	}
	if err := tryLock(f); err != nil {
		holder := ""
		if b, rerr := os.ReadFile(lp); rerr == nil {
			if pid, perr := strconv.Atoi(string(bytes.TrimSpace(b))); perr == nil {
				holder = fmt.Sprintf(" (process %d)", pid)
			}
		}
		f.Close()
		if errors.Is(err, errLocked) {
			return nil, fmt.Errorf("%w%s: %s", ErrStateInUse, holder, path)
		}
		return nil, fmt.Errorf("kiosk state file lock %s: %w", lp, err)
	}
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return f, nil
}

// save writes the state file if it changed. Only the writer goroutine,
// the delivery of Unsent and Close call it.
func (s *Session) save() {
	s.saveMu.Lock()
	defer s.saveMu.Unlock()
	s.mu.Lock()
	if !s.dirty || s.cfg.StateFile == "" {
		s.mu.Unlock()
		return
	}
	st, leaving := s.diskStateLocked(), s.leaving
	b, err := json.Marshal(st)
	durable := s.durable
	s.dirty, s.durable = false, false
	s.mu.Unlock()
	if err == nil {
		if leaving && len(st.Unsent) == 0 {
			// Done, and nothing left to deliver: no state at all.
			err = os.Remove(s.cfg.StateFile)
			if errors.Is(err, os.ErrNotExist) {
				err = nil
			}
		} else {
			err = writeFileAtomic(s.cfg.StateFile, b, durable)
		}
	}
	if err != nil {
		s.log.Error("kiosk state", "err", fmt.Errorf("%w: %v", ErrStateFile, err))
		s.mu.Lock()
		s.dirty, s.durable = true, s.durable || durable // try again with the next change
		s.mu.Unlock()
	}
}

// diskStateLocked is what the state file holds: the state, or, once the
// participant is leaving, only what is unsent (its own included), so that
// no start resumes as a participant who is done.
func (s *Session) diskStateLocked() State {
	if !s.leaving {
		return s.st
	}
	st := State{Unsent: append([]Unsent(nil), s.st.Unsent...)}
	if u, ok := s.unsentLocked(); ok {
		st.Unsent = append(st.Unsent, u)
	}
	return st
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

// unlockState lets go of the state file (Close: another session may take
// it now). Safe to call more than once.
func (s *Session) unlockState() {
	s.saveMu.Lock()
	defer s.saveMu.Unlock()
	if s.stateLock != nil {
		s.stateLock.Close()
		s.stateLock = nil
	}
}
