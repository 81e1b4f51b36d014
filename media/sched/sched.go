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

import (
	"errors"
	"runtime"
)

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

// SpareProcs is how many Go processors a media process keeps beyond its
// CPUs. miniaudio's device threads call into Go every period and must find
// a free P at once; when every P runs busy goroutines they wait, and the
// speaker runs dry. Measured on 2 cores (another engineer's build beside),
// a call through PulseAudio with two busy goroutines in the process, 10 s
// (media/bench's TestCallThroughPulseAudio): GOMAXPROCS 2 gave 106-108 dropouts and 137-171 ms
// mouth to ear in 2 runs; GOMAXPROCS 4 gave 1, 2, 0 and 30 dropouts and
// 61-167 ms in 4 runs (the 30 while the machine was loaded besides).
const SpareProcs = 2

// AudioProcs sets GOMAXPROCS to the CPUs plus SpareProcs and returns the
// previous setting.
func AudioProcs() int { return runtime.GOMAXPROCS(runtime.NumCPU() + SpareProcs) }
