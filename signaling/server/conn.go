package server

import (
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/parley-lab/parley/signaling/protocol"
)

// conn is one kiosk's websocket. One goroutine reads, one writes; the hub
// only ever enqueues frames without blocking, and drops a connection whose
// queue is full rather than stall the room (its kiosk reconnects and is
// replayed what it missed from the store). The queue is a slice bounded in
// bytes, so an idle connection holds no buffer and a long replay fits.
type conn struct {
	ws       *websocket.Conn
	qmu      sync.Mutex
	queue    [][]byte
	queued   int
	maxBytes int
	wake     chan struct{}
	done     chan struct{}
	once     sync.Once
	log      *slog.Logger
	// closeCode/closeText are sent in the close frame when the hub drops us.
	closeCode int
	closeText string

	// p is the joined participant; owned by the hub (read and written under hub.mu).
	p *participant
	// joined is set once a join or resume succeeded (read by the join timeout).
	joined atomic.Bool
	// parked is set while its join waits for a session to open (no_session).
	parked atomic.Bool
	// addr is the remote IP address, for the per-address caps.
	addr string
}

func newConn(ws *websocket.Conn, maxBytes int, log *slog.Logger) *conn {
	return &conn{ws: ws, maxBytes: maxBytes, wake: make(chan struct{}, 1), done: make(chan struct{}), log: log}
}

// enqueue queues a frame; false means the queue was full and the
// connection is being closed.
func (c *conn) enqueue(frame []byte) bool {
	select {
	case <-c.done:
		return false
	default:
	}
	c.qmu.Lock()
	if c.queued+len(frame) > c.maxBytes {
		c.qmu.Unlock()
		c.shut(websocket.CloseTryAgainLater, "send queue full")
		return false
	}
	c.queue = append(c.queue, frame)
	c.queued += len(frame)
	c.qmu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
	return true
}

// take empties the queue.
func (c *conn) take() [][]byte {
	c.qmu.Lock()
	defer c.qmu.Unlock()
	q := c.queue
	c.queue, c.queued = nil, 0
	return q
}

// shut asks the writer to send a close frame and end the connection.
func (c *conn) shut(code int, text string) {
	c.once.Do(func() {
		c.closeCode, c.closeText = code, text
		close(c.done)
	})
}

func (c *conn) writeLoop(cfg Config) {
	ticker := time.NewTicker(cfg.PingInterval)
	defer func() {
		ticker.Stop()
		c.ws.Close()
	}()
	for {
		select {
		case <-c.wake:
			for _, frame := range c.take() {
				c.ws.SetWriteDeadline(time.Now().Add(cfg.WriteWait))
				if err := c.ws.WriteMessage(websocket.TextMessage, frame); err != nil {
					c.shut(websocket.CloseGoingAway, "")
					return
				}
			}
		case <-ticker.C:
			if err := c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(cfg.WriteWait)); err != nil {
				c.shut(websocket.CloseGoingAway, "")
				return
			}
		case <-c.done:
			// Flush what is queued (an error message, "ended") before closing.
			for _, frame := range c.take() {
				c.ws.SetWriteDeadline(time.Now().Add(cfg.WriteWait))
				if c.ws.WriteMessage(websocket.TextMessage, frame) != nil {
					return
				}
			}
			code := c.closeCode
			if code == 0 {
				code = websocket.CloseNormalClosure
			}
			c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, c.closeText), time.Now().Add(cfg.WriteWait))
			return
		}
	}
}

// readLoop reads frames until the connection fails and hands each to the hub.
func (c *conn) readLoop(h *Hub) {
	defer func() {
		c.shut(websocket.CloseNormalClosure, "")
		h.disconnected(c)
	}()
	c.ws.SetReadLimit(protocol.MaxFrameBytes)
	c.ws.SetReadDeadline(time.Now().Add(h.cfg.PingInterval + h.cfg.PongWait))
	c.ws.SetPongHandler(func(string) error {
		c.ws.SetReadDeadline(time.Now().Add(h.cfg.PingInterval + h.cfg.PongWait))
		return nil
	})
	for {
		mt, frame, err := c.ws.ReadMessage()
		if err != nil {
			if errors.Is(err, websocket.ErrReadLimit) {
				// gorilla has already sent the 1009 close frame.
				c.log.Info("frame too large, closing", "limit", protocol.MaxFrameBytes)
			}
			return
		}
		c.ws.SetReadDeadline(time.Now().Add(h.cfg.PingInterval + h.cfg.PongWait))
		if mt != websocket.TextMessage {
			// Answer the frame's ref if it holds one, so the sender knows
			// which request was refused.
			var env struct {
				Ref string `json:"ref"`
			}
			json.Unmarshal(frame, &env)
			c.sendError(env.Ref, protocol.CodeMalformed, "text frames only: this frame was binary; send JSON in a text frame", "")
			continue
		}
		h.handle(c, frame)
	}
}

func (c *conn) sendError(ref, code, msg, field string) {
	c.sendErrorValue(ref, protocol.Error{Code: code, Message: msg, Field: field})
}

func (c *conn) sendErrorValue(ref string, e protocol.Error) {
	frame, _ := protocol.Encode(protocol.TypeError, ref, e)
	c.enqueue(frame)
}
