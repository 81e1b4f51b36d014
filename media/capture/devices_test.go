package capture

import (
	"errors"
	"testing"
)

// What PulseAudio shows on a laptop with a USB headset and a null sink.
var pulseDevs = []Device{
	{Kind: Microphone, Name: "Monitor of Built-in Audio Analog Stereo", Key: "alsa_output.pci-0000_00_1f.3.analog-stereo.monitor", Default: true},
	{Kind: Microphone, Name: "Built-in Audio Analog Stereo", Key: "alsa_input.pci-0000_00_1f.3.analog-stereo"},
	{Kind: Microphone, Name: "Jabra Link 380 Mono", Key: "alsa_input.usb-GN_Jabra_Link_380-00.mono-fallback", Default: false},
	{Kind: Microphone, Name: "micA", Key: "micA"},
	{Kind: Microphone, Name: "Monitor of micA speaker", Key: "spkA.monitor"},
	{Kind: Speaker, Name: "Built-in Audio Analog Stereo", Key: "alsa_output.pci-0000_00_1f.3.analog-stereo"},
	{Kind: Speaker, Name: "Jabra Link 380 Analog Stereo", Key: "alsa_output.usb-GN_Jabra_Link_380-00.analog-stereo", Default: true},
}

func withDefault(devs []Device, key string) []Device {
	out := append([]Device(nil), devs...)
	for i := range out {
		if out[i].Kind == Microphone {
			out[i].Default = out[i].Key == key
		}
	}
	return out
}

func TestSelect(t *testing.T) {
	alsaNoCard := []Device{
		{Kind: Microphone, Name: "Discard all samples (playback) or generate zero samples (capture)", Key: "null"},
		{Kind: Speaker, Name: "Discard all samples (playback) or generate zero samples (capture)", Key: "null"},
	}
	alsaNoCardPlugins := append(append([]Device(nil), alsaNoCard...),
		Device{Kind: Microphone, Name: "Rate Converter Plugin Using Libav/FFmpeg Library", Key: "lavrate"},
		Device{Kind: Microphone, Name: "PulseAudio Sound Server", Key: "pulse"},
		Device{Kind: Microphone, Name: "JACK Audio Connection Kit", Key: "jack"})
	alsaCard := append(append([]Device(nil), alsaNoCardPlugins...),
		Device{Kind: Microphone, Name: "HDA Intel PCH, ALC3246 Analog Front", Key: "front:CARD=PCH,DEV=0"},
		Device{Kind: Microphone, Name: "HDA Intel PCH, ALC3246 Analog Default Audio Device", Key: "sysdefault:CARD=PCH"})
	alsaDefault := append(append([]Device(nil), alsaCard...),
		Device{Kind: Microphone, Name: "Default ALSA Output (currently PipeWire Media Server)", Key: "default"})
	onlyMonitor := []Device{{Kind: Microphone, Name: "Monitor of Null Output", Key: "auto_null.monitor", Default: true}}
	for _, tc := range []struct {
		name    string
		devs    []Device
		kind    Kind
		want    string
		key     string // chosen device's key; "" with wantErr
		wantErr bool
	}{
		{"default microphone", withDefault(pulseDevs, "alsa_input.usb-GN_Jabra_Link_380-00.mono-fallback"), Microphone, "", "alsa_input.usb-GN_Jabra_Link_380-00.mono-fallback", false},
		{"default is a monitor: first real microphone", pulseDevs, Microphone, "", "alsa_input.pci-0000_00_1f.3.analog-stereo", false},
		{"default speaker", pulseDevs, Speaker, "", "alsa_output.usb-GN_Jabra_Link_380-00.analog-stereo", false},
		{"by part of the name, any case", pulseDevs, Microphone, "jabra", "alsa_input.usb-GN_Jabra_Link_380-00.mono-fallback", false},
		{"by the key", pulseDevs, Microphone, "mono-fallback", "alsa_input.usb-GN_Jabra_Link_380-00.mono-fallback", false},
		{"exact name beats a monitor containing it", pulseDevs, Microphone, "MICA", "micA", false},
		{"a monitor when named", pulseDevs, Microphone, "spkA.monitor", "spkA.monitor", false},
		{"a name that is nowhere", pulseDevs, Microphone, "webcam", "", true},
		{"only a monitor: no microphone", onlyMonitor, Microphone, "", "", true},
		{"only a monitor, named", onlyMonitor, Microphone, "null output", "auto_null.monitor", false},
		{"ALSA null is not a microphone", alsaNoCard, Microphone, "", "", true},
		{"ALSA null when named", alsaNoCard, Microphone, "null", "null", false},
		{"no devices", nil, Microphone, "", "", true},
		{"ALSA without a card: plugins are not microphones", alsaNoCardPlugins, Microphone, "", "", true},
		{"ALSA plugin when named", alsaNoCardPlugins, Microphone, "lavrate", "lavrate", false},
		{"ALSA with a card: its first device", alsaCard, Microphone, "", "front:CARD=PCH,DEV=0", false},
		{"ALSA's default device", alsaDefault, Microphone, "", "default", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := Select(tc.devs, tc.kind, tc.want)
			if tc.wantErr {
				if !errors.Is(err, ErrNoDevice) {
					t.Fatalf("got %+v, %v; want ErrNoDevice", d, err)
				}
				return
			}
			if err != nil || d.Key != tc.key || d.Kind != tc.kind {
				t.Fatalf("got %+v, %v; want key %q", d, err, tc.key)
			}
		})
	}
}

