package testkit

import (
	"net"
	"sync"
	"testing"
)

// Cable is a TCP proxy on loopback whose link can be pulled: while it is
// out, bytes in flight are swallowed and new connections hang, as with an
// unplugged cable (no reset, no refusal).
type Cable struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	out   bool
	conns []net.Conn
}

// NewCable proxies a new loopback port to target until the test ends.
func NewCable(t testing.TB, target string) *Cable {
	t.Helper()
	c, err := OpenCable(target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// OpenCable proxies a new loopback port to target until Close (the
// benchmarks take the server's link down with it).
func OpenCable(target string) (*Cable, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	c := &Cable{ln: ln, target: target}
	go c.accept()
	return c, nil
}

// Close stops listening and closes every connection through the cable.
func (c *Cable) Close() { c.ln.Close(); c.Plug() }

// URL is the websocket URL of the server behind the cable.
func (c *Cable) URL() string { return "ws://" + c.ln.Addr().String() + "/ws" }

func (c *Cable) accept() {
	for {
		in, err := c.ln.Accept()
		if err != nil {
			return
		}
		c.mu.Lock()
		c.conns = append(c.conns, in)
		c.mu.Unlock()
		go c.serve(in)
	}
}

func (c *Cable) serve(in net.Conn) {
	out, err := net.Dial("tcp", c.target)
	if err != nil {
		in.Close()
		return
	}
	c.mu.Lock()
	c.conns = append(c.conns, out)
	c.mu.Unlock()
	go c.pipe(out, in)
	c.pipe(in, out)
}

// pipe copies src to dst, dropping what it reads while the cable is out.
func (c *Cable) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			c.mu.Lock()
			out := c.out
			c.mu.Unlock()
			if !out {
				if _, werr := dst.Write(buf[:n]); werr != nil {
					return
				}
			}
		}
		if err != nil {
			dst.Close()
			return
		}
	}
}

// Pull takes the cable out: the connections stay open but carry nothing.
func (c *Cable) Pull() {
	c.mu.Lock()
	c.out = true
	c.mu.Unlock()
}

// Plug puts it back. The connections that lived through the outage are
// dead by now on both ends (TCP would have given up), so they are closed.
func (c *Cable) Plug() {
	c.mu.Lock()
	conns := c.conns
	c.conns, c.out = nil, false
	c.mu.Unlock()
	for _, x := range conns {
		x.Close()
	}
}
