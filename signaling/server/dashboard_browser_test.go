package server

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/parley-lab/parley/signaling/protocol"
)

// TestDashboardInChromium: the experimenter's page as an experimenter uses
// it, in Debian's Chromium: log in, watch two pairs in their discussion,
// message a group, give more time, pause, remove a participant, log out.
// PARLEY_SHOTS (set by dev.sh) keeps the screenshot.
func TestDashboardInChromium(t *testing.T) {
	ts := startServer(t, t.TempDir(), Config{}, nil)
	defer ts.Close()
	experimenterDay(t, ts, startChromium(t), "chromium")
}

// TestDashboardInFirefox: the same, in Debian's Firefox ESR.
func TestDashboardInFirefox(t *testing.T) {
	ts := startServer(t, t.TempDir(), Config{}, nil)
	defer ts.Close()
	experimenterDay(t, ts, startFirefox(t), "firefox")
}

// realBrowser is what the dashboard tests do in a real browser (chromium, firefox).
type realBrowser interface {
	navigate(url string)
	until(what, js string)
	run(js string) error
	value(js string, out any) error
	screenshot(path string)
}

// experimenterDay is the experimenter's session in br (named name in
// the screenshot's file name).
func experimenterDay(t *testing.T, ts *testServer, br realBrowser, name string) {
	do := func(js string) {
		t.Helper()
		if err := br.run(js); err != nil {
			t.Fatal(err)
		}
	}
	a, b, w, clkA := inCall(t, ts)
	c, d := dialKiosk(t, ts.url, "C"), dialKiosk(t, ts.url, "D")
	c.join(protocol.JoinRequest{})
	d.join(protocol.JoinRequest{})
	c.waitPaired()
	d.waitPaired()
	startCall(t, c, d)
	var clkC protocol.Clock
	c.nextBody(protocol.TypeClock, &clkC)
	for _, k := range []*kiosk{a, b, c, d} {
		k.send(protocol.TypeStats, "", protocol.Stats{Peer: "x", RTTMS: 3, FPSSent: 30, FPSRecv: 29, AudioDelayMS: 22, VideoDelayMS: 7})
	}

	// Log in with the admin token.
	br.navigate(ts.base + "/admin/")
	br.until("the login form", `document.getElementById("token")`)
	if err := br.run(`document.getElementById("token").value = ` + jsString(ts.AdminToken()) + `; setTimeout(() => document.getElementById("login").click(), 0)`); err != nil {
		t.Fatal(err)
	}
	br.until("the dashboard", `document.querySelector('meta[name="csrf"]')`)
	br.navigate(ts.base + "/admin/?session=" + w.Session)
	// The kiosks' rows, live.
	br.until("seat A's row in a call", `document.querySelector("#participant-seat-A .state-in_call")`)
	br.until("group 2", `document.getElementById("group-2")`)
	do(`window.confirm = () => true`)
	if dir := os.Getenv("PARLEY_SHOTS"); dir != "" {
		os.MkdirAll(dir, 0o755)
		br.screenshot(filepath.Join(dir, "dashboard-two-pairs-"+name+".png"))
	}
	br.screenshot(filepath.Join(t.TempDir(), "dashboard.png"))

	// A newcomer's row appears without a reload.
	e := dialKiosk(t, ts.url, "E")
	e.join(protocol.JoinRequest{})
	br.until("the newcomer's row", `document.getElementById("participant-seat-E")`)

	// A message to group 1 reaches its kiosks.
	do(`document.getElementById("post-to").value = "group:1"; document.getElementById("post-body").value = "Two minutes left";
		document.querySelector("#post-form button").click()`)
	var m protocol.ChatMessage
	a.nextBody(protocol.TypeChatMsg, &m)
	if m.Body != "Two minutes left" || m.Role != protocol.RoleExperimenter {
		t.Fatalf("A got %+v", m)
	}
	br.until("the message in the chat", `[...document.querySelectorAll("#chat .body")].some(e => e.textContent === "Two minutes left")`)

	// More time moves the kiosk's deadline.
	do(`document.querySelector("#group-1 .more-time").click()`)
	var clk protocol.Clock
	a.nextBody(protocol.TypeClock, &clk)
	if clk.DeadlineMS != clkA.DeadlineMS+60_000 {
		t.Fatalf("deadline %d after +1 min, want %d", clk.DeadlineMS, clkA.DeadlineMS+60_000)
	}
	// A minute more for all groups: both pairs' deadlines move.
	do(`document.getElementById("more-time-all").click()`)
	a.nextBody(protocol.TypeClock, &clk)
	if clk.DeadlineMS != clkA.DeadlineMS+120_000 {
		t.Fatalf("group 1's deadline %d after +1 min for all, want %d", clk.DeadlineMS, clkA.DeadlineMS+120_000)
	}
	var clk2 protocol.Clock
	c.nextBody(protocol.TypeClock, &clk2)
	if clk2.DeadlineMS != clkC.DeadlineMS+60_000 {
		t.Fatalf("group 2's deadline %d after +1 min for all, want %d", clk2.DeadlineMS, clkC.DeadlineMS+60_000)
	}
	// Pause stops it.
	br.until("the pause button", `document.querySelector("#group-1 .pause")`)
	do(`document.querySelector("#group-1 .pause").click()`)
	a.nextBody(protocol.TypeClock, &clk)
	if !clk.Paused {
		t.Fatalf("clock after pause: %+v", clk)
	}
	br.until("group 1 shown paused", `document.querySelector("#group-1 .state-paused")`)

	// Remove ends that kiosk.
	do(`document.querySelector("#participant-seat-C .remove").click()`)
	var ended protocol.Ended
	c.nextBody(protocol.TypeEnded, &ended)
	if ended.Reason != protocol.EndRemoved {
		t.Fatalf("C ended %+v", ended)
	}
	br.until("C shown removed", `document.querySelector("#participant-seat-C .state-removed")`)

	// Logging out locks the page again.
	// Clicked after the script returns: the click navigates, and a browser
	// drops the answer of a script whose page goes away.
	do(`setTimeout(() => document.getElementById("logout").click(), 0)`)
	br.until("the login form after logout", `document.getElementById("token")`)
	var status int
	if err := br.value(`fetch("/api/sessions").then(r => r.status)`, &status); err != nil || status != 401 {
		t.Fatalf("the API after logout: %d %v", status, err)
	}
}

