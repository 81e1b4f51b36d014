//go:build !linux

package sched

import "runtime"

func lockAndNice(int) error { runtime.LockOSThread(); return nil }

func threadNice() (int, error) { return 0, nil }
