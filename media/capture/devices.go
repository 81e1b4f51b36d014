package capture

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
	"unsafe"

	"github.com/gen2brain/malgo"
)

// Kind is a device's direction.
type Kind int

// Device kinds.
const (
	Microphone Kind = iota
	Speaker
)

func (k Kind) String() string {
	if k == Speaker {
		return "speaker"
	}
	return "microphone"
}

// Device is one audio device as the sound system names it.
type Device struct {
	Kind Kind
	// Name is the human-readable name (PulseAudio's and PipeWire's
	// description, ALSA's card and device name).
	Name string
	// Key is the backend's own identifier when it is text (PulseAudio's
	// source or sink name such as "alsa_input.pci-0000_00_1f.3.analog-stereo",
	// ALSA's "hw:0,0"); empty when it is binary.
	Key string
	// Default: the sound system's default device of its kind.
	Default bool
	id      DeviceID
}

// Label is what `parley devices` shows and what --microphone and
// --speaker match: the name, or the key when the backend gives no name.
func (d Device) Label() string {
	if d.Name != "" {
		return d.Name
	}
	return d.Key
}

// Monitor reports whether d records what an output device plays
// (PulseAudio's "Monitor of ..." sources, named "<sink>.monitor"). Taken
// as a microphone it would send the partner their own voice back.
func (d Device) Monitor() bool {
	return strings.HasPrefix(strings.ToLower(d.Name), "monitor of ") ||
		strings.HasSuffix(strings.ToLower(d.Key), ".monitor")
}

// placeholder reports ALSA's "null" PCM: no hardware behind it, so taking
// it by default would hide that the machine has no microphone.
func (d Device) placeholder() bool {
	return strings.EqualFold(d.Name, "null") || strings.EqualFold(d.Key, "null") ||
		strings.Contains(strings.ToLower(d.Name), "discard all samples")
}

// ErrNoDevice means no device of the wanted kind (or matching the wanted
// name) exists.
var ErrNoDevice = errors.New("device not found")

// routable reports, for a list where the backend marks no device as the
// default (ALSA), whether d leads to a sound card: ALSA's "default" PCM,
// or a card's own device ("hw:", "plughw:", "...:CARD=..."). ALSA's plugin
// PCMs (rate converters, jack, oss, the pulse plugin without a server) are
// not microphones a participant talks into.
func (d Device) routable() bool {
	k := strings.ToLower(d.Key)
	return k == "default" || strings.Contains(k, "card=") || strings.HasPrefix(k, "hw:") || strings.HasPrefix(k, "plughw:")
}

// Select chooses a device of kind from devs. With want empty it takes the
// sound system's default device, never a monitor of an output nor ALSA's
// "null" device; when the default is one of those (PulseAudio makes a sink's
// monitor the default source when there is no microphone) it takes the
// first other device. Where the backend marks no default (ALSA) it takes
// ALSA's "default" device, else a card's first device, never a plugin. With
// none it returns ErrNoDevice. With want set
// it takes a device whose label or key contains want, ignoring case
// (monitors included: a named monitor is a deliberate choice), preferring an
// exact match, then a device that is not a monitor, then the default.
func Select(devs []Device, kind Kind, want string) (Device, error) {
	var all []string
	best, bestScore := -1, -1
	w := strings.ToLower(strings.TrimSpace(want))
	marked := defaultMarked(devs, kind)
	for i, d := range devs {
		if d.Kind != kind {
			continue
		}
		all = append(all, d.Label())
		score := 0
		if w == "" {
			if !eligible(d, marked) {
				continue
			}
			if d.Default || strings.EqualFold(d.Key, "default") {
				score += 1
			}
		} else {
			name, key := strings.ToLower(d.Name), strings.ToLower(d.Key)
			if !strings.Contains(name, w) && !strings.Contains(key, w) {
				continue
			}
			if name == w || key == w {
				score += 4
			}
			if !d.Monitor() {
				score += 2
			}
			if d.Default {
				score += 1
			}
		}
		if score > bestScore {
			best, bestScore = i, score
		}
	}
	if best >= 0 {
		return devs[best], nil
	}
	if len(all) == 0 {
		return Device{}, fmt.Errorf("%w: this machine has no %s", ErrNoDevice, kind)
	}
	if w == "" {
		return Device{}, fmt.Errorf("%w: this machine has no %s (only monitors of outputs, placeholders or plugins: %s)", ErrNoDevice, kind, strings.Join(all, ", "))
	}
	return Device{}, fmt.Errorf("%w: no %s name contains %q (found: %s)", ErrNoDevice, kind, want, strings.Join(all, ", "))
}

// defaultMarked reports whether the backend marks a default among devs of kind.
func defaultMarked(devs []Device, kind Kind) bool {
	for _, d := range devs {
		if d.Kind == kind && d.Default {
			return true
		}
	}
	return false
}

func eligible(d Device, marked bool) bool {
	return !d.Monitor() && !d.placeholder() && (marked || d.routable())
}

// OnlyNamed reports whether Select takes d only when it is named: a
// monitor of an output, ALSA's null device, or (where the backend marks no
// default) an ALSA plugin. devs is the list d came from.
func OnlyNamed(devs []Device, d Device) bool { return !eligible(d, defaultMarked(devs, d.Kind)) }

// List returns the capture and playback devices the given miniaudio
// backends see (nil: miniaudio's order for this system, PulseAudio first).
func List(backends []malgo.Backend) ([]Device, error) {
	ctx, err := malgo.InitContext(backends, malgo.ContextConfig{}, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoSoundSystem, err)
	}
	defer func() { ctx.Uninit(); ctx.Free() }()
	return list(ctx.Context)
}

// ErrNoSoundSystem means miniaudio found no usable backend.
var ErrNoSoundSystem = errors.New("no sound system")

func list(ctx malgo.Context) ([]Device, error) {
	var out []Device
	for _, k := range []struct {
		kind Kind
		mt   malgo.DeviceType
	}{{Microphone, malgo.Capture}, {Speaker, malgo.Playback}} {
		infos, err := ctx.Devices(k.mt)
		if err != nil {
			return nil, fmt.Errorf("listing %ss: %w", k.kind, err)
		}
		for _, in := range infos {
			out = append(out, Device{Kind: k.kind, Name: strings.TrimSpace(in.Name()), Key: textID(in.ID), Default: in.IsDefault != 0, id: in.ID})
		}
	}
	return out, nil
}

// textID is a device ID as text when the backend's ID is a printable
// string (PulseAudio, ALSA), else "".
func textID(id malgo.DeviceID) string {
	b := id[:]
	if i := strings.IndexByte(string(b), 0); i >= 0 {
		b = b[:i]
	}
	if len(b) == 0 || !utf8.Valid(b) {
		return ""
	}
	for _, r := range string(b) {
		if !unicode.IsPrint(r) {
			return ""
		}
	}
	return string(b)
}

// DeviceID is miniaudio's device identifier.
type DeviceID = malgo.DeviceID

// ID is miniaudio's identifier of the device.
func (d Device) ID() DeviceID { return d.id }

// ConfigID is the device's ID in C memory for a malgo.DeviceConfig's
// Playback.DeviceID or Capture.DeviceID; free it (after malgo.InitDevice)
// with the function returned.
func (d Device) ConfigID() (unsafe.Pointer, func()) {
	id := d.id
	p := id.Pointer()
	return p, func() { freeC(p) }
}
