// Package server is Parley's rendezvous server: rooms and sessions, pairing,
// the signaling relay, durable text chat, the discussion clock, the
// experimenter's HTTP API, webhooks and export. Kiosks speak the protocol in
// signaling/protocol over one websocket each (GET /ws); the experimenter uses
// /api/ with the admin token.
package server

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/parley-lab/parley/signaling/store"
)

// AdminTokenFile is the admin token's file in the data directory.
const AdminTokenFile = "admin.token"

// shutdownWait bounds a graceful shutdown.
const shutdownWait = 5 * time.Second

// Websocket buffer sizes per connection (frames larger than these still
// work; they are read and written in pieces).
const (
	readBufferSize  = 1024
	writeBufferSize = 2048
)

// Option changes how a Server is built (for tests and embedding).
type Option func(*Server)

// WithClock injects the clock.
func WithClock(c Clock) Option { return func(s *Server) { s.clock = c } }

// WithLogger injects the logger.
func WithLogger(l *slog.Logger) Option { return func(s *Server) { s.log = l } }

// WithHTTPClient injects the client webhooks are posted with.
func WithHTTPClient(c *http.Client) Option { return func(s *Server) { s.httpc = c } }

// Server is a running rendezvous server.
type Server struct {
	cfg   Config
	clock Clock
	log   *slog.Logger
	httpc *http.Client
	st    *store.Store
	hub   *Hub
	hooks *dispatcher
	admit *admission
	// dash holds the dashboard's logins; stopDash ends its streams at Close.
	dash     *dashAuth
	stopDash chan struct{}
	views    viewCache
	// live holds every open websocket, joined or not, so Close reaches all.
	liveMu     sync.Mutex
	live       map[*conn]struct{}
	closing    bool // set by Close under liveMu: no new loops join wg after it
	adminToken string
	// NewAdminToken is true when this start created the admin token.
	NewAdminToken bool

	upgrader websocket.Upgrader
	mux      *http.ServeMux
	http     *http.Server
	ln       net.Listener
	wg       sync.WaitGroup
	// stopCommit tells the committer to finish the queue and stop.
	stopCommit chan struct{}
	// writeChunk writes recording uploads (recordings.go); segLocks
	// serialises the requests on one segment.
	writeChunk chunkWriter
	segLocks   segLocks
}

// New opens the data directory, restores state and prepares the handlers.
// It does not listen; call Serve or use Handler.
func New(cfg Config, opts ...Option) (*Server, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, clock: RealClock, log: slog.Default(), writeChunk: writeAt}
	for _, o := range opts {
		o(s)
	}
	if s.httpc == nil {
		s.httpc = &http.Client{Timeout: cfg.WebhookTimeout}
	}
	st, err := store.Open(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	s.st = st
	if s.adminToken, s.NewAdminToken, err = loadOrCreateToken(filepath.Join(cfg.DataDir, AdminTokenFile)); err != nil {
		st.Close()
		return nil, err
	}
	s.hub = newHub(cfg, st, s.clock, s.log)
	if err := s.hub.restore(); err != nil {
		st.Close()
		return nil, err
	}
	s.hooks = newDispatcher(st, s.httpc, s.clock, s.log, cfg)
	s.admit = newAdmission(cfg, s.clock, s.log)
	s.hub.notifyWebhooks = s.hooks.wake
	s.upgrader = websocket.Upgrader{
		// Small read buffers and pooled write buffers: most kiosks are idle
		// most of the time, and a lab server may hold thousands of them.
		ReadBufferSize: readBufferSize, WriteBufferSize: writeBufferSize, WriteBufferPool: &sync.Pool{},
		CheckOrigin: func(r *http.Request) bool {
			o := r.Header.Get("Origin")
			return o == "" || contains(cfg.AllowOrigins, o)
		},
	}
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })
	s.mux.HandleFunc("GET /ws", s.serveWS)
	s.dash, s.stopDash = newDashAuth(s.clock), make(chan struct{})
	s.routes()
	s.recordingRoutes()
	s.dashboardRoutes()
	s.stopCommit = make(chan struct{})
	s.wg.Add(2)
	go func() { defer s.wg.Done(); s.hooks.run() }()
	go func() { defer s.wg.Done(); s.hub.committer(s.stopCommit) }()
	return s, nil
}

// Start makes a server, listens on cfg.Listen and serves in the background:
// the in-process server of the demo, the self-test, the benchmarks and
// tests. Close stops it.
func Start(cfg Config, opts ...Option) (*Server, error) {
	s, err := New(cfg, opts...)
	if err != nil {
		return nil, err
	}
	if err := s.Listen(); err != nil {
		s.Close()
		return nil, err
	}
	go s.Serve()
	return s, nil
}

// URL is the kiosks' websocket URL of a listening server.
func (s *Server) URL() string { return "ws://" + s.Addr() + "/ws" }

// AdminToken is the token the experimenter API requires.
func (s *Server) AdminToken() string { return s.adminToken }

// Hub is the server's live state and the experimenter's operations (for a
// dashboard or a test in the same process).
func (s *Server) Hub() *Hub { return s.hub }

// Store is the server's store (for export in-process).
func (s *Server) Store() *store.Store { return s.st }

// Handler serves /ws, /healthz, /api/, /recordings/ and the dashboard.
func (s *Server) Handler() http.Handler { return s.mux }

