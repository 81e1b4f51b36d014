package audiolab

// busy.go: load as another program makes it, for the loaded phases.

import (
	"os/exec"
	"runtime"
	"sync"
)

// Busy starts a busy loop per CPU in processes of their own and returns
// the function that stops them. They die with this process.
func Busy() (stop func(), err error) {
	var procs []*exec.Cmd
	kill := func() {
		for _, c := range procs {
			c.Process.Kill()
			c.Wait()
		}
	}
	for i := 0; i < runtime.NumCPU(); i++ {
		// Under the ordinary scheduler, whatever thread starts it: a Go
		// thread that once ran miniaudio's real-time callback may itself be
		// SCHED_FIFO, and a real-time busy loop per core starves the
		// machine (this process could not even exit).
		c := exec.Command("chrt", "--other", "0", "sh", "-c", "while :; do :; done")
		c.SysProcAttr = dieWithParent
		if err := c.Start(); err != nil {
			kill()
			return nil, err
		}
		procs = append(procs, c)
	}
	var once sync.Once
	return func() { once.Do(kill) }, nil
}