func TestOnlyNamed(t *testing.T) {
	alsa := []Device{
		{Kind: Microphone, Key: "null"}, {Kind: Microphone, Key: "lavrate"},
		{Kind: Microphone, Key: "front:CARD=PCH,DEV=0"}, {Kind: Microphone, Key: "default"},
	}
	for i, want := range []bool{true, true, false, false} {
		if got := OnlyNamed(alsa, alsa[i]); got != want {
			t.Errorf("ALSA %q: OnlyNamed %v", alsa[i].Key, got)
		}
	}
	for i, want := range []bool{true, false, false, false, true} {
		if got := OnlyNamed(pulseDevs, pulseDevs[i]); got != want {
			t.Errorf("PulseAudio %q: OnlyNamed %v", pulseDevs[i].Key, got)
		}
	}
}

func TestMonitorAndLabel(t *testing.T) {
	for _, tc := range []struct {
		d       Device
		monitor bool
		label   string
	}{
		{Device{Name: "Monitor of Built-in Audio", Key: "x.monitor"}, true, "Monitor of Built-in Audio"},
		{Device{Name: "spk", Key: "spkA.monitor"}, true, "spk"},
		{Device{Name: "monitor of x"}, true, "monitor of x"},
		{Device{Name: "Studio Monitor Mic", Key: "usb-mic"}, false, "Studio Monitor Mic"},
		{Device{Key: "hw:0,0"}, false, "hw:0,0"},
	} {
		if got := tc.d.Monitor(); got != tc.monitor {
			t.Errorf("%+v: Monitor() = %v", tc.d, got)
		}
		if got := tc.d.Label(); got != tc.label {
			t.Errorf("%+v: Label() = %q", tc.d, got)
		}
	}
}

func TestTextID(t *testing.T) {
	var a, b, c [len(DeviceID{})]byte
	copy(a[:], "micA")
	b[0] = 1 // the null backend's integer id
	copy(c[:], "hw:0,0")
	for _, tc := range []struct {
		id   DeviceID
		want string
	}{{a, "micA"}, {b, ""}, {c, "hw:0,0"}, {DeviceID{}, ""}} {
		if got := textID(tc.id); got != tc.want {
			t.Errorf("textID(%v) = %q, want %q", tc.id[:8], got, tc.want)
		}
	}
}
