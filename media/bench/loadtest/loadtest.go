// Package loadtest measures the rendezvous server's capacity: it simulates
// kiosks that speak the real protocol (no media), pairs them, has every one
// send chat messages at a steady rate, and reports delivery latency and
// losses. `parley bench` uses it against a server in a child process.
package loadtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-lab/parley/signaling/client"
	"github.com/parley-lab/parley/signaling/protocol"
)

// Options of a run.
type Options struct {
	URL          string        // ws://host:port/ws
	Room         string        // a room that opens sessions by itself
	Participants int           // even: they pair
	Duration     time.Duration // how long messages are sent
	Interval     time.Duration // between one participant's messages
	// JoinConcurrency bounds simultaneous connects, as a lab's kiosks start
	// in a burst but not all in one instant.
	JoinConcurrency int
	// Drain is how long to wait for the last deliveries after sending stops.
	Drain time.Duration
}

// Defaults.
const (
	DefaultInterval        = time.Second
	DefaultJoinConcurrency = 64
	DefaultDrain           = 5 * time.Second
)

// Result of a run.
type Result struct {
	Participants int
	Sent         int64 // chat messages sent
	Acked        int64 // acknowledged (committed) by the server
	Delivered    int64 // received by the partner
	Lost         int64 // acknowledged but never delivered
	Refused      int64 // refused by the server (errors)
	// Delivery latency: sender's send to partner's receipt.
	P50, P99, Max time.Duration
	// AckP50 and AckP99: send to the sender's acknowledgement (commit included).
	AckP50, AckP99 time.Duration
	JoinTime       time.Duration // all joined and paired
	MessageIDs     []string      // acknowledged ids, to check against the store
}

type sim struct {
	conn    *client.Conn
	id      string
	partner string
	paired  chan struct{}
	once    sync.Once
}

// ErrOptions is returned for unusable options.
var ErrOptions = errors.New("load test options")

