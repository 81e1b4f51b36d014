package bench

// path.go: what the network benchmark's media cross, and the faults made
// in it. Two fabrics make the same faults: pion's virtual network (any
// machine, in process) and the kernel's own networking in network
// namespaces (root only, netns.go).

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/pion/logging"
	"github.com/pion/transport/v4"
	"github.com/pion/transport/v4/vnet"
)

// Fabric names where the benchmark's media cross.
type Fabric string

const (
	// Virtual is pion's virtual network: a router in the process.
	Virtual Fabric = "vnet"
	// Namespaces are two network namespaces with a router namespace
	// between them: the kernel's UDP, iptables' loss and htb's caps.
	Namespaces Fabric = "netns"
)

// Fabrics are the fabrics a run may ask for.
var Fabrics = []Fabric{Virtual, Namespaces}

// ParseFabric checks a fabric's name.
func ParseFabric(s string) (Fabric, error) {
	for _, f := range Fabrics {
		if string(f) == s {
			return f, nil
		}
	}
	return "", fmt.Errorf("no network fabric %q: want %s or %s", s, Virtual, Namespaces)
}

// mediaPath is the media path between the two sides (both directions).
// The server is not on it: it stays on loopback, behind a cable per side
// when a scenario takes the link down (network.go).
type mediaPath interface {
	// net is side i's network, for its ICE agent.
	net(i int) transport.Net
	// setCut drops every media packet both ways, or stops doing so.
	setCut(on bool) error
	// setLinkDown takes both sides' links down or up: on a real link the
	// interface goes away, not only the packets.
	setLinkDown(down bool) error
	// lostBytes is what the random loss (and the cuts) dropped of the media.
	lostBytes() (int64, error)
	close()
}

// openPath makes sc's impairments, except delay and reordering, which are
// made at the senders (reorder.go) on either fabric; routerDelay is a
// constant one-way delay the fabric adds itself (vnet only).
func openPath(f Fabric, sc NetworkScenario, routerDelay bool) (mediaPath, error) {
	queue := int64(float64(sc.RateBps) / 8 * capQueue.Seconds())
	if sc.Policer {
		queue = policerQueue
	}
	switch f {
	case Namespaces:
		l, err := openLab()
		if err != nil {
			return nil, err
		}
		if err := l.setLoss(sc.LossPct); err != nil {
			l.Close()
			return nil, err
		}
		if err := l.setCap(sc.RateBps, int(queue)); err != nil {
			l.Close()
			return nil, err
		}
		return labPath{l}, nil
	case Virtual, "":
		delay := sc.Delay
		if !routerDelay {
			delay = 0
		}
		return openVnetPath(sc, delay, queue)
	}
	return nil, fmt.Errorf("no network fabric %q", f)
}

// vnetPath is pion's virtual network: a router whose chunk filter makes
// the loss and the cuts, and a token bucket per side for a cap.
type vnetPath struct {
	router *vnet.Router
	queues []*vnet.Queue
	nets   []transport.Net
	f      *fault
}

func openVnetPath(sc NetworkScenario, delay time.Duration, queue int64) (*vnetPath, error) {
	p := &vnetPath{f: &fault{rng: rand.New(rand.NewPCG(lossSeed, uint64(sc.LossPct*1000))), lossPct: sc.LossPct}}
	router, err := vnet.NewRouter(&vnet.RouterConfig{CIDR: netCIDR, MinDelay: delay,
		LoggerFactory: logging.NewDefaultLoggerFactory()})
	if err != nil {
		return nil, err
	}
	p.router = router
	router.AddChunkFilter(p.f.filter)
	for _, ip := range []string{netIPA, netIPB} {
		n, err := vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{ip}})
		if err != nil {
			p.close()
			return nil, err
		}
		var nic vnet.NIC = n
		if sc.RateBps > 0 {
			q, err := vnet.NewQueue(n, vnet.NewTBFQueue(sc.RateBps, capBurst, queue))
			if err != nil {
				p.close()
				return nil, err
			}
			p.queues = append(p.queues, q)
			nic = q
		}
		if err := router.AddNet(nic); err != nil {
			p.close()
			return nil, err
		}
		p.nets = append(p.nets, n)
	}
	if err := router.Start(); err != nil {
		p.close()
		return nil, err
	}
	return p, nil
}

func (p *vnetPath) net(i int) transport.Net { return p.nets[i] }

func (p *vnetPath) setCut(on bool) error { p.f.setCut(on); return nil }

// setLinkDown: vnet has no link state; a cut is as close as it comes.
func (p *vnetPath) setLinkDown(down bool) error { return p.setCut(down) }

func (p *vnetPath) lostBytes() (int64, error) {
	p.f.mu.Lock()
	defer p.f.mu.Unlock()
	return p.f.lostBytes, nil
}

func (p *vnetPath) close() {
	p.router.Stop()
	for _, q := range p.queues {
		q.Close()
	}
}

// fault is the router's chunk filter: seeded loss, the cut, and the count
// of media bytes lost.
type fault struct {
	mu        sync.Mutex
	rng       *rand.Rand
	lossPct   float64
	cut       bool
	lostBytes int64
}

func (f *fault) filter(c vnet.Chunk) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	drop := f.cut || (f.lossPct > 0 && f.rng.Float64()*100 < f.lossPct)
	if drop && isRTP(c) {
		f.lostBytes += int64(len(c.UserData()))
	}
	return !drop
}

func (f *fault) setCut(on bool) {
	f.mu.Lock()
	f.cut = on
	f.mu.Unlock()
}

// isRTP: SRTP's header is in the clear; RTCP packet types are 192..223.
func isRTP(c vnet.Chunk) bool {
	b := c.UserData()
	if c.Network() != "udp" || len(b) < 12 || b[0]&0xC0 != 0x80 {
		return false
	}
	pt := b[1] & 0x7F
	return pt < 64 || pt > 95
}

// labPath is the namespace lab as a media path.
type labPath struct{ l *nsLab }

func (p labPath) net(i int) transport.Net   { return p.l.Net(i) }
func (p labPath) setCut(on bool) error      { return p.l.setPathCut(on) }
func (p labPath) lostBytes() (int64, error) { return p.l.lostBytes() }
func (p labPath) close()                    { p.l.Close() }

func (p labPath) setLinkDown(down bool) error {
	for i := range p.l.nets {
		if err := p.l.setLinkDown(i, down); err != nil {
			return err
		}
	}
	return nil
}
