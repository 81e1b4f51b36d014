package server

// Every state-changing route of the experimenter API refused from outside:
// without a login, with a wrong token, from the dashboard's cookie without
// its CSRF token or from another origin, and aimed at another session's
// participant or group. Nothing a refused request names changes.

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/parley-lab/parley/signaling/protocol"
)

// control is one state-changing request.
type control struct {
	name, method, path string
	body               any
}

// controls are every state-changing API route, aimed at session code
// (group 1, seat A, the participant ids given, webhook hook).
func controls(code, seatA, seatB, hook string) []control {
	s := "/api/sessions/" + code
	return []control{
		{"create session", "POST", "/api/sessions", map[string]any{"room": DefaultRoom}},
		{"start session", "POST", s + "/start", nil},
		{"end session", "POST", s + "/end", nil},
		{"end group", "POST", s + "/groups/1/end", nil},
		{"more time", "POST", s + "/groups/1/time", map[string]any{"delta_s": 60}},
		{"less time", "POST", s + "/groups/1/time", map[string]any{"delta_s": -60}},
		{"more time for all", "POST", s + "/groups/all/time", map[string]any{"delta_s": 60}},
		{"pause", "POST", s + "/groups/1/pause", nil},
		{"resume", "POST", s + "/groups/1/resume", nil},
		{"remove", "POST", s + "/participants/" + url.PathEscape(seatA) + "/remove", nil},
		{"pair", "POST", s + "/pair", map[string]any{"seats": []string{seatA, seatB}}},
		{"post to everyone", "POST", s + "/channels/experimenter/messages", map[string]any{"body": "hello"}},
		{"post to a group", "POST", s + "/channels/group:1/messages", map[string]any{"body": "hello"}},
		{"private post", "POST", s + "/channels/" + url.PathEscape(protocol.PrivateKeyPrefix+seatA) + "/messages", map[string]any{"body": "hello"}},
		{"add webhook", "POST", s + "/webhooks", map[string]any{"url": "http://127.0.0.1:9/hook"}},
		{"delete webhook", "DELETE", "/api/webhooks/" + hook, nil},
	}
}

