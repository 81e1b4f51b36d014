package server

// dashboard.go: the experimenter's live view at /admin/, served by the
// server itself with every asset embedded (a lab network has no internet).
// The page is plain HTML with a little JavaScript: it logs in once, then
// follows one server-sent event stream that pushes a fresh view of the
// selected session whenever anything in the hub changed, and it acts
// through the same /api/ routes as the CLI (with the login's cookie and
// CSRF token instead of the bearer token). Server-sent events need no
// library on either side and go through any proxy that passes HTTP.

import (
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"sync"
	"time"
)

//go:embed admin/*
var adminFS embed.FS

var adminPages = template.Must(template.ParseFS(adminFS, "admin/*.html"))

// Dashboard push limits.
const (
	// DashboardPushInterval is how often a stream looks for a change (the
	// view follows a change within this and the time to send it).
	DashboardPushInterval = 100 * time.Millisecond
	// dashHeartbeat keeps idle streams open through proxies.
	dashHeartbeat = 15 * time.Second
	// dashChatKept is how many of the session's latest messages a view holds.
	dashChatKept = 200
)

// DashboardView is what one push holds: every session, and the selected
// one's participants, groups and latest chat.
type DashboardView struct {
	Version      uint64            `json:"version"`
	Sessions     []SessionView     `json:"sessions"`
	Session      string            `json:"session,omitempty"`
	Participants []ParticipantView `json:"participants"`
	Groups       []GroupView       `json:"groups"`
	Chat         []APIMessage      `json:"chat"`
	ServerTime   time.Time         `json:"server_time"`
}

// DashboardView builds the view of session code ("" for none selected).
func (h *Hub) DashboardView(code string) (DashboardView, error) {
	v := DashboardView{Version: h.version.Load(), Sessions: h.SessionViews(), Participants: []ParticipantView{},
		Groups: []GroupView{}, Chat: []APIMessage{}, ServerTime: h.clock.Now().UTC()}
	if code == "" {
		return v, nil
	}
	ps, err := h.Participants(code)
	if err != nil {
		return v, err
	}
	v.Session, v.Participants = code, ps
	h.mu.Lock()
	s := h.sessions[code]
	now := h.clock.Now()
	for _, g := range s.groups {
		v.Groups = append(v.Groups, h.groupViewLocked(g, now))
	}
	h.mu.Unlock()
	msgs, err := h.st.LatestMessages(code, dashChatKept)
	if err != nil {
		return v, err
	}
	for _, m := range msgs {
		v.Chat = append(v.Chat, apiMessage(m))
	}
	return v, nil
}

func (s *Server) dashboardRoutes() {
	s.mux.HandleFunc("GET /admin", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/admin/", http.StatusMovedPermanently)
	})
	s.mux.HandleFunc("GET /admin/{$}", s.adminPage)
	s.mux.HandleFunc("POST /admin/login", s.adminLogin)
	s.mux.HandleFunc("POST /admin/logout", s.adminLogout)
	s.mux.HandleFunc("GET /admin/static/{file}", s.adminStatic)
	s.mux.HandleFunc("GET /admin/events", s.adminEvents)
}

func noStore(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'self'; script-src 'self'; img-src 'self' data:; frame-ancestors 'none'")
}

