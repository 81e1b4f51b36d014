package server

import (
	"bufio"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// loginWith posts the login form with extra headers and returns the
// response (not followed).
func (b *browser) loginWith(token string, header map[string]string) *http.Response {
	b.t.Helper()
	req, _ := http.NewRequest("POST", b.base+"/admin/login", strings.NewReader(url.Values{"token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.origin)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func sessionCookie(resp *http.Response) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == dashCookie {
			return c
		}
	}
	return nil
}

// TestSecureCookieOnlyOverTLSOrFromATrustedProxy: behind a TLS proxy the
// cookie is Secure when the proxy is trusted and says https; a browser
// that sends X-Forwarded-Proto itself to a server without a trusted proxy
// changes nothing.
func TestSecureCookieOnlyOverTLSOrFromATrustedProxy(t *testing.T) {
	checkGoroutines(t)
	https := map[string]string{forwardedProto: "https"}
	for _, c := range []struct {
		trusted bool
		header  map[string]string
		secure  bool
	}{
		{false, nil, false},
		{false, https, false},
		{true, nil, false},
		{true, map[string]string{forwardedProto: "http"}, false},
		{true, https, true},
		{true, map[string]string{forwardedProto: "HTTPS, http"}, true},
	} {
		ts := startServer(t, t.TempDir(), Config{TrustedProxy: c.trusted}, nil)
		b := newBrowser(t, ts.base)
		resp := b.loginWith(ts.AdminToken(), c.header)
		ck := sessionCookie(resp)
		if ck == nil || ck.Secure != c.secure || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode {
			t.Errorf("trusted proxy %v, headers %v: cookie %+v, want Secure %v", c.trusted, c.header, ck, c.secure)
		}
		ts.Close()
	}
}

// TestDashboardLoginExpires: a login lasts DashboardSessionTTL by the
// server's clock; then the API, the page and the open event stream all
// need a new login.
func TestDashboardLoginExpires(t *testing.T) {
	checkGoroutines(t)
	clk := newFakeClock()
	ts := startServer(t, t.TempDir(), Config{}, clk)
	defer ts.Close()
	b := newBrowser(t, ts.base)
	b.login(ts.AdminToken())
	if resp, _ := b.do("GET", "/api/sessions", "", nil, ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("after login: %d", resp.StatusCode)
	}
	req, _ := http.NewRequest("GET", ts.base+"/admin/events", nil)
	stream, err := b.c.Do(req)
	if err != nil || stream.StatusCode != http.StatusOK {
		t.Fatalf("events: %v %v", err, stream)
	}
	defer stream.Body.Close()
	events := make(chan string, 64)
	go func() {
		defer close(events)
		sc := bufio.NewScanner(stream.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			if ev, ok := strings.CutPrefix(sc.Text(), "event: "); ok {
				events <- ev
			}
		}
	}()
	if ev := <-events; ev != "view" {
		t.Fatalf("first event %q", ev)
	}

	clk.Advance(DashboardSessionTTL - time.Second)
	if resp, _ := b.do("GET", "/api/sessions", "", nil, ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("a second before expiry: %d", resp.StatusCode)
	}
	clk.Advance(time.Second)
	if resp, _ := b.do("GET", "/api/sessions", "", nil, ""); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("at expiry: %d", resp.StatusCode)
	}
	if _, page := b.do("GET", "/admin/", "", nil, ""); !strings.Contains(page, `name="token"`) {
		t.Fatal("the page after expiry is not the login form")
	}
	timeout := time.After(waitTimeout)
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatal("the stream ended without saying the login expired")
			}
			if ev == "logout" {
				return
			}
		case <-timeout:
			t.Fatal("the event stream goes on after the login expired")
		}
	}
}

// TestWrongTokensLockOutLogins: maxLoginFailures wrong tokens from one
// address within loginFailureWindow refuse even the right token from it
// until the window has passed; another address is not locked out. Behind
// a trusted proxy the address is the one the proxy names; without one a
// browser cannot escape the lockout by naming another address itself.
func TestWrongTokensLockOutLogins(t *testing.T) {
	checkGoroutines(t)
	for _, trusted := range []bool{false, true} {
		clk := newFakeClock()
		ts := startServer(t, t.TempDir(), Config{TrustedProxy: trusted}, clk)
		b := newBrowser(t, ts.base)
		from := func(addr string) map[string]string { return map[string]string{forwardedFor: "203.0.113.9, " + addr} }
		for i := 0; i < maxLoginFailures; i++ {
			if resp := b.loginWith("wrong", from("198.51.100.1")); resp.Header.Get("Location") != "/admin/?error=token" {
				t.Fatalf("wrong token %d: %v", i, resp.Header)
			}
			clk.Advance(loginFailureWindow / (2 * maxLoginFailures))
		}
		if resp := b.loginWith(ts.AdminToken(), from("198.51.100.1")); resp.Header.Get("Location") != "/admin/?error=locked" || sessionCookie(resp) != nil {
			t.Errorf("trusted %v: the right token after %d wrong ones: %v", trusted, maxLoginFailures, resp.Header)
		}
		other := b.loginWith(ts.AdminToken(), from("198.51.100.2"))
		if got := sessionCookie(other) != nil; got != trusted {
			t.Errorf("trusted %v: another forwarded address logged in: %v", trusted, got)
		}
		// The window passes after the first failure: one failure less, in again.
		clk.Advance(loginFailureWindow / 2)
		if resp := b.loginWith(ts.AdminToken(), from("198.51.100.1")); sessionCookie(resp) == nil {
			t.Errorf("trusted %v: still locked out after the window: %v", trusted, resp.Header)
		}
		ts.Close()
	}
}
