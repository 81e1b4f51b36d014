package bench

// proc.go: what the benchmarks read of processes and of the machine,
// from /proc and getrusage: CPU time, resident memory, the CPU's name.

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTicks is USER_HZ, 100 on Linux.
const clockTicks = 100

// CPUSeconds is this process's user and system CPU time so far.
func CPUSeconds() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// ProcCPU is a process's user+system CPU seconds so far.
func ProcCPU(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStatCPU(string(b))
}

// parseStatCPU reads utime and stime from a /proc/<pid>/stat line.
func parseStatCPU(s string) (float64, error) {
	// The fields after the command (which may hold spaces and brackets)
	// start after the last ')'.
	end := strings.LastIndexByte(s, ')')
	if end < 0 || end+2 > len(s) {
		return 0, fmt.Errorf("stat %q: no command", s)
	}
	fields := strings.Fields(s[end+2:])
	if len(fields) < 13 {
		return 0, fmt.Errorf("stat: %d fields", len(fields))
	}
	ut, err := strconv.ParseFloat(fields[11], 64)
	if err != nil {
		return 0, err
	}
	st, err := strconv.ParseFloat(fields[12], 64)
	if err != nil {
		return 0, err
	}
	return (ut + st) / clockTicks, nil
}

// treeCPU sums the CPU seconds of every process whose command line names
// the profile directory (all of one Chromium's processes).
func treeCPU(profile string) float64 {
	entries, _ := os.ReadDir("/proc")
	var total float64
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil || !strings.Contains(string(cmdline), profile) {
			continue
		}
		if cpu, err := ProcCPU(pid); err == nil {
			total += cpu
		}
	}
	return total
}

// ProcRSS is a process's resident memory now, in bytes; ProcPeakRSS its
// most so far.
func ProcRSS(pid int) (int64, error)     { return procStatus(pid, "VmRSS") }
func ProcPeakRSS(pid int) (int64, error) { return procStatus(pid, "VmHWM") }

func procStatus(pid int, key string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	n, err := statusBytes(string(b), key)
	if err != nil {
		return 0, fmt.Errorf("/proc/%d/status: %w", pid, err)
	}
	return n, nil
}

// statusBytes reads a "key:  123 kB" line of /proc/<pid>/status, in bytes.
func statusBytes(status, key string) (int64, error) {
	for _, l := range strings.Split(status, "\n") {
		if v, ok := strings.CutPrefix(l, key+":"); ok {
			f := strings.Fields(v)
			if len(f) == 0 {
				return 0, fmt.Errorf("%s has no value", key)
			}
			kb, err := strconv.ParseInt(f[0], 10, 64)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("no %s", key)
}

// Machine names this machine for the reports: its CPU, how many cores,
// its host name.
func Machine() string {
	host, _ := os.Hostname()
	b, _ := os.ReadFile("/proc/cpuinfo")
	return machine(string(b), host)
}

func machine(cpuinfo, host string) string {
	cpu := ""
	for _, l := range strings.Split(cpuinfo, "\n") {
		if strings.HasPrefix(l, "model name") {
			_, cpu, _ = strings.Cut(l, ": ")
			break
		}
	}
	n := strings.Count(cpuinfo, "processor\t:")
	return fmt.Sprintf("%s, %d cores, %s", cpu, n, host)
}
