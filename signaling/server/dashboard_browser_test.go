package server

import (
	"fmt"
	"net/http"
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

// TestDashboardTwoRecordedPairsInChromium: the picture of the docs, two
// pairs in their recorded discussion as an experimenter sees them: each
// participant consented, is in a call and is being recorded (one uploaded
// a segment from before a reconnect), one call loses packets, and the
// chat shows a group's messages. PARLEY_SHOTS keeps the screenshot as
// dashboard.png (copied to docs/dashboard.png when it changes).
func TestDashboardTwoRecordedPairsInChromium(t *testing.T) {
	ts := startServer(t, t.TempDir(), recordingConfig(protocol.RecordAudioVideo), nil)
	defer ts.Close()
	br := startChromium(t)
	var ks []*kiosk
	for _, n := range [][2]string{{"ws-01", "Heron"}, {"ws-02", "Otter"}, {"ws-03", "Lynx"}, {"ws-04", "Wren"}} {
		k := dialKiosk(t, ts.url, n[1])
		k.join(protocol.JoinRequest{Seat: n[0], Pseudonym: n[1]})
		k.consent(true)
		k.send(protocol.TypeDevices, "", protocol.Devices{Camera: protocol.DeviceOK, Microphone: protocol.DeviceOK, Speaker: protocol.DeviceOK})
		ks = append(ks, k)
	}
	for _, k := range ks {
		k.waitPaired()
	}
	startCall(t, ks[0], ks[1])
	startCall(t, ks[2], ks[3])
	for _, k := range ks {
		k.next(protocol.TypeClock)
	}
	// ws-03 reconnected once: its first segment is on the server.
	data := segmentBytes(4096)
	up := ts.uploads(t, ks[2].welcome.Token)
	up.put(segmentOf(ks[2].welcome, 1, data, false)).want(t, http.StatusOK, "")
	up.upload(segmentOf(ks[2].welcome, 1, data, false).ID, data, len(data))
	for i, k := range ks {
		seq := 1
		if i == 2 {
			seq = 2
		}
		ref := fmt.Sprintf("rec-%d", i)
		k.send(protocol.TypeRecording, ref, protocol.RecordingState{Segment: fmt.Sprintf("seg-%d-%d", i, seq), Seq: seq, State: protocol.RecordingStarted, ID: ref})
		for env := k.next(protocol.TypeAck); env.Ref != ref; env = k.next(protocol.TypeAck) {
		}
		st := protocol.Stats{Peer: "x", RTTMS: float64(2 + i), FPSSent: 30, FPSRecv: 29, AudioDelayMS: float64(20 + 3*i), VideoDelayMS: float64(6 + i), PacketLoss: 0.002}
		if i == 3 {
			st.PacketLoss, st.FPSRecv, st.RTTMS = 0.07, 12, 240 // a poor call shows red
		}
		k.send(protocol.TypeStats, "", st)
	}
	ks[0].chat(protocol.ChannelGroup, "Shall we start with the first question?", "m1")
	ks[1].chat(protocol.ChannelGroup, "Yes. I would pick option B, because it is cheaper.", "m2")
	ks[2].chat(protocol.ChannelGroup, "Hello Wren!", "m3")
	if _, err := ts.hub.PostMessage(ks[0].welcome.Session, "experimenter", "", "Please discuss until the time runs out."); err != nil {
		t.Fatal(err)
	}

	br.navigate(ts.base + "/admin/")
	br.until("the login form", `document.getElementById("token")`)
	if err := br.run(`document.getElementById("token").value = ` + jsString(ts.AdminToken()) + `; setTimeout(() => document.getElementById("login").click(), 0)`); err != nil {
		t.Fatal(err)
	}
	br.until("the dashboard", `document.querySelector('meta[name="csrf"]')`)
	br.navigate(ts.base + "/admin/?session=" + ks[0].welcome.Session)
	br.until("all four in their calls", `document.querySelectorAll("#participants .state-in_call").length === 4`)
	br.until("the consent column", `[...document.querySelectorAll("#participant-ws-01 td")].some(td => td.textContent === "given")`)
	br.until("ws-03's upload", `[...document.querySelectorAll("#participant-ws-03 td")].some(td => td.textContent === "recording, 1/1 uploaded")`)
	br.until("the poor call in red", `document.querySelector("#participant-ws-04 td.bad")`)
	br.until("the chat", `document.querySelectorAll("#chat .msg").length === 4`)
	if dir := os.Getenv("PARLEY_SHOTS"); dir != "" {
		os.MkdirAll(dir, 0o755)
		br.screenshot(filepath.Join(dir, "dashboard.png"))
	}
	br.screenshot(filepath.Join(t.TempDir(), "dashboard.png"))
}
