package main

// The camera driver registers itself with mediadevices here, in the main
// package only: test binaries never load it. The microphone is ours
// (media/capture over miniaudio): mediadevices' microphone driver is not
// linked at all (it handed a reused C buffer to a channel without copying,
// and crashed on a machine without a sound card).
import (
	_ "github.com/pion/mediadevices/pkg/driver/camera"
)
