package bench

import (
	"container/heap"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	"github.com/pion/transport/v4"
)

// pion's vnet router delays every packet by the same time and keeps their
// order (its jitter is a sleep of the whole router, and the queue
// disciplines a NIC could use are not exported). Reordering is made at
// the senders instead: reorderNet is a transport.Net whose UDP sockets
// hand each datagram to the network after a delay of its own, drawn in
// [base-spread, base+spread], so a datagram sent a little later but drawn
// a shorter delay overtakes the ones before it. Nothing is lost.

// reorderNet wraps the virtual network one side's ICE agent uses.
type reorderNet struct {
	transport.Net
	base, spread time.Duration

	mu  sync.Mutex
	rng *rand.Rand
	// sent numbers the datagrams in the order they were written;
	// reordered counts those that reached the network after a later one.
	sent, reordered int64
	newest          int64 // the highest number handed to the network
}

func newReorderNet(n transport.Net, base, spread time.Duration, seed uint64) *reorderNet {
	return &reorderNet{Net: n, base: base, spread: spread, rng: rand.New(rand.NewPCG(lossSeed, seed))}
}

// stats reports the datagrams sent and how many of them were overtaken.
func (n *reorderNet) stats() (sent, reordered int64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.sent, n.reordered
}

// next numbers a datagram and draws its delay.
func (n *reorderNet) next() (int64, time.Duration) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.sent++
	d := n.base - n.spread
	if n.spread > 0 {
		d += time.Duration(n.rng.Int64N(int64(2*n.spread) + 1))
	}
	return n.sent, d
}

// handed records that datagram seq reaches the network now.
func (n *reorderNet) handed(seq int64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if seq < n.newest {
		n.reordered++
	}
	n.newest = max(n.newest, seq)
}

func (n *reorderNet) ListenUDP(network string, laddr *net.UDPAddr) (transport.UDPConn, error) {
	c, err := n.Net.ListenUDP(network, laddr)
	if err != nil {
		return nil, err
	}
	return newDelayedConn(n, c), nil
}

func (n *reorderNet) DialUDP(network string, laddr, raddr *net.UDPAddr) (transport.UDPConn, error) {
	c, err := n.Net.DialUDP(network, laddr, raddr)
	if err != nil {
		return nil, err
	}
	return newDelayedConn(n, c), nil
}

// ListenPacket is only used for UDP here (ICE's relay candidates).
func (n *reorderNet) ListenPacket(network, address string) (net.PacketConn, error) {
	laddr, err := n.Net.ResolveUDPAddr(network, address)
	if err != nil {
		return nil, err
	}
	return n.ListenUDP(network, laddr)
}

// delayedConn sends every datagram through its delay line; reads and the
// rest pass through.
type delayedConn struct {
	transport.UDPConn
	n *reorderNet

	mu      sync.Mutex
	pending pendingHeap
	closed  bool
	wake    chan struct{}
	done    chan struct{}
	wg      sync.WaitGroup
}

type pendingDatagram struct {
	due  time.Time
	seq  int64
	b    []byte
	addr net.Addr // nil: the connected peer
}

type pendingHeap []pendingDatagram

func (h pendingHeap) Len() int { return len(h) }
func (h pendingHeap) Less(i, j int) bool {
	if !h[i].due.Equal(h[j].due) {
		return h[i].due.Before(h[j].due)
	}
	return h[i].seq < h[j].seq
}
func (h pendingHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *pendingHeap) Push(x any)   { *h = append(*h, x.(pendingDatagram)) }
func (h *pendingHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

func newDelayedConn(n *reorderNet, c transport.UDPConn) *delayedConn {
	d := &delayedConn{UDPConn: c, n: n, wake: make(chan struct{}, 1), done: make(chan struct{})}
	d.wg.Add(1)
	go d.run()
	return d
}

// queue copies b (the caller reuses its buffer) into the delay line.
func (d *delayedConn) queue(b []byte, addr net.Addr) (int, error) {
	seq, delay := d.n.next()
	p := pendingDatagram{due: time.Now().Add(delay), seq: seq, b: append([]byte(nil), b...), addr: addr}
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return 0, net.ErrClosed
	}
	heap.Push(&d.pending, p)
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
	return len(b), nil
}

func (d *delayedConn) run() {
	defer d.wg.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		d.mu.Lock()
		var wait time.Duration = time.Hour
		var ready []pendingDatagram
		now := time.Now()
		for d.pending.Len() > 0 {
			if w := d.pending[0].due.Sub(now); w > 0 {
				wait = w
				break
			}
			ready = append(ready, heap.Pop(&d.pending).(pendingDatagram))
		}
		d.mu.Unlock()
		for _, p := range ready {
			d.n.handed(p.seq)
			if p.addr == nil {
				_, _ = d.UDPConn.Write(p.b)
			} else {
				_, _ = d.UDPConn.WriteTo(p.b, p.addr)
			}
		}
		timer.Reset(wait)
		select {
		case <-d.done:
			return
		case <-d.wake:
		case <-timer.C:
		}
	}
}

func (d *delayedConn) Write(b []byte) (int, error) { return d.queue(b, nil) }

func (d *delayedConn) WriteTo(b []byte, addr net.Addr) (int, error) { return d.queue(b, addr) }

func (d *delayedConn) WriteToUDP(b []byte, addr *net.UDPAddr) (int, error) {
	if addr == nil {
		return d.queue(b, nil)
	}
	return d.queue(b, addr)
}

// WriteMsgUDP delays the payload; out-of-band data is not carried (vnet
// has none).
func (d *delayedConn) WriteMsgUDP(b, _ []byte, addr *net.UDPAddr) (int, int, error) {
	n, err := d.WriteToUDP(b, addr)
	return n, 0, err
}

// Close drops what is still in the delay line (a closed socket sends
// nothing more) and closes the socket.
func (d *delayedConn) Close() error {
	d.mu.Lock()
	if !d.closed {
		d.closed = true
		close(d.done)
	}
	d.pending = nil
	d.mu.Unlock()
	d.wg.Wait()
	return d.UDPConn.Close()
}