// request sends c with the given headers (and the cookies of jar's client).
func (c control) request(t *testing.T, client *http.Client, base string, header map[string]string) (int, string) {
	t.Helper()
	var body io.Reader
	if c.body != nil {
		b, _ := json.Marshal(c.body)
		body = strings.NewReader(string(b))
	}
	req, _ := http.NewRequest(c.method, base+c.path, body)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", c.name, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestEveryControlRefusesOutsiders(t *testing.T) {
	checkGoroutines(t)
	ts := startServer(t, t.TempDir(), Config{}, newFakeClock())
	defer ts.Close()
	a, b, w, _ := inCall(t, ts)
	tok := ts.AdminToken()
	var hook struct{ ID string }
	if code := ts.api(t, "POST", "/api/sessions/"+w.Session+"/webhooks", tok, map[string]string{"url": "http://127.0.0.1:9/hook"}, &hook); code != http.StatusOK {
		t.Fatalf("webhook: %d", code)
	}
	sessionsBefore := len(ts.hub.SessionViews())

	// The dashboard's login, for the cookie path.
	br := newBrowser(t, ts.base)
	br.login(tok)
	_, page := br.do("GET", "/admin/", "", nil, "")
	m := csrfMeta.FindStringSubmatch(page)
	if m == nil {
		t.Fatal("no login")
	}
	csrf := m[1]
	plain := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	ways := []struct {
		name   string
		client *http.Client
		header map[string]string
	}{
		{"no login", plain, nil},
		{"wrong token", plain, map[string]string{"Authorization": "Bearer " + strings.Repeat("x", len(tok))}},
		{"empty token", plain, map[string]string{"Authorization": "Bearer "}},
		{"token in another scheme", plain, map[string]string{"Authorization": "Basic " + tok}},
		{"cookie without the CSRF token", br.c, map[string]string{"Origin": ts.base}},
		{"cookie with a wrong CSRF token", br.c, map[string]string{"Origin": ts.base, csrfHeader: csrf + "x"}},
		{"cookie from another origin", br.c, map[string]string{"Origin": "http://evil.example", csrfHeader: csrf}},
		{"cookie from another origin by its referer", br.c, map[string]string{"Referer": "http://evil.example/admin/", csrfHeader: csrf}},
		{"cookie with no origin at all", br.c, map[string]string{csrfHeader: csrf}},
	}
	for _, c := range controls(w.Session, "seat-A", "seat-B", hook.ID) {
		for _, way := range ways {
			if code, body := c.request(t, way.client, ts.base, way.header); code != http.StatusUnauthorized {
				t.Errorf("%s, %s: %d %s, want 401", c.name, way.name, code, body)
			}
		}
	}
	// The dashboard's own state-changing pages.
	if resp, _ := br.do("POST", "/admin/logout", "", nil, ""); resp.StatusCode != http.StatusForbidden {
		t.Errorf("logout without the CSRF token: %d", resp.StatusCode)
	}
	br.origin = "http://evil.example"
	if resp, _ := br.do("POST", "/admin/logout", csrf, nil, ""); resp.StatusCode != http.StatusForbidden {
		t.Errorf("logout from another origin: %d", resp.StatusCode)
	}
	if resp, _ := br.login(tok); resp.StatusCode != http.StatusForbidden {
		t.Errorf("login from another origin: %d", resp.StatusCode)
	}
	br.origin = ts.base

	// Another session's participants and groups: the controls of session
	// "other" that name A and B (by code or id) find nobody.
	other, err := ts.hub.CreateSession(DefaultRoom, nil)
	if err != nil {
		t.Fatal(err)
	}
	codeA := codeOf(t, ts, w.Session, a.id())
	for _, who := range [][2]string{{codeA, b.id()}, {a.id(), b.id()}} {
		for _, c := range controls(other.Code, who[0], who[1], "") {
			switch c.name {
			case "create session", "start session", "end session", "post to everyone", "add webhook", "delete webhook", "more time for all":
				continue // nothing of another session in them
			}
			if code, body := c.request(t, plain, ts.base, map[string]string{"Authorization": "Bearer " + tok}); code != http.StatusNotFound {
				t.Errorf("%s on session %s naming %s: %d %s, want 404", c.name, other.Code, who[0], code, body)
			}
		}
	}

	// Nothing changed: A and B heard nothing, their group still runs, no
	// session was made.
	for _, k := range []*kiosk{a, b} {
		for _, env := range k.drain() {
			switch env.Type {
			case protocol.TypeClock, protocol.TypeEnded, protocol.TypeChatMsg, protocol.TypePaired:
				t.Errorf("%s got %s %s after refused controls", k.name, env.Type, env.Data)
			}
		}
	}
	var gv GroupView
	h := ts.hub
	h.mu.Lock()
	gv = h.groupViewLocked(h.sessions[w.Session].groups[0], h.clock.Now())
	h.mu.Unlock()
	if gv.State != "running" {
		t.Errorf("group 1 is %s after refused controls", gv.State)
	}
	if n := len(ts.hub.SessionViews()); n != sessionsBefore+1 { // +1: "other", made by the test
		t.Errorf("%d sessions after refused creates, want %d", n, sessionsBefore+1)
	}
	hooks, _ := ts.Store().Webhooks(w.Session)
	if len(hooks) != 1 {
		t.Errorf("webhooks after refused changes: %+v", hooks)
	}
	// And the same controls go through with the page's CSRF token, from
	// the page (one of each kind suffices: the route is the same).
	if code, body := (control{"more time", "POST", "/api/sessions/" + w.Session + "/groups/1/time", map[string]any{"delta_s": 60}}).
		request(t, br.c, ts.base, map[string]string{"Origin": ts.base, csrfHeader: csrf}); code != http.StatusOK {
		t.Errorf("more time from the page: %d %s", code, body)
	}
}