// TestRecordingSessionInChromium: in a session that records, the
// experimenter sees at a glance who declined, who is being recorded and how
// many segments have reached the server.
func TestRecordingSessionInChromium(t *testing.T) {
	cfg := recordingConfig(protocol.RecordAudioVideo)
	ts := startServer(t, t.TempDir(), cfg, nil)
	defer ts.Close()
	br := startChromium(t)
	a, b := dialKiosk(t, ts.url, "A"), dialKiosk(t, ts.url, "B")
	a.join(protocol.JoinRequest{})
	b.join(protocol.JoinRequest{})
	a.consent(true)
	b.consent(false)
	a.send(protocol.TypeRecording, "r1", protocol.RecordingState{Segment: "seg-1", Seq: 1, State: protocol.RecordingStarted, ID: "r1"})
	for env := a.next(protocol.TypeAck); env.Ref != "r1"; env = a.next(protocol.TypeAck) {
	}

	br.navigate(ts.base + "/admin/")
	br.until("the login form", `document.getElementById("token")`)
	if err := br.run(`document.getElementById("token").value = ` + jsString(ts.AdminToken()) + `; setTimeout(() => document.getElementById("login").click(), 0)`); err != nil {
		t.Fatal(err)
	}
	br.until("the dashboard", `document.querySelector('meta[name="csrf"]')`)
	br.navigate(ts.base + "/admin/?session=" + a.welcome.Session)
	br.until("seat B's row, declined", `document.querySelector("#participant-seat-B .state-declined")`)
	br.until("seat A's row, recording", `[...document.querySelectorAll("#participant-seat-A td")].some(td => td.textContent.startsWith("recording, 0/0"))`)
	br.until("the session's setting", `document.body.textContent.includes("recording audio_video")`)
	if dir := os.Getenv("PARLEY_SHOTS"); dir != "" {
		os.MkdirAll(dir, 0o755)
		br.screenshot(filepath.Join(dir, "dashboard-recording.png"))
	}
	br.screenshot(filepath.Join(t.TempDir(), "dashboard.png"))
}
