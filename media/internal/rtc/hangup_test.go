package rtc

import (
	"testing"
	"time"

	"github.com/parley-lab/parley/signaling/protocol"

	"github.com/parley-lab/parley/signaling/testkit"
)

// When the partner hangs up (its discussion ended a moment before ours),
// the call is disconnected, not failed: a failed call is called afresh.
// It fails only after RemoteHangupGrace without our own end, and once we
// close it nothing more is reported.
func TestPartnerHangupIsNotAFailureAtOnce(t *testing.T) {
	for _, closeOurs := range []bool{false, true} {
		n := newTestNet(t, 0, nil, nil)
		s := startSender(t, 640, 480, 500_000)
		p := newPair(t, n, s, 0)
		hungUp := time.Now()
		p.a.Close()
		testkit.Eventually(t, "B to see the hang-up", func() bool { return !p.historyB.first(protocol.CallDisconnected).IsZero() })
		if !p.historyB.first(protocol.CallFailed).IsZero() {
			t.Fatal("the partner's hang-up was reported as failed at once")
		}
		if closeOurs {
			p.b.Close()
			p.b.hungUp() // the grace timer firing after our own end
			if !p.historyB.first(protocol.CallFailed).IsZero() {
				t.Fatal("a call closed here was reported failed after the partner's hang-up")
			}
			continue
		}
		testkit.Eventually(t, "B to give the call up", func() bool { return !p.historyB.first(protocol.CallFailed).IsZero() })
		if d := p.historyB.first(protocol.CallFailed).Sub(hungUp); d < RemoteHangupGrace {
			t.Fatalf("failed %v after the hang-up; the grace is %v", d, RemoteHangupGrace)
		}
	}
}
