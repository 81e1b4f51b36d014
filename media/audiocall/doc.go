// Package audiocall holds the measurement of a whole Parley call's audio
// through a real sound server: two participants, each with a PulseAudio
// virtual microphone and speaker (media/capture/pulsetest), a known signal
// into one microphone, the partner's speaker recorded from its monitor.
// It has only tests: `go test ./media/audiocall -v` prints the figures.
package audiocall
