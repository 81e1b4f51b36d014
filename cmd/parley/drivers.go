package main

// The camera driver registers itself with mediadevices here, in the main
// package only: test binaries never load it. The microphone is ours
// (media/capture over miniaudio): mediadevices' microphone driver is not
// linked at all (it handed a reused C buffer to a channel without copying,
// and crashed on a machine without a sound card).
import (
	"github.com/pion/mediadevices/pkg/driver/camera"

	"github.com/parley-lab/parley/cmd/cli"
)

// The kiosk looks for a camera plugged in after it started.
func init() { cli.RediscoverCameras = camera.Initialize }
