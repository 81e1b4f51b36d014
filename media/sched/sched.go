// Package sched gives the media goroutines their share of a busy CPU:
// audio first, then video. Each call locks the calling goroutine to its OS
// thread and sets that thread's nice value, so the kernel prefers the
// audio capture/encode loop over the video encoder when both cores are
// busy (the case: 2 cores, two kiosks or a loaded machine). A
// thread's nice value dies with it: a goroutine that exits while locked
// takes its thread along, so no other goroutine inherits the priority.
//
// Raising priority needs CAP_SYS_NICE or an RLIMIT_NICE allowance
// (/etc/security/limits.d, systemd's LimitNICE=); without it the call
// reports ErrNotPermitted and the thread keeps its normal priority.
// Lowering always works.
package sched

import "errors"

// Nice values (Linux: -20 highest to 19 lowest; 0 is the default).
const (
	// AudioNice is for the audio capture and encode loop.
	AudioNice = -10
	// VideoNice is for the video capture and encode loop: below normal,
	// so audio and the UI win when the CPU is short.
	VideoNice = 5
)

// ErrNotPermitted means the system refused the higher priority.
var ErrNotPermitted = errors.New("raising the thread's priority is not permitted")

// Audio locks the calling goroutine to its thread and raises the thread
// to AudioNice. Call it at the top of the goroutine that runs the loop.
func Audio() error { return lockAndNice(AudioNice) }

// Video locks the calling goroutine to its thread and lowers the thread
// to VideoNice.
func Video() error { return lockAndNice(VideoNice) }
