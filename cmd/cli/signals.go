package cli

import (
	"errors"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

// Leaving on a signal.
const (
	// ExitLimit bounds how long the kiosk and the self-test take to leave
	// after SIGTERM or SIGINT; past it (or at a second signal) the process
	// exits with ExitCodeStuck.
	ExitLimit = 10 * time.Second
	// ExitCodeStuck is the exit code when leaving took longer than ExitLimit.
	ExitCodeStuck = 3
)

// ErrInterrupted means a command was stopped by SIGTERM or SIGINT before it
// finished (the self-test: its result is incomplete).
var ErrInterrupted = errors.New("stopped by a signal")

// ErrStuck means a command did not stop within ExitLimit after its time
// limit or a signal; the process exits regardless.
var ErrStuck = errors.New("stuck")

// Test hooks: signalsInstalled runs once the handler listens; exitProcess
// ends the process when leaving is stuck.
var (
	signalsInstalled = func() {}
	exitProcess      = os.Exit
)

// onStopSignal calls stop (once, on its own goroutine) at the first SIGTERM
// or SIGINT, and ends the process if it is still running ExitLimit later or
// at a second signal. The returned function stops listening; call it when
// leaving normally (after that the signals have their default effect).
func onStopSignal(log *slog.Logger, stop func(os.Signal)) (cancel func()) {
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT)
	done := make(chan struct{})
	var once sync.Once
	go func() {
		var watchdog <-chan time.Time
		for {
			select {
			case <-done:
				return
			case sig := <-ch:
				if watchdog != nil {
					log.Error("second signal: exiting now", "signal", sig.String())
					exitProcess(ExitCodeStuck)
					return
				}
				log.Info("leaving on a signal", "signal", sig.String(), "limit", ExitLimit)
				watchdog = time.After(ExitLimit)
				go stop(sig)
			case <-watchdog:
				log.Error("did not leave within the limit after a signal: exiting now", "limit", ExitLimit)
				exitProcess(ExitCodeStuck)
				return
			}
		}
	}()
	signalsInstalled()
	return func() {
		once.Do(func() {
			signal.Stop(ch)
			close(done)
		})
	}
}