func (s *Server) adminPage(w http.ResponseWriter, r *http.Request) {
	noStore(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, sess := s.dash.session(r)
	if sess == nil {
		adminPages.ExecuteTemplate(w, "login.html", map[string]string{"Error": r.URL.Query().Get("error")})
		return
	}
	adminPages.ExecuteTemplate(w, "dashboard.html", map[string]string{"CSRF": sess.csrf})
}

func (s *Server) adminLogin(w http.ResponseWriter, r *http.Request) {
	noStore(w)
	addr := s.clientAddr(r)
	if !sameOrigin(r) {
		http.Error(w, ErrCSRF.Error(), http.StatusForbidden)
		return
	}
	if !s.dash.loginAllowed(addr) {
		http.Redirect(w, r, "/admin/?error=locked", http.StatusSeeOther)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxAPIBody)
	token := strings.TrimSpace(r.PostFormValue("token"))
	if !s.tokenMatches(token) {
		s.dash.failed(addr)
		s.log.Warn("dashboard login refused", "addr", addr)
		http.Redirect(w, r, "/admin/?error=token", http.StatusSeeOther)
		return
	}
	id, _ := s.dash.start()
	s.setSessionCookie(w, r, id, int(DashboardSessionTTL/time.Second))
	s.log.Info("dashboard login", "addr", addr)
	http.Redirect(w, r, "/admin/", http.StatusSeeOther)
}

func (s *Server) adminLogout(w http.ResponseWriter, r *http.Request) {
	noStore(w)
	id, sess := s.dash.session(r)
	if sess == nil || !cookieAllowed(r, sess) {
		http.Error(w, ErrCSRF.Error(), http.StatusForbidden)
		return
	}
	s.dash.end(id)
	s.setSessionCookie(w, r, "", -1)
	http.Redirect(w, r, "/admin/", http.StatusSeeOther)
}

func (s *Server) adminStatic(w http.ResponseWriter, r *http.Request) {
	noStore(w)
	name := r.PathValue("file")
	// The login page's style is public; everything else needs a login.
	if _, sess := s.dash.session(r); sess == nil && name != "login.css" {
		http.Error(w, "log in first", http.StatusUnauthorized)
		return
	}
	types := map[string]string{".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
	ct := ""
	for ext, t := range types {
		if strings.HasSuffix(name, ext) {
			ct = t
		}
	}
	b, err := adminFS.ReadFile("admin/" + name)
	if err != nil || ct == "" || strings.Contains(name, "/") {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", ct)
	w.Write(b)
}

// viewCache keeps the latest view of each session, encoded, so that
// several dashboards watching one session share one build per change.
type viewCache struct {
	mu    sync.Mutex
	views map[string]cachedView
}

type cachedView struct {
	version uint64
	data    []byte
}

// get returns the view of code as of version (or later), building it once.
func (c *viewCache) get(h *Hub, code string, version uint64) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok := c.views[code]; ok && v.version >= version {
		return v.data, nil
	}
	view, err := h.DashboardView(code)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(view)
	if err != nil {
		return nil, err
	}
	if c.views == nil {
		c.views = map[string]cachedView{}
	}
	if len(c.views) > maxCachedViews {
		clear(c.views)
	}
	c.views[code] = cachedView{version: view.Version, data: b}
	return b, nil
}

// maxCachedViews bounds the sessions whose views are kept.
const maxCachedViews = 64

// adminEvents streams DashboardView as server-sent events: one at once,
// then one whenever the hub changed.
func (s *Server) adminEvents(w http.ResponseWriter, r *http.Request) {
	noStore(w)
	if _, sess := s.dash.session(r); sess == nil {
		http.Error(w, "log in first", http.StatusUnauthorized)
		return
	}
	code := r.URL.Query().Get("session")
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("X-Accel-Buffering", "no") // a proxy (nginx) passes each event at once
	tick := time.NewTicker(DashboardPushInterval)
	defer tick.Stop()
	var sent uint64
	lastWrite := time.Now()
	for first := true; ; first = false {
		if v := s.hub.version.Load(); first || v != sent {
			b, err := s.views.get(s.hub, code, v)
			if err != nil {
				b, _ := json.Marshal(err.Error())
				fmt.Fprintf(w, "event: problem\ndata: %s\n\n", b)
			} else {
				fmt.Fprintf(w, "event: view\ndata: %s\n\n", b)
			}
			fl.Flush()
			sent, lastWrite = v, time.Now()
		} else if time.Since(lastWrite) > dashHeartbeat {
			fmt.Fprint(w, ": still here\n\n")
			fl.Flush()
			lastWrite = time.Now()
		}
		select {
		case <-r.Context().Done():
			return
		case <-s.stopDash:
			return
		case <-tick.C:
		}
		if _, sess := s.dash.session(r); sess == nil {
			fmt.Fprint(w, "event: logout\ndata: {}\n\n")
			fl.Flush()
			return // logged out (or expired) elsewhere: the stream ends too
		}
	}
}
