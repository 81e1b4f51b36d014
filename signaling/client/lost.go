package client

// lost.go: chat that the server can never take (it refused it for good,
// it no longer knows the participant, or the participant never joined) is
// kept beside the state file, one JSON line a message, for the lab to
// recover by hand. The log says how many and where, never what was
// typed: chat is research data, and system logs are read by others.

import (
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"time"

	"github.com/parley-lab/parley/signaling/protocol"
)

// LostSuffix names the file beside the state file that keeps such chat.
const LostSuffix = ".undelivered.jsonl"

// lostChat is one line of that file.
type lostChat struct {
	At          time.Time `json:"at"`
	Reason      string    `json:"reason"`
	Participant string    `json:"participant_id,omitempty"`
	Session     string    `json:"session,omitempty"`
	protocol.ChatSend
}

// keepLost appends msgs to the lost-chat file beside stateFile and logs
// that it did (or, with no state file or a failed write, that they are
// lost, still without their text).
func keepLost(log *slog.Logger, stateFile, reason, participant, session string, msgs ...protocol.ChatSend) {
	if len(msgs) == 0 {
		return
	}
	err := errors.New("no kiosk state file to keep them beside")
	if stateFile != "" {
		err = appendLost(stateFile+LostSuffix, reason, participant, session, msgs)
	}
	if err != nil {
		log.Error("chat messages lost", "err", ErrUndelivered, "reason", reason, "participant", participant,
			"chat_messages", len(msgs), "not_kept", err)
		return
	}
	log.Error("chat messages the server cannot take are kept on this kiosk", "err", ErrUndelivered, "reason", reason,
		"participant", participant, "chat_messages", len(msgs), "file", stateFile+LostSuffix)
}

func appendLost(path, reason, participant, session string, msgs []protocol.ChatSend) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(f)
	now := time.Now().UTC()
	for _, cs := range msgs {
		if err := enc.Encode(lostChat{At: now, Reason: reason, Participant: participant, Session: session, ChatSend: cs}); err != nil {
			f.Close()
			return err
		}
	}
	return errors.Join(f.Sync(), f.Close())
}
