package server

// admission.go: who may open a websocket and join, per remote address, so
// one misbehaving machine (or a script) cannot exhaust the server while a
// lab's kiosks behind one NAT still fit.

import (
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// capLogInterval bounds how often a cap hit by one address is logged.
const capLogInterval = time.Minute

// joinWindow is the window MaxJoinsPerAddrPerMinute counts over.
const joinWindow = time.Minute

// admission counts open connections and recent joins per remote address.
type admission struct {
	maxConns, maxJoins int
	clock              Clock
	log                *slog.Logger

	mu     sync.Mutex
	conns  map[string]int
	joins  map[string][]time.Time // within joinWindow, oldest first
	logged map[string]time.Time   // last cap log per address and cap
}

func newAdmission(cfg Config, clock Clock, log *slog.Logger) *admission {
	return &admission{maxConns: cfg.MaxConnsPerAddr, maxJoins: cfg.MaxJoinsPerAddrPerMinute, clock: clock, log: log,
		conns: map[string]int{}, joins: map[string][]time.Time{}, logged: map[string]time.Time{}}
}

// remoteHost is the IP address part of a request's remote address.
func remoteHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// openConn counts a new connection from addr; false means the cap is hit.
func (a *admission) openConn(addr string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.maxConns > 0 && a.conns[addr] >= a.maxConns {
		a.logCapLocked(addr, "max_conns_per_addr", a.maxConns)
		return false
	}
	a.conns[addr]++
	return true
}

// closeConn uncounts a connection.
func (a *admission) closeConn(addr string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.conns[addr] <= 1 {
		delete(a.conns, addr)
		return
	}
	a.conns[addr]--
}

// join counts a join from addr; false means the cap is hit.
func (a *admission) join(addr string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.maxJoins <= 0 {
		return true
	}
	now := a.clock.Now()
	recent := a.joins[addr]
	for len(recent) > 0 && now.Sub(recent[0]) >= joinWindow {
		recent = recent[1:]
	}
	if len(recent) >= a.maxJoins {
		a.joins[addr] = recent
		a.logCapLocked(addr, "max_joins_per_addr_per_minute", a.maxJoins)
		return false
	}
	if len(recent) == 0 {
		recent = nil // let the old backing array go
	}
	a.joins[addr] = append(recent, now)
	return true
}

func (a *admission) logCapLocked(addr, which string, limit int) {
	key := addr + " " + which
	now := a.clock.Now()
	if t, ok := a.logged[key]; ok && now.Sub(t) < capLogInterval {
		return
	}
	a.logged[key] = now
	a.log.Warn("connection cap reached; refusing", "addr", addr, "cap", which, "limit", limit)
}
