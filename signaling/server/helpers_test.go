package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/parley-lab/parley/signaling/client"
	"github.com/parley-lab/parley/signaling/internal/clock"
	"github.com/parley-lab/parley/signaling/protocol"
	"github.com/parley-lab/parley/signaling/testkit"
)

// waitTimeout bounds every wait in these tests: they fail, never hang.
const waitTimeout = 10 * time.Second

// fakeClock is a manual clock: timers fire only when the test advances it.
// newFakeClock is the fake clock the tests move by hand.
func newFakeClock() *clock.Fake { return clock.NewFake() }

type testServer struct {
	*Server
	url  string
	base string
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// startServer runs a real server on 127.0.0.1 with its data in dir.
func startServer(t *testing.T, dir string, cfg Config, clock Clock) *testServer {
	t.Helper()
	cfg.DataDir = dir
	cfg.Listen = "127.0.0.1:0"
	opts := []Option{WithLogger(quietLogger())}
	if clock != nil {
		opts = append(opts, WithClock(clock))
	}
	s, err := New(cfg, opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	ts := &testServer{Server: s, url: "ws://" + s.Addr() + "/ws", base: "http://" + s.Addr()}
	return ts
}

// checkGoroutines fails the test if goroutines started during it outlive it.
func checkGoroutines(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for {
			n := runtime.NumGoroutine()
			if n <= before {
				return
			}
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<16)
				buf = buf[:runtime.Stack(buf, true)]
				t.Errorf("goroutine leak: %d before, %d after\n%s", before, n, buf)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

// kiosk is a test participant speaking the real protocol.
type kiosk struct {
	t      *testing.T
	name   string
	c      *client.Conn
	in     chan protocol.Envelope
	buf    []protocol.Envelope
	done   chan struct{}
	closed error
	syncN  int

	welcome protocol.Welcome
	paired  protocol.Paired
}

func dialKiosk(t *testing.T, url, name string) *kiosk {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	c, err := client.Dial(ctx, url)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	k := &kiosk{t: t, name: name, c: c, in: make(chan protocol.Envelope, 1024), done: make(chan struct{})}
	go func() {
		defer close(k.done)
		for {
			env, err := c.Recv()
			if err != nil {
				k.closed = err
				close(k.in)
				return
			}
			k.in <- env
		}
	}()
	t.Cleanup(func() { k.close() })
	return k
}

func (k *kiosk) close() {
	k.c.Close()
	<-k.done
}

func (k *kiosk) send(typ, ref string, v any) {
	k.t.Helper()
	if err := k.c.Send(typ, ref, v); err != nil {
		k.t.Fatalf("%s send %s: %v", k.name, typ, err)
	}
}

// next returns the first message of type typ (buffered or arriving),
// keeping the others buffered in order.
func (k *kiosk) next(typ string) protocol.Envelope {
	k.t.Helper()
	for i, env := range k.buf {
		if env.Type == typ {
			k.buf = append(k.buf[:i:i], k.buf[i+1:]...)
			return env
		}
	}
	timer := time.NewTimer(waitTimeout)
	defer timer.Stop()
	for {
		select {
		case env, ok := <-k.in:
			if !ok {
				k.t.Fatalf("%s: connection ended (%v) while waiting for %q; had %s", k.name, k.closed, typ, types(k.buf))
			}
			if env.Type == typ {
				return env
			}
			k.buf = append(k.buf, env)
		case <-timer.C:
			k.t.Fatalf("%s: no %q within %v; had %s", k.name, typ, waitTimeout, types(k.buf))
		}
	}
}

// nextBody waits for typ and decodes its data into v.
func (k *kiosk) nextBody(typ string, v any) protocol.Envelope {
	k.t.Helper()
	env := k.next(typ)
	if err := json.Unmarshal(env.Data, v); err != nil {
		k.t.Fatalf("%s: decode %s: %v", k.name, typ, err)
	}
	return env
}

// drain returns every message the server queued for this kiosk so far: it
// sends a probe whose error reply is queued after everything before it.
func (k *kiosk) drain() []protocol.Envelope {
	k.t.Helper()
	k.syncN++
	ref := fmt.Sprintf("sync-%d", k.syncN)
	k.send("probe", ref, nil)
	var out []protocol.Envelope
	for {
		env := k.nextAny()
		if env.Type == protocol.TypeError && env.Ref == ref {
			return out
		}
		out = append(out, env)
	}
}

func (k *kiosk) nextAny() protocol.Envelope {
	k.t.Helper()
	if len(k.buf) > 0 {
		env := k.buf[0]
		k.buf = k.buf[1:]
		return env
	}
	select {
	case env, ok := <-k.in:
		if !ok {
			k.t.Fatalf("%s: connection ended: %v", k.name, k.closed)
		}
		return env
	case <-time.After(waitTimeout):
		k.t.Fatalf("%s: nothing within %v", k.name, waitTimeout)
	}
	return protocol.Envelope{}
}

func types(envs []protocol.Envelope) string {
	var s []string
	for _, e := range envs {
		s = append(s, e.Type)
	}
	return "[" + strings.Join(s, " ") + "]"
}

// expectError waits for an error with ref and checks its code.
func (k *kiosk) expectError(ref, code string) protocol.Error {
	k.t.Helper()
	for {
		env := k.next(protocol.TypeError)
		var e protocol.Error
		json.Unmarshal(env.Data, &e)
		if env.Ref != ref {
			continue
		}
		if e.Code != code {
			k.t.Fatalf("%s: error for %s is %q (%s), want %q", k.name, ref, e.Code, e.Message, code)
		}
		if e.Message == "" {
			k.t.Fatalf("%s: error %q has no message", k.name, code)
		}
		return e
	}
}

// join sends a join and waits for the welcome.
func (k *kiosk) join(req protocol.JoinRequest) protocol.Welcome {
	k.t.Helper()
	if req.Room == "" && req.Token == "" {
		req.Room = DefaultRoom
	}
	if req.Seat == "" {
		req.Seat = "seat-" + k.name
	}
	if req.Pseudonym == "" && req.Token == "" {
		req.Pseudonym = k.name
	}
	k.send(protocol.TypeJoin, "join", req)
	k.nextBody(protocol.TypeWelcome, &k.welcome)
	// As a kiosk does after its device check (the default session has one);
	// waiting for the ack keeps the order of arrival the order of joins.
	k.send(protocol.TypeReady, "ready", nil)
	for {
		if env := k.next(protocol.TypeAck); env.Ref == "ready" {
			break
		}
	}
	return k.welcome
}

func (k *kiosk) waitPaired() protocol.Paired {
	k.t.Helper()
	k.nextBody(protocol.TypePaired, &k.paired)
	return k.paired
}

func (k *kiosk) id() string { return k.welcome.ParticipantID }

// chat sends a message and waits for its ack.
func (k *kiosk) chat(channel, body, clientID string) protocol.ChatAck {
	k.t.Helper()
	k.send(protocol.TypeChat, "c-"+clientID, protocol.ChatSend{Channel: channel, Body: body, ClientMsgID: clientID})
	var ack protocol.ChatAck
	k.nextBody(protocol.TypeChatAck, &ack)
	return ack
}

// api calls the experimenter API.
func (ts *testServer) api(t *testing.T, method, path, token string, body any, out any) int {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = strings.NewReader(string(b))
	}
	req, _ := http.NewRequest(method, ts.base+path, r)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if bs, ok := out.(*[]byte); ok {
		*bs = data
	} else if out != nil && resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: decode %q: %v", method, path, data, err)
		}
	}
	return resp.StatusCode
}

// eventually is testkit.Eventually.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testkit.Eventually(t, what, cond)
}

// eventKinds waits until the session's events include every kind in want,
// and returns the counts of all kinds.
func eventKinds(t *testing.T, ts *testServer, session string, want ...string) map[string]int {
	t.Helper()
	var kinds map[string]int
	eventually(t, fmt.Sprintf("events %v", want), func() bool {
		evs, err := ts.Store().Events(session)
		if err != nil {
			t.Fatal(err)
		}
		kinds = map[string]int{}
		for _, ev := range evs {
			kinds[ev.Kind]++
		}
		for _, k := range want {
			if kinds[k] == 0 {
				return false
			}
		}
		return true
	})
	return kinds
}