// Run performs one load test.
func Run(ctx context.Context, o Options) (Result, error) {
	if o.Participants < 2 || o.Participants%2 != 0 {
		return Result{}, fmt.Errorf("%w: participants must be an even number of at least 2, got %d", ErrOptions, o.Participants)
	}
	if o.Interval == 0 {
		o.Interval = DefaultInterval
	}
	if o.JoinConcurrency == 0 {
		o.JoinConcurrency = DefaultJoinConcurrency
	}
	if o.Drain == 0 {
		o.Drain = DefaultDrain
	}
	res := Result{Participants: o.Participants}
	var (
		mu        sync.Mutex
		lat       []time.Duration
		ackLat    []time.Duration
		ids       []string
		sent      atomic.Int64
		acked     atomic.Int64
		delivered atomic.Int64
		refused   atomic.Int64
	)
	sims := make([]*sim, o.Participants)
	var readers sync.WaitGroup
	start := time.Now()
	sem := make(chan struct{}, o.JoinConcurrency)
	var joinErr error
	var joinMu sync.Mutex
	var joinWG sync.WaitGroup
	for i := range sims {
		joinWG.Add(1)
		sem <- struct{}{}
		go func() {
			defer joinWG.Done()
			defer func() { <-sem }()
			c, err := client.Dial(ctx, o.URL)
			if err == nil {
				err = c.Send(protocol.TypeJoin, "join", protocol.JoinRequest{Room: o.Room, Seat: fmt.Sprintf("load-%05d", i), Pseudonym: fmt.Sprintf("P%d", i)})
			}
			if err == nil {
				err = c.Send(protocol.TypeReady, "", nil) // as after a device check
			}
			if err != nil {
				joinMu.Lock()
				joinErr = err
				joinMu.Unlock()
				return
			}
			s := &sim{conn: c, paired: make(chan struct{})}
			sims[i] = s
			readers.Add(1)
			go func() {
				defer readers.Done()
				for {
					env, err := c.Recv()
					if err != nil {
						return
					}
					now := time.Now()
					switch env.Type {
					case protocol.TypeWelcome:
						var w protocol.Welcome
						json.Unmarshal(env.Data, &w)
						s.id = w.ParticipantID
					case protocol.TypePaired:
						var p protocol.Paired
						json.Unmarshal(env.Data, &p)
						for _, m := range p.Members {
							if m.ID != s.id {
								s.partner = m.ID
							}
						}
						s.once.Do(func() { close(s.paired) })
					case protocol.TypeChatMsg:
						var m protocol.ChatMessage
						json.Unmarshal(env.Data, &m)
						if sentAt, ok := sentTime(m.Body); ok && !m.Replay {
							delivered.Add(1)
							mu.Lock()
							lat = append(lat, now.Sub(sentAt))
							mu.Unlock()
						}
					case protocol.TypeChatAck:
						var a protocol.ChatAck
						json.Unmarshal(env.Data, &a)
						acked.Add(1)
						mu.Lock()
						if sentAt, ok := sentTime(a.Message.Body); ok {
							ackLat = append(ackLat, now.Sub(sentAt))
						}
						ids = append(ids, a.Message.ID)
						mu.Unlock()
					case protocol.TypeError:
						if strings.HasPrefix(env.Ref, "m") {
							refused.Add(1)
						}
					}
				}
			}()
		}()
	}
	joinWG.Wait()
	closeAll := func() {
		for _, s := range sims {
			if s != nil {
				s.conn.Close()
			}
		}
		readers.Wait()
	}
	if joinErr != nil {
		closeAll()
		return res, fmt.Errorf("join: %w", joinErr)
	}
	for _, s := range sims {
		select {
		case <-s.paired:
		case <-ctx.Done():
			closeAll()
			return res, ctx.Err()
		}
	}
	res.JoinTime = time.Since(start)

	// Every participant sends on its own ticker, phases spread evenly.
	sendCtx, cancel := context.WithTimeout(ctx, o.Duration)
	var senders sync.WaitGroup
	for i, s := range sims {
		senders.Add(1)
		go func() {
			defer senders.Done()
			offset := time.Duration(int64(o.Interval) * int64(i) / int64(len(sims)))
			select {
			case <-time.After(offset):
			case <-sendCtx.Done():
				return
			}
			t := time.NewTicker(o.Interval)
			defer t.Stop()
			for n := 0; ; n++ {
				body := "t=" + strconv.FormatInt(time.Now().UnixNano(), 10) + " load test message"
				ref := "m" + strconv.Itoa(n)
				if s.conn.Send(protocol.TypeChat, ref, protocol.ChatSend{Channel: protocol.ChannelGroup, Body: body, ClientMsgID: s.id + "-" + strconv.Itoa(n)}) == nil {
					sent.Add(1)
				}
				select {
				case <-t.C:
				case <-sendCtx.Done():
					return
				}
			}
		}()
	}
	senders.Wait()
	cancel()
	// Wait until every acknowledged message was delivered, or the drain ends.
	deadline := time.Now().Add(o.Drain)
	for time.Now().Before(deadline) {
		if acked.Load()+refused.Load() >= sent.Load() && delivered.Load() >= acked.Load() {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	closeAll()
	res.Sent, res.Acked, res.Delivered, res.Refused = sent.Load(), acked.Load(), delivered.Load(), refused.Load()
	res.Lost = max(0, res.Acked-res.Delivered)
	res.P50, res.P99, res.Max = quantile(lat, 0.5), quantile(lat, 0.99), quantile(lat, 1)
	res.AckP50, res.AckP99 = quantile(ackLat, 0.5), quantile(ackLat, 0.99)
	res.MessageIDs = ids
	return res, nil
}

func sentTime(body string) (time.Time, bool) {
	rest, ok := strings.CutPrefix(body, "t=")
	if !ok {
		return time.Time{}, false
	}
	num, _, _ := strings.Cut(rest, " ")
	ns, err := strconv.ParseInt(num, 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(0, ns), true
}

// quantile returns the q-quantile (0..1) of ds; it sorts ds.
func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	i := int(q * float64(len(ds)-1))
	return ds[i]
}

// Summary is the result without the id list, for printing.
func (r Result) Summary() map[string]any {
	return map[string]any{
		"participants": r.Participants, "sent": r.Sent, "acked": r.Acked, "delivered": r.Delivered,
		"lost": r.Lost, "refused": r.Refused, "p50_ms": ms(r.P50), "p99_ms": ms(r.P99), "max_ms": ms(r.Max),
		"ack_p50_ms": ms(r.AckP50), "ack_p99_ms": ms(r.AckP99), "join_s": r.JoinTime.Seconds(),
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
