package cli

import (
	"context"
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parley-lab/parley/signaling/client"
	"github.com/parley-lab/parley/signaling/protocol"
)

// kioskWait bounds every wait for a kiosk's message: the tests fail, never hang.
const kioskWait = 20 * time.Second

// testKiosk is a participant speaking the real protocol to the server.
type testKiosk struct {
	t       *testing.T
	seat    string
	c       *client.Conn
	in      chan protocol.Envelope
	buf     []protocol.Envelope
	welcome protocol.Welcome
	paired  protocol.Paired
}

// joinKiosk joins room at seat and finishes the device check.
func joinKiosk(t *testing.T, url, room, seat string) *testKiosk {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), kioskWait)
	defer cancel()
	c, err := client.Dial(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	k := &testKiosk{t: t, seat: seat, c: c, in: make(chan protocol.Envelope, 256)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(k.in)
		for {
			env, err := c.Recv()
			if err != nil {
				return
			}
			k.in <- env
		}
	}()
	t.Cleanup(func() { c.Close(); <-done })
	k.send(protocol.TypeJoin, "join", protocol.JoinRequest{Room: room, Seat: seat, Pseudonym: "P " + seat})
	k.body(protocol.TypeWelcome, &k.welcome)
	k.send(protocol.TypeReady, "ready", nil)
	for k.next(protocol.TypeAck).Ref != "ready" {
	}
	return k
}

func (k *testKiosk) send(typ, ref string, v any) {
	k.t.Helper()
	if err := k.c.Send(typ, ref, v); err != nil {
		k.t.Fatalf("%s: send %s: %v", k.seat, typ, err)
	}
}

// next returns the first message of type typ, keeping the others.
func (k *testKiosk) next(typ string) protocol.Envelope {
	k.t.Helper()
	for i, env := range k.buf {
		if env.Type == typ {
			k.buf = slices.Delete(k.buf, i, i+1)
			return env
		}
	}
	timer := time.NewTimer(kioskWait)
	defer timer.Stop()
	for {
		select {
		case env, ok := <-k.in:
			if !ok {
				k.t.Fatalf("%s: connection ended while waiting for %s", k.seat, typ)
			}
			if env.Type == typ {
				return env
			}
			k.buf = append(k.buf, env)
		case <-timer.C:
			k.t.Fatalf("%s: no %s within %v", k.seat, typ, kioskWait)
		}
	}
}

func (k *testKiosk) body(typ string, v any) {
	k.t.Helper()
	if err := json.Unmarshal(k.next(typ).Data, v); err != nil {
		k.t.Fatalf("%s: %s: %v", k.seat, typ, err)
	}
}

func (k *testKiosk) clock() protocol.Clock {
	k.t.Helper()
	var c protocol.Clock
	k.body(protocol.TypeClock, &c)
	return c
}

func (k *testKiosk) ended() string {
	k.t.Helper()
	var e protocol.Ended
	k.body(protocol.TypeEnded, &e)
	return e.Reason
}

// connect reports the call with every partner connected.
func (k *testKiosk) connect() {
	k.t.Helper()
	for _, m := range k.paired.Members {
		if m.ID != k.welcome.ParticipantID {
			k.send(protocol.TypeCallState, "", protocol.CallState{Peer: m.ID, State: protocol.CallConnected})
		}
	}
}

var (
	pairedLine   = regexp.MustCompile(`(?m)^  paired 1: (seat-\w), (seat-\w)$`)
	leftOverLine = regexp.MustCompile(`(?m)^  left over: (seat-\w)$`)
)

