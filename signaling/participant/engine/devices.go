package engine

// devices.go: this workstation's camera, microphone and speaker: the
// LocalMedia the engine is given, the self-view and the meter, muting, trying
// missing devices again, and the device report for the server.

import (
	"github.com/parley-lab/parley/media/frames"
	"github.com/parley-lab/parley/signaling/protocol"
)

// LocalMedia is this workstation's camera and microphone (or test sources).
type LocalMedia interface {
	Local() frames.Stream
	MicLevel() float64
	SetMute(audio, video bool)
	NoCamera() bool
	NoMicrophone() bool
	NoAudioOutput() bool
	// CameraOff and MicrophoneOff: the lab chose no camera or microphone
	// for this workstation (not a problem to report).
	CameraOff() bool
	MicrophoneOff() bool
	Close() error
}

// Local is the self-view.
func (e *Engine) Local() frames.Stream { return e.cfg.Media.Local() }

// MicLevel is the microphone level for the device check.
func (e *Engine) MicLevel() float64 { return e.cfg.Media.MicLevel() }

// devicesLocked is the device report for the server.
func (e *Engine) devicesLocked() protocol.Devices {
	state := func(missing, off bool) string {
		switch {
		case off:
			return protocol.DeviceOff
		case missing:
			return protocol.DeviceMissing
		}
		return protocol.DeviceOK
	}
	return protocol.Devices{Camera: state(e.st.NoCamera, e.st.CameraOff), Microphone: state(e.st.NoMicrophone, e.st.MicrophoneOff),
		Speaker: state(e.st.NoAudioOutput, false)}
}

// DeviceRetrier is LocalMedia that can try its missing or failed devices
// again at once (kit.Kit's media can).
type DeviceRetrier interface {
	RetryDevices()
}

// RetryDevices tries a missing or failed camera and microphone again now
// (the device check's "Try again"); what is found shows, and goes to the
// server, with the next device report.
func (e *Engine) RetryDevices() {
	if r, ok := e.cfg.Media.(DeviceRetrier); ok {
		r.RetryDevices()
	}
}

// SetMute mutes where the session allows it.
func (e *Engine) SetMute(audio, video bool) {
	e.mu.Lock()
	if !e.st.AllowMuteAudio {
		audio = false
	}
	if !e.st.AllowMuteVideo {
		video = false
	}
	e.st.AudioMuted, e.st.VideoMuted = audio, video
	e.mu.Unlock()
	e.cfg.Media.SetMute(audio, video)
	e.notify()
}
