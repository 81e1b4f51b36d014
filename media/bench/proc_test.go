package bench

import "testing"

func TestParseStatCPU(t *testing.T) {
	for _, c := range []struct {
		name, stat string
		want       float64
		ok         bool
	}{
		// utime 250 and stime 50 ticks: the 14th and 15th fields.
		{"plain", "42 (parley) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 9 0 1000 1 1", 3, true},
		{"a command with spaces and brackets", "42 (a (b) c) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 9 0 1000 1 1", 3, true},
		{"cut short", "42 (parley) S 1 42", 0, false},
		{"no command", "42 parley S", 0, false},
	} {
		got, err := parseStatCPU(c.stat)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("%s: %v, %v; want %v (ok %v)", c.name, got, err, c.want, c.ok)
		}
	}
}

func TestStatusBytes(t *testing.T) {
	status := "Name:\tparley\nVmHWM:\t   2048 kB\nVmRSS:\t   1024 kB\nThreads:\t9\n"
	for _, c := range []struct {
		key  string
		want int64
		ok   bool
	}{{"VmRSS", 1 << 20, true}, {"VmHWM", 2 << 20, true}, {"VmSwap", 0, false}} {
		got, err := statusBytes(status, c.key)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("%s: %d, %v; want %d (ok %v)", c.key, got, err, c.want, c.ok)
		}
	}
}

func TestMachine(t *testing.T) {
	info := "processor\t: 0\nmodel name\t: Some CPU @ 2.0GHz\n\nprocessor\t: 1\nmodel name\t: Some CPU @ 2.0GHz\n"
	if got, want := machine(info, "lab-1"), "Some CPU @ 2.0GHz, 2 cores, lab-1"; got != want {
		t.Fatalf("%q, want %q", got, want)
	}
}
