package bench

// netns.go: the namespace lab, where the network benchmark's media cross
// the kernel's own networking instead of pion's virtual network. Each
// participant's sockets live in a network namespace of its own, joined by a
// veth pair to a router namespace; the faults are the kernel's, made in the
// router: iptables' statistic match drops UDP at random, an htb class with
// a byte FIFO caps each direction, a link taken down is an outage, and every
// forwarded UDP packet dropped is a media path cut with the server still
// reachable. (Delay would need an NFQUEUE program: vnet's scenarios keep
// it.) The server stays on loopback, behind a pullable cable per
// participant, so a link down takes the server away as well.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"

	"github.com/pion/transport/v4"
	"github.com/pion/transport/v4/stdnet"
	"golang.org/x/sys/unix"
)

// ErrNoNamespaces is returned where the namespace lab cannot be made: not
// root, or ip, iptables or tc missing.
var ErrNoNamespaces = errors.New("network namespaces are not available")

// The lab's addresses: participant i has 10.80.<i+1>.2, the router's end
// of its link 10.80.<i+1>.1. Interface names avoid the prefixes the call
// leaves out of its candidates (veth, docker, ...).
const (
	labNet        = "10.80.%d.%d"
	labPrefixLen  = 24
	labParticipIf = "lab0"
	labRouterIf   = "r%d"
	labNetnsDir   = "/run/netns/"
)

// nsLab is one lab: three namespaces named after this process, removed by
// Close.
type nsLab struct {
	prefix string
	nets   [2]*nsNet
	lossOn bool
	capped bool
	cutOn  bool
}

func labTools() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: it needs root", ErrNoNamespaces)
	}
	for _, tool := range []string{"ip", "iptables", "tc"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%w: %s is not installed (Debian: apt-get install iproute2 iptables)", ErrNoNamespaces, tool)
		}
	}
	return nil
}

// openLab makes the namespaces, the links and the routes.
func openLab() (*nsLab, error) {
	if err := labTools(); err != nil {
		return nil, err
	}
	l := &nsLab{prefix: fmt.Sprintf("parley-%d", os.Getpid())}
	if err := l.build(); err != nil {
		l.Close()
		return nil, fmt.Errorf("the namespace lab: %w", err)
	}
	return l, nil
}

func (l *nsLab) ns(i int) string {
	if i < 0 {
		return l.prefix + "-r"
	}
	return fmt.Sprintf("%s-%c", l.prefix, 'a'+i)
}

