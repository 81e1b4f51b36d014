package main

// The real capture drivers register themselves with mediadevices here, in
// the main package only: test binaries never load them (the microphone
// driver crashes on a machine without a sound card when read).
import (
	_ "github.com/pion/mediadevices/pkg/driver/camera"
	_ "github.com/pion/mediadevices/pkg/driver/microphone"
)
