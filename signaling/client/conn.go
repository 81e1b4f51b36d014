// Package client speaks Parley's protocol from the kiosk side: Conn is one
// websocket to the rendezvous server; Session (session.go) keeps a
// participant joined across drops and restarts, with its resume token on
// disk, and resends unacknowledged chat messages without duplicates.
package client

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/parley-lab/parley/signaling/protocol"
)

// Timeouts of one connection.
const (
	// DialTimeout bounds connecting to the server.
	DialTimeout = 5 * time.Second
	// WriteTimeout bounds writing one frame.
	WriteTimeout = 5 * time.Second
	// ReadIdleTimeout: the server pings every few seconds; silence this long
	// means the connection is dead.
	ReadIdleTimeout = 12 * time.Second
)

// Conn is one websocket to the server. Send is safe from any goroutine;
// Recv from one goroutine at a time.
type Conn struct {
	ws  *websocket.Conn
	wmu sync.Mutex
}

// Dial connects to the server's websocket URL (ws://host:port/ws).
func Dial(ctx context.Context, url string) (*Conn, error) {
	d := websocket.Dialer{HandshakeTimeout: DialTimeout}
	ws, resp, err := d.DialContext(ctx, url, http.Header{})
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("connect to %s: %w (HTTP %s)", url, err, resp.Status)
		}
		return nil, fmt.Errorf("connect to %s: %w", url, err)
	}
	ws.SetReadLimit(4 * protocol.MaxFrameBytes)
	ws.SetPingHandler(func(data string) error {
		ws.SetReadDeadline(time.Now().Add(ReadIdleTimeout))
		return ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(WriteTimeout))
	})
	return &Conn{ws: ws}, nil
}

// Send encodes and writes one message.
func (c *Conn) Send(typ, ref string, v any) error {
	frame, err := protocol.Encode(typ, ref, v)
	if err != nil {
		return err
	}
	return c.SendRaw(frame)
}

// SendRaw writes one frame as it is (tests use it for malformed input).
func (c *Conn) SendRaw(frame []byte) error { return c.SendRawWithin(frame, WriteTimeout) }

// SendRawWithin writes one frame, giving up after d.
func (c *Conn) SendRawWithin(frame []byte, d time.Duration) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.ws.SetWriteDeadline(time.Now().Add(d))
	return c.ws.WriteMessage(websocket.TextMessage, frame)
}

// Recv reads the next message. It returns an error when the connection ends.
func (c *Conn) Recv() (protocol.Envelope, error) {
	c.ws.SetReadDeadline(time.Now().Add(ReadIdleTimeout))
	_, frame, err := c.ws.ReadMessage()
	if err != nil {
		return protocol.Envelope{}, err
	}
	return protocol.Decode(frame)
}

// Close closes the connection.
func (c *Conn) Close() error {
	c.wmu.Lock()
	c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(WriteTimeout))
	c.wmu.Unlock()
	return c.ws.Close()
}
