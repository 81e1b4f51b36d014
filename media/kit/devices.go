package kit

// devices.go: the devices this machine has: the camera picked by its
// label, and the list `parley devices` prints.

import (
	"fmt"
	"sort"
	"strings"

	"github.com/pion/mediadevices"

	"github.com/parley-lab/parley/media/capture"
)

// pickCamera finds a camera whose label contains want (any case), the
// first one when want is empty. Only the camera goes through
// mediadevices; audio devices are chosen by capture.Select.
func pickCamera(want string) (mediadevices.MediaDeviceInfo, error) {
	var all []string
	for _, d := range mediadevices.EnumerateDevices() {
		if d.Kind != mediadevices.VideoInput {
			continue
		}
		all = append(all, d.Label)
		if want == "" || strings.Contains(strings.ToLower(d.Label), strings.ToLower(want)) {
			return d, nil
		}
	}
	if len(all) == 0 {
		return mediadevices.MediaDeviceInfo{}, fmt.Errorf("%w: this machine has no camera", ErrNoDevice)
	}
	return mediadevices.MediaDeviceInfo{}, fmt.Errorf("%w: no camera label contains %q (found: %s)", ErrNoDevice, want, strings.Join(all, ", "))
}

// Device kinds in Devices.
const (
	KindCamera     = "camera"
	KindMicrophone = "microphone"
	KindSpeaker    = "speaker"
)

// Device is one device for `parley devices`.
type Device struct {
	Kind, Label string
	// Key is the sound system's own name of an audio device (PulseAudio's
	// source or sink name), which --microphone and --speaker also match.
	Key string
	// Default: the system's default microphone or speaker, the one the
	// kiosk takes when none is named (for microphones: never a monitor).
	Default bool
	// Monitor: it records what an output plays; taken only when named.
	Monitor bool
	// OnlyNamed: never taken by default (a monitor, ALSA's null device or
	// one of its plugins), only when named.
	OnlyNamed bool
}

// Devices lists this machine's cameras (those whose driver the binary
// registers), microphones and speakers, with the default microphone and
// speaker marked as the kiosk would choose them. err reports a sound
// system that could not be asked; the cameras are listed regardless.
func Devices() ([]Device, error) {
	var out []Device
	for _, d := range mediadevices.EnumerateDevices() {
		if d.Kind == mediadevices.VideoInput {
			out = append(out, Device{Kind: KindCamera, Label: d.Label})
		}
	}
	audio, err := capture.List(nil)
	if err == nil {
		mic, micErr := capture.Select(audio, capture.Microphone, "")
		spk, spkErr := capture.Select(audio, capture.Speaker, "")
		for _, d := range audio {
			kind := KindMicrophone
			def := micErr == nil && d == mic
			if d.Kind == capture.Speaker {
				kind, def = KindSpeaker, spkErr == nil && d == spk
			}
			out = append(out, Device{Kind: kind, Label: d.Label(), Key: d.Key, Default: def, Monitor: d.Monitor(), OnlyNamed: capture.OnlyNamed(audio, d)})
		}
	}
	order := map[string]int{KindCamera: 0, KindMicrophone: 1, KindSpeaker: 2}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Kind != out[j].Kind {
			return order[out[i].Kind] < order[out[j].Kind]
		}
		return out[i].Label < out[j].Label
	})
	return out, err
}
