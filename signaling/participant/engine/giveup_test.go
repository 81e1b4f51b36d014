package engine_test

import (
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/pion/logging"
	"github.com/pion/transport/v4/vnet"

	"github.com/parley-lab/parley/media/kit"
	"github.com/parley-lab/parley/signaling/client"
	"github.com/parley-lab/parley/signaling/participant"
	"github.com/parley-lab/parley/signaling/participant/engine"
	"github.com/parley-lab/parley/signaling/protocol"
)

// giveUpSetupTimeout is the engines' set-up timeout in the give-up test:
// short, so the test does not wait out the default's 10 s.
const giveUpSetupTimeout = 3 * time.Second

// callLog records each call a side's engine dials: its states, and the
// state it was in when the engine closed it.
type callLog struct {
	mu    sync.Mutex
	calls []*loggedCall
}

type loggedCall struct {
	engine.Call
	log     *callLog
	states  []string
	atClose string
	closed  bool
}

func (c *loggedCall) Close() error {
	c.log.mu.Lock()
	if !c.closed {
		c.closed = true
		c.atClose = "connecting"
		if n := len(c.states); n > 0 {
			c.atClose = c.states[n-1]
		}
	}
	c.log.mu.Unlock()
	return c.Call.Close()
}

func (l *callLog) wrap(dial engine.Dialer) engine.Dialer {
	return func(p engine.CallParams) (engine.Call, error) {
		lc := &loggedCall{log: l}
		l.mu.Lock()
		l.calls = append(l.calls, lc)
		l.mu.Unlock()
		onState := p.OnState
		p.OnState = func(s string) {
			l.mu.Lock()
			lc.states = append(lc.states, s)
			l.mu.Unlock()
			onState(s)
		}
		c, err := dial(p)
		if err != nil {
			return nil, err
		}
		lc.Call = c
		return lc, nil
	}
}

// first is what the first call did (ok false before it was closed).
func (l *callLog) first() (states []string, atClose string, n int, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.calls) == 0 || !l.calls[0].closed {
		return nil, "", len(l.calls), false
	}
	c := l.calls[0]
	return append([]string(nil), c.states...), c.atClose, len(l.calls), true
}

// dtlsServerCut drops, on the media path, every datagram carrying a
// ChangeCipherSpec from the first DTLS server it sees (the sender of the
// first ServerHello): that server finishes its handshake and is
// connected, its partner never gets the last flight. A fresh call has new
// ports and passes.
type dtlsServerCut struct {
	mu      sync.Mutex
	server  string
	dropped int
}

func (d *dtlsServerCut) filter(c vnet.Chunk) bool {
	b := c.UserData()
	if c.Network() != "udp" || len(b) < 13 || b[1] != 254 { // DTLS 1.x records
		return true
	}
	src := c.SourceAddr().(*net.UDPAddr).String()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.server == "" && b[0] == 22 && len(b) > 13 && b[13] == 2 { // handshake: ServerHello
		d.server = src
	}
	if src != d.server {
		return true
	}
	for r := b; len(r) >= 13; {
		if r[0] == 20 { // ChangeCipherSpec
			d.dropped++
			return false
		}
		r = r[13+int(r[11])<<8+int(r[12]):]
	}
	return true
}

// One side's call connects and the other's never does (its DTLS misses
// the last flight, so only the DTLS server finishes): the side whose
// set-up times out gives up, tells the partner, and the partner closes its
// connected call at once instead of keeping it until its own ICE fails;
// both then connect on the fresh call. Two real engines, a real server on
// loopback, the media path across pion's virtual network.
func TestBothSidesGiveUpTogether(t *testing.T) {
	leakCheck(t)
	dir := t.TempDir()
	srv := startServer(t, filepath.Join(dir, "srv"), "127.0.0.1:0", 60)
	defer srv.Close()
	router, err := vnet.NewRouter(&vnet.RouterConfig{CIDR: "10.79.0.0/24", LoggerFactory: logging.NewDefaultLoggerFactory()})
	if err != nil {
		t.Fatal(err)
	}
	cut := &dtlsServerCut{}
	router.AddChunkFilter(cut.filter)
	url := "ws://" + srv.Addr() + "/ws"
	logs := map[string]*callLog{}
	sides := map[string]*side{}
	for i, name := range []string{"a", "b"} {
		n, err := vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{[]string{"10.79.0.2", "10.79.0.3"}[i]}})
		if err != nil {
			t.Fatal(err)
		}
		if err := router.AddNet(n); err != nil {
			t.Fatal(err)
		}
		k, err := kit.Open(kit.Options{VideoSource: "test", AudioSource: "test", ToneHz: 440, Net: n, Log: quiet})
		if err != nil {
			t.Fatal(err)
		}
		logs[name] = &callLog{}
		eng, err := engine.New(engine.Config{
			Session: client.SessionConfig{URL: url, Room: "lab", Seat: name, StateFile: filepath.Join(dir, name+".json"),
				BackoffMin: 50 * time.Millisecond, BackoffMax: 500 * time.Millisecond},
			Media: k.Media(), Dial: logs[name].wrap(k.Dialer()), Log: quiet, AutoReady: true,
			CallSetupTimeout: giveUpSetupTimeout,
		})
		if err != nil {
			t.Fatal(err)
		}
		sides[name] = &side{name: name, kit: k, eng: eng}
	}
	if err := router.Start(); err != nil {
		t.Fatal(err)
	}
	defer router.Stop()
	a, b := sides["a"], sides["b"]
	defer a.eng.Leave()
	defer b.eng.Leave()
	a.eng.Join("Ann")
	b.eng.Join("Ben")

	// Each side's first call is closed: one connected, one not.
	for name, l := range logs {
		eventually(t, name+"'s first call closed", func() bool { _, _, _, ok := l.first(); return ok })
	}
	for _, s := range []*side{a, b} {
		waitFor(t, s, "the fresh call", func(st participant.State) bool { return st.MediaConnected })
	}
	cut.mu.Lock()
	dropped := cut.dropped
	cut.mu.Unlock()
	if dropped == 0 {
		t.Fatal("the filter dropped no ChangeCipherSpec: the handshake was not cut")
	}
	connected := 0
	for name, l := range logs {
		states, atClose, n, _ := l.first()
		t.Logf("%s: first call %v, closed while %s; %d calls", name, states, atClose, n)
		switch atClose {
		case protocol.CallConnected:
			// Closed by the partner's give_up, not by its own failure.
			connected++
		case protocol.CallConnecting:
			// Given up by the set-up timeout.
		default:
			t.Errorf("%s: first call closed while %s: it waited for its own failure instead of the partner's give_up", name, atClose)
		}
		if n != 2 {
			t.Errorf("%s made %d calls, want 2: the first and the fresh one made together", name, n)
		}
	}
	if connected != 1 {
		t.Errorf("%d sides had the first call connected, want 1 (the DTLS server)", connected)
	}
}
