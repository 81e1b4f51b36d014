package server

// dashauth.go: the experimenter's login to the dashboard. The admin token
// is typed once; the browser then holds a session cookie (HttpOnly,
// SameSite=Strict, Secure over TLS) that expires. Every state-changing
// request made with the cookie must carry the login's CSRF token in a
// header, and come from the server's own origin. The API keeps accepting
// the bearer token for the CLI and scripts.

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Dashboard login limits.
const (
	// DashboardSessionTTL is how long a login lasts.
	DashboardSessionTTL = 12 * time.Hour
	// dashCookie is the session cookie's name.
	dashCookie = "parley_admin"
	// csrfHeader carries the login's CSRF token on state-changing requests.
	csrfHeader = "X-CSRF-Token"
	// maxLoginFailures per address within loginFailureWindow lock logins out
	// for the rest of the window.
	maxLoginFailures   = 10
	loginFailureWindow = time.Minute
	// maxDashSessions bounds the logins kept at once (oldest dropped).
	maxDashSessions = 256
)

// ErrCSRF is returned for a cookie-authenticated request that changes
// state without the login's CSRF token or from another origin.
var ErrCSRF = errors.New("cross-site request refused: the page's CSRF token or origin is missing or wrong")

type dashSession struct {
	csrf    string
	expires time.Time
	created time.Time
}

// dashAuth holds the dashboard's logins.
type dashAuth struct {
	clock Clock
	mu    sync.Mutex
	byID  map[string]*dashSession
	fails map[string][]time.Time // by remote address
}

func newDashAuth(clock Clock) *dashAuth {
	return &dashAuth{clock: clock, byID: map[string]*dashSession{}, fails: map[string][]time.Time{}}
}

// login starts a session after a correct token; false when too many wrong
// tokens came from addr lately.
func (a *dashAuth) loginAllowed(addr string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.clock.Now()
	recent := a.fails[addr][:0]
	for _, t := range a.fails[addr] {
		if now.Sub(t) < loginFailureWindow {
			recent = append(recent, t)
		}
	}
	a.fails[addr] = recent
	return len(recent) < maxLoginFailures
}

func (a *dashAuth) failed(addr string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.fails[addr] = append(a.fails[addr], a.clock.Now())
}

// start makes a session and returns its id.
func (a *dashAuth) start() (id string, s *dashSession) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.clock.Now()
	if len(a.byID) >= maxDashSessions {
		var oldest string
		for k, v := range a.byID {
			if oldest == "" || v.created.Before(a.byID[oldest].created) {
				oldest = k
			}
		}
		delete(a.byID, oldest)
	}
	id, _ = newToken()
	csrf, _ := newToken()
	s = &dashSession{csrf: csrf, expires: now.Add(DashboardSessionTTL), created: now}
	a.byID[id] = s
	return id, s
}

// session returns the request's live session, or nil.
func (a *dashAuth) session(r *http.Request) (string, *dashSession) {
	c, err := r.Cookie(dashCookie)
	if err != nil {
		return "", nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.byID[c.Value]
	if s == nil {
		return "", nil
	}
	if !a.clock.Now().Before(s.expires) {
		delete(a.byID, c.Value)
		return "", nil
	}
	return c.Value, s
}

func (a *dashAuth) end(id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.byID, id)
}

// sameOrigin reports whether a state-changing request comes from the
// server's own pages: its Origin (or, without one, its Referer) names this
// host.
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		o = r.Header.Get("Referer")
	}
	if o == "" {
		return false
	}
	u, err := url.Parse(o)
	return err == nil && u.Host == r.Host
}

// cookieAllowed reports whether a request may act with the session's
// rights: reads always; changes with the CSRF token and from this origin.
func cookieAllowed(r *http.Request, s *dashSession) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return true
	}
	got := r.Header.Get(csrfHeader)
	if got == "" {
		got = r.PostFormValue("csrf")
	}
	return subtle.ConstantTimeCompare([]byte(got), []byte(s.csrf)) == 1 && sameOrigin(r)
}

// setSessionCookie sets (or, with maxAge < 0, clears) the session cookie;
// Secure when the browser reached the server over TLS.
func (s *Server) setSessionCookie(w http.ResponseWriter, r *http.Request, id string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: dashCookie, Value: id, Path: "/", MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: s.overTLS(r)})
}

// Headers a trusted reverse proxy sets (Config.TrustedProxy).
const (
	forwardedProto = "X-Forwarded-Proto"
	forwardedFor   = "X-Forwarded-For"
)

// overTLS reports whether the browser's request came over TLS: to this
// server, or to a trusted proxy that says so.
func (s *Server) overTLS(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	if !s.cfg.TrustedProxy {
		return false
	}
	// The first value is the scheme the browser used (a chain of proxies
	// appends theirs).
	proto, _, _ := strings.Cut(r.Header.Get(forwardedProto), ",")
	return strings.EqualFold(strings.TrimSpace(proto), "https")
}

// clientAddr is the address a login counts against: the peer, or behind a
// trusted proxy the address that proxy saw (the last X-Forwarded-For entry:
// the ones before it are whatever the browser sent).
func (s *Server) clientAddr(r *http.Request) string {
	if s.cfg.TrustedProxy {
		if fwd := r.Header.Values(forwardedFor); len(fwd) > 0 {
			all := strings.Split(fwd[len(fwd)-1], ",")
			if last := strings.TrimSpace(all[len(all)-1]); last != "" {
				return last
			}
		}
	}
	return remoteHost(r)
}