// Listen binds the configured address (":0" picks a port).
func (s *Server) Listen() error {
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.cfg.Listen, err)
	}
	s.ln = ln
	return nil
}

// Addr is the bound address after Listen.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Serve serves until Close. Listen must have been called.
func (s *Server) Serve() error {
	s.http = &http.Server{Handler: s.mux, ReadHeaderTimeout: 10 * time.Second}
	err := s.http.Serve(s.ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Close stops the server: connections are closed with "going away" so kiosks
// reconnect to the next instance, and the store is closed.
func (s *Server) Close() error {
	s.hub.close()
	close(s.stopDash)
	s.liveMu.Lock()
	s.closing = true
	for c := range s.live {
		c.shut(websocket.CloseGoingAway, "server restarting")
	}
	s.liveMu.Unlock()
	if s.http != nil {
		ctx, cancel := context.WithTimeout(context.Background(), shutdownWait)
		s.http.Shutdown(ctx)
		cancel()
	}
	close(s.stopCommit)
	<-s.hub.cqDone
	s.hooks.stop()
	s.wg.Wait()
	return s.st.Close()
}

func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	addr := remoteHost(r)
	if !s.admit.openConn(addr) {
		http.Error(w, fmt.Sprintf("too many connections from %s (max_conns_per_addr = %d)", addr, s.cfg.MaxConnsPerAddr), http.StatusServiceUnavailable)
		return
	}
	ws, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		s.admit.closeConn(addr)
		return // the upgrader wrote the error
	}
	// The closing check and wg.Add share liveMu with Close, so a socket
	// upgraded while the server shuts down is refused instead of adding to a
	// WaitGroup that Close is already waiting on.
	s.liveMu.Lock()
	defer s.liveMu.Unlock()
	if s.closing {
		ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, "server restarting"), time.Now().Add(s.cfg.WriteWait))
		ws.Close()
		s.admit.closeConn(addr)
		return
	}
	c := newConn(ws, s.cfg.SendQueueBytes, s.log)
	c.addr = addr
	// A connection that never joins is closed, so idle sockets cannot pile up.
	joinTimer := s.watchJoin(c)
	if s.live == nil {
		s.live = map[*conn]struct{}{}
	}
	s.live[c] = struct{}{}
	go func() {
		<-c.done
		joinTimer.Stop()
		s.admit.closeConn(addr)
		s.liveMu.Lock()
		delete(s.live, c)
		s.liveMu.Unlock()
	}()
	// Both loops run in their own goroutines and the handler returns: net/http
	// keeps its per-request state (two 4 KiB buffers, the request, a deep
	// stack) for as long as a hijacked handler runs, which for a kiosk is the
	// whole session.
	s.wg.Add(2)
	go func() { defer s.wg.Done(); c.writeLoop(s.cfg) }()
	go func() { defer s.wg.Done(); c.readLoop(s.hub) }()
}

// joinWatch closes a connection that has not joined within JoinTimeout.
// A join parked until a session opens (no_session) counts as a join: its
// kiosk waits as told, and is looked at again one JoinTimeout later (so a
// parked join refused when the session opens is still closed in time).
type joinWatch struct {
	mu      sync.Mutex
	t       Timer
	stopped bool
}

func (s *Server) watchJoin(c *conn) *joinWatch {
	w := &joinWatch{}
	var check func()
	check = func() {
		if c.joined.Load() {
			return
		}
		if c.parked.Load() {
			w.mu.Lock()
			if !w.stopped {
				w.t = s.clock.AfterFunc(s.cfg.JoinTimeout, check)
			}
			w.mu.Unlock()
			return
		}
		c.shut(websocket.ClosePolicyViolation, fmt.Sprintf("no join within %s", s.cfg.JoinTimeout))
	}
	w.mu.Lock()
	w.t = s.clock.AfterFunc(s.cfg.JoinTimeout, check)
	w.mu.Unlock()
	return w
}

// Stop ends the watch (the connection is closed).
func (w *joinWatch) Stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stopped = true
	w.t.Stop()
}

// loadOrCreateToken reads the admin token, creating it (0600) on first start.
func loadOrCreateToken(path string) (token string, created bool, err error) {
	b, err := os.ReadFile(path)
	if err == nil {
		t := strings.TrimSpace(string(b))
		if len(t) < 16 {
			return "", false, fmt.Errorf("admin token in %s is too short; delete the file to make a new one", path)
		}
		return t, false, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", false, fmt.Errorf("admin token: %w", err)
	}
	token, _ = newToken()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", false, fmt.Errorf("admin token: %w", err)
	}
	if _, err := f.WriteString(token + "\n"); err != nil {
		f.Close()
		return "", false, fmt.Errorf("admin token: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return "", false, err
	}
	return token, true, f.Close()
}

// authorized reports whether an API request may go on: the bearer token
// (compared in constant time), or a dashboard login whose request is
// allowed (a change needs the CSRF token and the server's origin).
func (s *Server) authorized(r *http.Request) bool {
	if got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		return s.tokenMatches(got)
	}
	_, sess := s.dash.session(r)
	return sess != nil && cookieAllowed(r, sess)
}

func (s *Server) tokenMatches(token string) bool {
	return token != "" && subtle.ConstantTimeCompare([]byte(token), []byte(s.adminToken)) == 1
}
