package server

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/parley-lab/parley/signaling/protocol"
)

// browser is an HTTP client with cookies that sends the Origin a browser
// on the dashboard's page would.
type browser struct {
	t      *testing.T
	c      *http.Client
	base   string
	origin string
}

func newBrowser(t *testing.T, base string) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, base: base, origin: base,
		c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *browser) do(method, path, csrf string, body io.Reader, ct string) (*http.Response, string) {
	b.t.Helper()
	req, _ := http.NewRequest(method, b.base+path, body)
	if b.origin != "" && method != "GET" {
		req.Header.Set("Origin", b.origin)
	}
	if csrf != "" {
		req.Header.Set(csrfHeader, csrf)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(data)
}

func (b *browser) login(token string) (*http.Response, string) {
	return b.do("POST", "/admin/login", "", strings.NewReader(url.Values{"token": {token}}.Encode()), "application/x-www-form-urlencoded")
}

var csrfMeta = regexp.MustCompile(`<meta name="csrf" content="([^"]+)">`)

func TestDashboardLoginCSRFAndLogout(t *testing.T) {
	checkGoroutines(t)
	ts := startServer(t, t.TempDir(), Config{}, nil)
	defer ts.Close()
	b := newBrowser(t, ts.base)
	// Nothing but the login page without a login.
	for _, path := range []string{"/admin/static/app.js", "/admin/events", "/api/sessions"} {
		if resp, _ := b.do("GET", path, "", nil, ""); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s without login: %d", path, resp.StatusCode)
		}
	}
	if _, page := b.do("GET", "/admin/", "", nil, ""); !strings.Contains(page, `name="token"`) || csrfMeta.MatchString(page) {
		t.Fatal("the page without login is not the login form")
	}
	// A wrong token, then the right one.
	if resp, _ := b.login("wrong"); resp.Header.Get("Location") != "/admin/?error=token" {
		t.Fatalf("wrong token: %d %v", resp.StatusCode, resp.Header)
	}
	resp, _ := b.login(ts.AdminToken())
	ck := resp.Header.Get("Set-Cookie")
	if !strings.Contains(ck, "HttpOnly") || !strings.Contains(ck, "SameSite=Strict") {
		t.Fatalf("session cookie %q", ck)
	}
	_, page := b.do("GET", "/admin/", "", nil, "")
	m := csrfMeta.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no dashboard after login: %.200s", page)
	}
	csrf := m[1]
	if resp, _ := b.do("GET", "/api/sessions", "", nil, ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("reading with the cookie: %d", resp.StatusCode)
	}
	create := func(csrf string) int {
		resp, _ := b.do("POST", "/api/sessions", csrf, strings.NewReader(`{"room":"lab"}`), "application/json")
		return resp.StatusCode
	}
	if code := create(""); code != http.StatusUnauthorized {
		t.Errorf("a change without the CSRF token: %d", code)
	}
	b.origin = "http://evil.example"
	if code := create(csrf); code != http.StatusUnauthorized {
		t.Errorf("a forged cross-site change: %d", code)
	}
	b.origin = ts.base
	if code := create(csrf); code != http.StatusOK {
		t.Errorf("a change from the page: %d", code)
	}
	// Logging out locks everything again.
	if resp, _ := b.do("POST", "/admin/logout", csrf, nil, ""); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	if resp, _ := b.do("GET", "/api/sessions", "", nil, ""); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("after logout: %d", resp.StatusCode)
	}
}

func TestDashboardPushesAChangeAtOnce(t *testing.T) {
	checkGoroutines(t)
	ts := startServer(t, t.TempDir(), Config{}, nil)
	defer ts.Close()
	a := dialKiosk(t, ts.url, "A")
	w := a.join(protocol.JoinRequest{})
	b := newBrowser(t, ts.base)
	b.login(ts.AdminToken())
	req, _ := http.NewRequest("GET", ts.base+"/admin/events?session="+w.Session, nil)
	resp, err := b.c.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("events: %v %v", err, resp)
	}
	defer resp.Body.Close()
	views := make(chan DashboardView, 16)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				var v DashboardView
				if json.Unmarshal([]byte(d), &v) == nil && v.Version != 0 {
					views <- v
				}
			}
		}
		close(views)
	}()
	first := <-views
	if len(first.Participants) != 1 {
		t.Fatalf("first view: %+v", first)
	}
	// A second kiosk joins: the view shows it within the push interval
	// plus the time to build it (the benchmark measures this at scale).
	joined := time.Now()
	dialKiosk(t, ts.url, "B").join(protocol.JoinRequest{})
	for v := range views {
		if len(v.Participants) == 2 {
			t.Logf("change shown after %v", time.Since(joined))
			return
		}
	}
	t.Fatal("the stream ended before the second participant showed")
}
