package server

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/parley-lab/parley/signaling/client"
	"github.com/parley-lab/parley/signaling/protocol"
	"github.com/parley-lab/parley/signaling/store"
)

// envChildDir makes the test binary run a server instead of tests: the
// kill -9 test starts it as a separate process so it can be killed for real.
const envChildDir = "PARLEY_TEST_CHILD_SERVER_DIR"

func TestMain(m *testing.M) {
	if dir := os.Getenv(envChildDir); dir != "" {
		s, err := New(Config{DataDir: dir, Listen: "127.0.0.1:0"}, WithLogger(quietLogger()))
		if err == nil {
			err = s.Listen()
		}
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		fmt.Println("listening", s.Addr())
		s.Serve()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func startChild(t *testing.T, dir string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envChildDir+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "listening ") {
		cmd.Process.Kill()
		t.Fatalf("child server: %q %v", line, err)
	}
	return cmd, "ws://" + strings.TrimSpace(strings.TrimPrefix(line, "listening ")) + "/ws"
}

// TestAcknowledgedMessagesSurviveKill9: a real server process is killed
// with SIGKILL right after acknowledging a burst of messages; every
// acknowledged message is in the database, and a new process on the same
// data directory resumes the participants.
func TestAcknowledgedMessagesSurviveKill9(t *testing.T) {
	dir := t.TempDir()
	cmd, url := startChild(t, dir)
	a, b := dialKiosk(t, url, "A"), dialKiosk(t, url, "B")
	wa := a.join(protocol.JoinRequest{})
	b.join(protocol.JoinRequest{})
	a.waitPaired()
	const n = 8 // the default rate limit's burst allows this many at once
	for i := range n {
		a.send(protocol.TypeChat, "", protocol.ChatSend{Channel: "group", Body: fmt.Sprintf("message %d", i), ClientMsgID: fmt.Sprint(i)})
	}
	var acked []string
	for range n {
		var ack protocol.ChatAck
		a.nextBody(protocol.TypeChatAck, &ack)
		acked = append(acked, ack.Message.ID)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()

	st, err := store.OpenReadOnly(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range acked {
		if _, err := st.Message(id); err != nil {
			t.Errorf("acknowledged message %s lost by kill -9: %v", id, err)
		}
	}
	st.Close()

	cmd2, url2 := startChild(t, dir)
	defer func() { cmd2.Process.Kill(); cmd2.Wait() }()
	a2 := dialKiosk(t, url2, "A2")
	w := a2.join(protocol.JoinRequest{Token: wa.Token})
	if w.ParticipantID != wa.ParticipantID {
		t.Fatalf("after kill -9 the participant is not resumed: %+v", w)
	}
	a2.waitPaired()
	deadline := time.Now().Add(waitTimeout)
	got := 0
	for got < n && time.Now().Before(deadline) {
		a2.next(protocol.TypeChatMsg)
		got++
	}
	if got != n {
		t.Fatalf("replayed %d of %d messages after kill -9", got, n)
	}
}

// TestStateChangesAndTheirEventsSurviveKill9Together: a real server process
// is killed with SIGKILL while pairs join, pair and start their clocks.
// Afterwards every state change in the database has the event that records
// it, and no event records a change that is not there: each pair commits
// together or not at all.
func TestStateChangesAndTheirEventsSurviveKill9Together(t *testing.T) {
	dir := t.TempDir()
	cmd, url := startChild(t, dir)
	const pairs = 12
	clockSeen := make(chan struct{}, 2*pairs)
	var wg sync.WaitGroup
	for i := range 2 * pairs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runKioskUntilClock(url, fmt.Sprintf("seat-%02d", i), clockSeen)
		}()
	}
	<-clockSeen // the first clock has started; the others are on their way
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	wg.Wait()

	st, err := store.OpenReadOnly(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	sessions, _ := st.Sessions()
	if len(sessions) != 1 {
		t.Fatalf("%d sessions", len(sessions))
	}
	code := sessions[0].Code
	evs, _ := st.Events(code)
	byKind := map[string]map[string]bool{} // kind -> participant or group ids
	for _, e := range evs {
		if byKind[e.Kind] == nil {
			byKind[e.Kind] = map[string]bool{}
		}
		byKind[e.Kind][e.Participant+e.Group] = true
	}
	if !byKind[EvSessionCreated][""] {
		t.Error("the session has no session_created event")
	}
	ps, _ := st.Participants(code)
	for _, p := range ps {
		if !byKind[EvJoin][p.ID] {
			t.Errorf("participant %s stored without its join event", p.ID)
		}
	}
	gs, _ := st.Groups(code)
	started := 0
	for _, g := range gs {
		if !byKind[EvPaired][g.ID] {
			t.Errorf("group %s stored without its paired event", g.ID)
		}
		if (g.ClockStartedMS != 0) != byKind[EvClockStart][g.ID] {
			t.Errorf("group %s: clock started at %d, clock_start event %v", g.ID, g.ClockStartedMS, byKind[EvClockStart][g.ID])
		}
		if g.ClockStartedMS != 0 {
			started++
		}
	}
	if len(byKind[EvJoin]) != len(ps) || len(byKind[EvPaired]) != len(gs) {
		t.Errorf("%d join events for %d participants, %d paired events for %d groups", len(byKind[EvJoin]), len(ps), len(byKind[EvPaired]), len(gs))
	}
	if started == 0 {
		t.Error("no clock had started when the server was killed")
	}
}

// runKioskUntilClock joins, reports the call connected once paired and
// signals clockSeen when its clock starts; it returns when the server dies.
func runKioskUntilClock(url, seat string, clockSeen chan<- struct{}) {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	c, err := client.Dial(ctx, url)
	if err != nil {
		return
	}
	defer c.Close()
	c.Send(protocol.TypeJoin, "join", protocol.JoinRequest{Room: DefaultRoom, Seat: seat, Pseudonym: seat})
	c.Send(protocol.TypeReady, "", nil)
	self := ""
	for {
		env, err := c.Recv()
		if err != nil {
			return
		}
		body, _ := protocol.DecodeBody(env)
		switch b := body.(type) {
		case *protocol.Welcome:
			self = b.ParticipantID
		case *protocol.Paired:
			for _, m := range b.Members {
				if m.ID != self {
					c.Send(protocol.TypeCallState, "", protocol.CallState{Peer: m.ID, State: protocol.CallConnected})
				}
			}
		case *protocol.Clock:
			clockSeen <- struct{}{}
		}
	}
}
