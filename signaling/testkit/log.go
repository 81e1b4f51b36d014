package testkit

import (
	"strings"
	"sync"
)

// Log collects what a test's loggers and child processes write, safe for
// concurrent writers, so that a test can wait for a line or print it all.
type Log struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *Log) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String is everything written so far.
func (l *Log) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Contains reports whether s was written.
func (l *Log) Contains(s string) bool {
	return strings.Contains(l.String(), s)
}
