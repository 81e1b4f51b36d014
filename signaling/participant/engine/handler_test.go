package engine

import (
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/parley-lab/parley/media/frames"
	"github.com/parley-lab/parley/signaling/client"
	"github.com/parley-lab/parley/signaling/participant"
	"github.com/parley-lab/parley/signaling/protocol"
)

// noMedia is a workstation without devices.
type noMedia struct{}

func (noMedia) Local() frames.Stream { return nil }
func (noMedia) MicLevel() float64    { return 0 }
func (noMedia) SetMute(bool, bool)   {}
func (noMedia) NoCamera() bool       { return false }
func (noMedia) NoMicrophone() bool   { return false }
func (noMedia) NoAudioOutput() bool  { return false }
func (noMedia) CameraOff() bool      { return true }
func (noMedia) MicrophoneOff() bool  { return true }
func (noMedia) Close() error         { return nil }

// TestTheFirstEndIsTheOneShown: a second "ended" (a server that still
// sends its group's end after "removed") does not replace what the
// participant was told first.
func TestTheFirstEndIsTheOneShown(t *testing.T) {
	e, err := New(Config{
		Session: client.SessionConfig{URL: "ws://127.0.0.1:1/ws", Room: "lab", Seat: "a", StateFile: filepath.Join(t.TempDir(), "a.json")},
		Media:   noMedia{}, Dial: func(CallParams) (Call, error) { return nil, ErrEnded },
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	h := (*handler)(e)
	h.Message(protocol.TypeEnded, "", &protocol.Ended{Reason: protocol.EndRemoved})
	h.Message(protocol.TypeEnded, "", &protocol.Ended{Reason: protocol.EndExperimenter})
	if st := e.State(); st.Phase != participant.PhaseEnded || st.EndReason != protocol.EndRemoved {
		t.Fatalf("phase %v, end reason %q; want ended, %q", st.Phase, st.EndReason, protocol.EndRemoved)
	}
}
