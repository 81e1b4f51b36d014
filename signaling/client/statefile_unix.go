//go:build unix

package client

import (
	"errors"
	"os"
	"syscall"
)

// tryLock takes f's exclusive flock without waiting (errLocked when
// another open file holds it, in this process or another).
func tryLock(f *os.File) error {
	err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return errLocked
	}
	return err
}