// TestControlsThroughTheCLI: an experimenter's session driven through the
// CLI against a real server with kiosks on the real protocol: start pairs
// those present and names who was left over; more and less time, pause and
// resume reach the kiosks; a private message reaches only its participant;
// remove ends that kiosk; the one left without a partner is paired by hand
// with the one left over.
func TestControlsThroughTheCLI(t *testing.T) {
	dir := t.TempDir()
	srv := startEconlab(t, dir)
	defer srv.Close()
	env := map[string]string{EnvURL: "http://" + srv.Addr(), EnvAdminToken: srv.AdminToken()}
	cli := func(args ...string) string {
		t.Helper()
		out, errs, code := run(t, env, append([]string{"session"}, args...)...)
		if code != 0 {
			t.Fatalf("parley session %q: %d %q %q", args, code, out, errs)
		}
		return out
	}
	out := cli("create", "--room", "econlab", "--matching", "random", "--duration", "300")
	code := strings.Fields(out)[1]
	kiosks := map[string]*testKiosk{}
	for _, seat := range []string{"seat-a", "seat-b", "seat-c"} {
		kiosks[seat] = joinKiosk(t, srv.URL(), "econlab", seat)
	}

	// Start: one pair, and the third is named as left over.
	out = cli("start", code)
	pm, lm := pairedLine.FindStringSubmatch(out), leftOverLine.FindStringSubmatch(out)
	if !strings.Contains(out, "1 group formed now, 1 left without a group") || pm == nil || lm == nil {
		t.Fatalf("start says %q", out)
	}
	p1, p2, left := kiosks[pm[1]], kiosks[pm[2]], kiosks[lm[1]]
	seats := []string{pm[1], pm[2], lm[1]}
	if slices.Sort(seats); !slices.Equal(seats, []string{"seat-a", "seat-b", "seat-c"}) {
		t.Fatalf("start named %v", seats)
	}
	for _, k := range []*testKiosk{p1, p2} {
		k.body(protocol.TypePaired, &k.paired)
	}
	p1.connect()
	p2.connect()
	c0 := p1.clock()
	p2.clock()

	// More time, less time (a negative number is not a flag), pause, resume.
	if out = cli("time", code, "1", "60"); !strings.Contains(out, "group 1 ("+pm[1]+", "+pm[2]+"): running") {
		t.Errorf("time +60 says %q", out)
	}
	if c := p1.clock(); c.DeadlineMS != c0.DeadlineMS+60_000 {
		t.Errorf("deadline %d after +60 s, want %d", c.DeadlineMS, c0.DeadlineMS+60_000)
	}
	p2.clock()
	if out = cli("time", code, "1", "-30"); !strings.Contains(out, "running") {
		t.Errorf("time -30 says %q", out)
	}
	if c := p2.clock(); c.DeadlineMS != c0.DeadlineMS+30_000 {
		t.Errorf("deadline %d after -30 s, want %d", c.DeadlineMS, c0.DeadlineMS+30_000)
	}
	if out = cli("pause", code, "1"); !strings.Contains(out, ": paused") {
		t.Errorf("pause says %q", out)
	}
	if c := p2.clock(); !c.Paused {
		t.Errorf("clock after pause: %+v", c)
	}
	if out = cli("resume", code, "1", "--json"); !strings.Contains(out, `"state": "running"`) {
		t.Errorf("resume --json says %q", out)
	}
	if c := p2.clock(); c.Paused {
		t.Errorf("clock after resume: %+v", c)
	}

	// A private message, starting with "-", to the one left over.
	if out = cli("post", code, "private:"+lm[1], "-", "are you still there?"); !strings.Contains(out, "posted") {
		t.Errorf("private post says %q", out)
	}
	var m protocol.ChatMessage
	left.body(protocol.TypeChatMsg, &m)
	if m.Channel != protocol.ChannelPrivate || m.Body != "- are you still there?" || m.Role != protocol.RoleExperimenter {
		t.Errorf("the one left over got %+v", m)
	}

	// Remove one of the pair; pair the other with the one left over.
	if out = cli("remove", code, pm[1]); !strings.Contains(out, pm[1]+" (") || !strings.Contains(out, "removed") {
		t.Errorf("remove says %q", out)
	}
	if r := p1.ended(); r != protocol.EndRemoved {
		t.Errorf("the removed kiosk was told %q", r)
	}
	if r := p2.ended(); r != protocol.EndExperimenter {
		t.Errorf("its partner was told %q", r)
	}
	if out = cli("pair", code, lm[1], pm[2]); !strings.Contains(out, "group 2 ("+lm[1]+", "+pm[2]+"): waiting_for_call") {
		t.Errorf("pair says %q", out)
	}
	for _, k := range []*testKiosk{left, p2} {
		k.body(protocol.TypePaired, &k.paired)
		if k.paired.Group != code+"-g2" {
			t.Errorf("%s paired in %s", k.seat, k.paired.Group)
		}
	}
	out = cli("participants", code)
	for seat, state := range map[string]string{pm[1]: "removed", pm[2]: "paired", lm[1]: "paired"} {
		if !regexp.MustCompile(`(?m)` + seat + `\s+P ` + seat + `\s+true\s+` + state + `\b`).MatchString(out) {
			t.Errorf("participants does not show %s %s:\n%s", seat, state, out)
		}
	}

	// Once every group has ended, show, participants and watch say so.
	const allEnded = "all 2 groups have ended; the session is still started"
	if out = cli("show", code); strings.Contains(out, "have ended") {
		t.Errorf("show says all ended while group 2 runs: %q", out)
	}
	if out = cli("end-group", code, "2"); !strings.Contains(out, "group 2 ("+lm[1]+", "+pm[2]+"): ended") {
		t.Errorf("end-group says %q", out)
	}
	for _, args := range [][]string{{"show", code}, {"participants", code}, {"watch", code, "--updates", "1"}} {
		if out = cli(args...); !strings.Contains(out, allEnded) {
			t.Errorf("%s after the last group ended: %q", args[0], out)
		}
	}
	if out = cli("participants", code, "--json"); strings.Contains(out, "have ended") {
		t.Errorf("participants --json is not JSON alone: %q", out)
	}
}
