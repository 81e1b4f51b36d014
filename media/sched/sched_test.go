package sched

import (
	"errors"
	"runtime"
	"testing"
)

// The thread gets the nice value (or, raising without permission, the
// error says so), and only the calling goroutine's thread does.
func TestNice(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("nice values per thread are Linux's")
	}
	runtime.LockOSThread()
	base, err := threadNice() // the test's own thread, as the process was started
	runtime.UnlockOSThread()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		set  func() error
		want int
	}{{"video", Video, VideoNice}, {"audio", Audio, AudioNice}} {
		t.Run(tc.name, func(t *testing.T) {
			type result struct {
				nice int
				err  error
			}
			done := make(chan result)
			go func() {
				err := tc.set()
				n, _ := threadNice()
				done <- result{n, err}
			}() // exits locked: its thread goes with it
			r := <-done
			if errors.Is(r.err, ErrNotPermitted) {
				t.Skipf("not permitted here: %v", r.err)
			}
			if r.err != nil || r.nice != tc.want {
				t.Fatalf("nice %d, err %v; want %d", r.nice, r.err, tc.want)
			}
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			if n, _ := threadNice(); n != base {
				t.Fatalf("the test's own thread has nice %d", n)
			}
		})
	}
}