func (l *nsLab) build() error {
	r := l.ns(-1)
	steps := [][]string{{"ip", "netns", "add", r}, {"ip", "-n", r, "link", "set", "lo", "up"},
		{"ip", "netns", "exec", r, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1"}}
	for i := range l.nets {
		p, rif := l.ns(i), fmt.Sprintf(labRouterIf, i)
		self, gw := fmt.Sprintf(labNet, i+1, 2), fmt.Sprintf(labNet, i+1, 1)
		steps = append(steps,
			[]string{"ip", "netns", "add", p},
			[]string{"ip", "-n", p, "link", "set", "lo", "up"},
			[]string{"ip", "link", "add", labParticipIf, "netns", p, "type", "veth", "peer", "name", rif, "netns", r},
			[]string{"ip", "-n", p, "addr", "add", self + "/" + strconv.Itoa(labPrefixLen), "dev", labParticipIf},
			[]string{"ip", "-n", r, "addr", "add", gw + "/" + strconv.Itoa(labPrefixLen), "dev", rif},
			[]string{"ip", "-n", p, "link", "set", labParticipIf, "up"},
			[]string{"ip", "-n", r, "link", "set", rif, "up"},
			[]string{"ip", "-n", p, "route", "add", "default", "via", gw})
	}
	for _, s := range steps {
		if err := run(s...); err != nil {
			return err
		}
	}
	for i := range l.nets {
		n, err := newNSNet(labNetnsDir + l.ns(i))
		if err != nil {
			return err
		}
		l.nets[i] = n
	}
	return nil
}

// Net is participant i's network, for its ICE agent.
func (l *nsLab) Net(i int) transport.Net { return l.nets[i] }

// Addr is participant i's address.
func (l *nsLab) Addr(i int) string { return fmt.Sprintf(labNet, i+1, 2) }

// lossRule is the iptables rule of random loss at pct.
func lossRule(pct float64) []string {
	return []string{"FORWARD", "-p", "udp", "-m", "statistic", "--mode", "random",
		"--probability", strconv.FormatFloat(pct/100, 'f', 4, 64), "-j", "DROP"}
}

// setLoss drops pct% of the UDP packets the router forwards, each way.
func (l *nsLab) setLoss(pct float64) error {
	if l.lossOn || pct <= 0 {
		return nil
	}
	l.lossOn = true
	return l.iptables(append([]string{"-A"}, lossRule(pct)...)...)
}

// lostBytes is what the random loss dropped (all UDP: RTP, RTCP, ICE and
// DTLS alike; RTP is nearly all of it).
func (l *nsLab) lostBytes() (int64, error) {
	out, err := output("ip", "netns", "exec", l.ns(-1), "iptables", "-w", "-v", "-x", "-n", "-L", "FORWARD")
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(out, "\n") {
		if f := strings.Fields(line); len(f) > 2 && strings.Contains(line, "statistic") && f[2] == "DROP" {
			return strconv.ParseInt(f[1], 10, 64)
		}
	}
	return 0, nil
}

// setCap caps each direction at bps with a FIFO of queue bytes: the
// router's egress towards each participant.
func (l *nsLab) setCap(bps int, queue int) error {
	if l.capped || bps <= 0 {
		return nil
	}
	l.capped = true
	rate := strconv.Itoa(bps/1000) + "kbit"
	for i := range l.nets {
		dev := fmt.Sprintf(labRouterIf, i)
		for _, s := range [][]string{
			{"qdisc", "add", "dev", dev, "root", "handle", "1:", "htb", "default", "10"},
			{"class", "add", "dev", dev, "parent", "1:", "classid", "1:10", "htb", "rate", rate, "ceil", rate, "burst", strconv.Itoa(capBurst)},
			{"qdisc", "add", "dev", dev, "parent", "1:10", "handle", "10:", "bfifo", "limit", strconv.Itoa(queue)},
		} {
			if err := run(append([]string{"tc", "-n", l.ns(-1)}, s...)...); err != nil {
				return err
			}
		}
	}
	return nil
}

// setPathCut drops every UDP packet the router forwards (the media), or
// stops doing so; the server, on loopback, stays reachable.
func (l *nsLab) setPathCut(on bool) error {
	if on == l.cutOn {
		return nil
	}
	l.cutOn = on
	op := "-D"
	if on {
		op = "-I"
	}
	return l.iptables(op, "FORWARD", "-p", "udp", "-j", "DROP")
}

// setLinkDown takes participant i's link down or up (its cable pulled).
func (l *nsLab) setLinkDown(i int, down bool) error {
	state := "up"
	if down {
		state = "down"
	}
	return run("ip", "-n", l.ns(-1), "link", "set", fmt.Sprintf(labRouterIf, i), state)
}

func (l *nsLab) iptables(args ...string) error {
	return run(append([]string{"ip", "netns", "exec", l.ns(-1), "iptables", "-w"}, args...)...)
}

// Close ends the namespace threads and removes the namespaces (their
// links and rules go with them).
func (l *nsLab) Close() {
	for _, n := range l.nets {
		if n != nil {
			close(n.do)
		}
	}
	for i := -1; i < len(l.nets); i++ {
		if _, err := os.Stat(labNetnsDir + l.ns(i)); err == nil {
			run("ip", "netns", "del", l.ns(i))
		}
	}
}

func run(args ...string) error {
	_, err := output(args...)
	return err
}

func output(args ...string) (string, error) {
	var out bytes.Buffer
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return out.String(), nil
}

// nsNet is pion's standard network with every socket made inside one
// namespace: a socket belongs to the namespace of the thread that made it,
// so each is made on a thread that entered the namespace and never leaves
// it. Reading and writing then work from any thread.
type nsNet struct {
	*stdnet.Net
	do chan func()
}

func newNSNet(path string) (*nsNet, error) {
	n := &nsNet{do: make(chan func())}
	entered := make(chan error)
	go func() {
		// Never unlocked: when do closes, the goroutine ends locked and
		// its thread, still in the namespace, ends with it instead of
		// going back to the runtime's pool.
		runtime.LockOSThread()
		f, err := os.Open(path)
		if err == nil {
			err = unix.Setns(int(f.Fd()), unix.CLONE_NEWNET)
			f.Close()
		}
		entered <- err
		if err != nil {
			return
		}
		for fn := range n.do {
			fn()
		}
	}()
	if err := <-entered; err != nil {
		return nil, fmt.Errorf("entering %s: %w", path, err)
	}
	var err error
	n.in(func() { n.Net, err = stdnet.NewNet() }) // the namespace's interfaces
	if err != nil {
		close(n.do)
		return nil, err
	}
	return n, nil
}

func (n *nsNet) in(f func()) {
	done := make(chan struct{})
	n.do <- func() { f(); close(done) }
	<-done
}

func (n *nsNet) ListenPacket(network, address string) (c net.PacketConn, err error) {
	n.in(func() { c, err = n.Net.ListenPacket(network, address) })
	return c, err
}

func (n *nsNet) ListenUDP(network string, laddr *net.UDPAddr) (c transport.UDPConn, err error) {
	n.in(func() { c, err = n.Net.ListenUDP(network, laddr) })
	return c, err
}

func (n *nsNet) Dial(network, address string) (c net.Conn, err error) {
	n.in(func() { c, err = n.Net.Dial(network, address) })
	return c, err
}

func (n *nsNet) DialUDP(network string, laddr, raddr *net.UDPAddr) (c transport.UDPConn, err error) {
	n.in(func() { c, err = n.Net.DialUDP(network, laddr, raddr) })
	return c, err
}

func (n *nsNet) DialTCP(network string, laddr, raddr *net.TCPAddr) (c transport.TCPConn, err error) {
	n.in(func() { c, err = n.Net.DialTCP(network, laddr, raddr) })
	return c, err
}

func (n *nsNet) ListenTCP(network string, laddr *net.TCPAddr) (l transport.TCPListener, err error) {
	n.in(func() { l, err = n.Net.ListenTCP(network, laddr) })
	return l, err
}

func (n *nsNet) CreateDialer(d *net.Dialer) transport.Dialer {
	return nsDialer{n, n.Net.CreateDialer(d)}
}

func (n *nsNet) CreateListenConfig(c *net.ListenConfig) transport.ListenConfig {
	return nsListenConfig{n, n.Net.CreateListenConfig(c)}
}

type nsDialer struct {
	n *nsNet
	d transport.Dialer
}

func (d nsDialer) Dial(network, address string) (c net.Conn, err error) {
	d.n.in(func() { c, err = d.d.Dial(network, address) })
	return c, err
}

type nsListenConfig struct {
	n *nsNet
	c transport.ListenConfig
}

func (c nsListenConfig) Listen(ctx context.Context, network, address string) (l net.Listener, err error) {
	c.n.in(func() { l, err = c.c.Listen(ctx, network, address) })
	return l, err
}

func (c nsListenConfig) ListenPacket(ctx context.Context, network, address string) (p net.PacketConn, err error) {
	c.n.in(func() { p, err = c.c.ListenPacket(ctx, network, address) })
	return p, err
}
