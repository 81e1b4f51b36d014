package sched

import (
	"errors"
	"fmt"
	"runtime"
	"syscall"
)

func lockAndNice(nice int) error {
	runtime.LockOSThread()
	// PRIO_PROCESS with a thread id sets that one thread on Linux.
	err := syscall.Setpriority(syscall.PRIO_PROCESS, syscall.Gettid(), nice)
	if errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM) {
		return fmt.Errorf("%w (nice %d): %v", ErrNotPermitted, nice, err)
	}
	return err
}

// threadNice reads the calling thread's nice value (for tests).
func threadNice() (int, error) {
	// getpriority returns 20-nice for the raw syscall; syscall.Getpriority
	// is the raw one on Linux.
	p, err := syscall.Getpriority(syscall.PRIO_PROCESS, syscall.Gettid())
	return 20 - p, err
}
