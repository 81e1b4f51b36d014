package bench

import (
	"context"
	"os"
	"testing"
	"time"
)

// networkTestLimit bounds one scenario's run in these tests.
const networkTestLimit = 2 * time.Minute

// runNetwork runs the scenario sc for d (within networkTestLimit), fails
// the test if it could not run, and logs the result.
func runNetwork(t *testing.T, sc NetworkScenario, d time.Duration) NetworkResult {
	t.Helper()
	return runNetworkOn(t, Virtual, sc, d)
}

// runNetworkOn is runNetwork on fabric f.
func runNetworkOn(t *testing.T, f Fabric, sc NetworkScenario, d time.Duration) NetworkResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), networkTestLimit)
	defer cancel()
	r, err := Network(ctx, f, sc, d)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", r)
	return r
}

// outageBackWithin is the target: video back within 3 s of the
// path's return.
const outageBackWithin = 3 * time.Second

// checkOutage checks a run with an outage of cutFor: it was seen (a
// freeze nearly as long), video came back within outageBackWithin of the
// path's return, and the discussion ended on time.
func checkOutage(t *testing.T, r NetworkResult, cutFor time.Duration) {
	t.Helper()
	if r.LongestFreezeMS < 0.8*float64(cutFor.Milliseconds()) {
		t.Errorf("longest freeze %.0f ms: the %v outage was not seen", r.LongestFreezeMS, cutFor)
	}
	if r.FirstFrameAfterMS < 0 || r.FirstFrameAfterMS > float64(outageBackWithin.Milliseconds()) {
		t.Errorf("video back %.0f ms after the path returned; want within %v", r.FirstFrameAfterMS, outageBackWithin)
	}
	if !r.DeadlineHeld {
		t.Errorf("the discussion ended %.0f ms after its deadline", r.EndSkewMS)
	}
}

// An outage longer than pion's own give-up time (8 s with our settings
// before: the call failed and a fresh one was made while the path was
// still down) comes back within 3 s of the path's return, whether only the
// media path was cut (the server reachable) or the link went down with the
// server's link too (the offer must not wait behind a dead websocket).
func TestNetworkOutageRecovers(t *testing.T) {
	// outageDiscussion leaves 8 s after the path returns: with the
	// server's link down until 4 s before the deadline, a loaded machine
	// once ended a side 2.4 s late (the reconnection and the end at once:
	// open in issue 12's note).
	const cutFor, outageDiscussion = 10 * time.Second, 20 * time.Second
	for _, linkDown := range []bool{false, true} {
		sc := NetworkScenario{Name: "media cut 10 s", CutAt: 2 * time.Second, CutFor: cutFor, LinkDown: linkDown}
		if linkDown {
			sc.Name = "link down 10 s"
		}
		t.Run(sc.Name, func(t *testing.T) { checkOutage(t, runNetwork(t, sc, outageDiscussion), cutFor) })
	}
}

// On the kernel's own networking (namespaces; root only, as in CI) a call
// crosses 5% random loss made by iptables, loses its links, the server's
// with them, for 3 s, and is back within the target.
func TestNetworkOnNamespaces(t *testing.T) {
	if err := labTools(); err != nil {
		if os.Getenv("PARLEY_REQUIRE_NETNS") != "" {
			t.Fatal(err)
		}
		t.Skipf("%v (PARLEY_REQUIRE_NETNS=1 makes this a failure)", err)
	}
	const cutFor = 3 * time.Second
	sc := NetworkScenario{Name: "5% loss, link down 3 s", LossPct: 5, CutAt: 2 * time.Second, CutFor: cutFor, LinkDown: true}
	r := runNetworkOn(t, Namespaces, sc, 10*time.Second)
	if r.LostBytes == 0 || r.Retransmitted == 0 {
		t.Errorf("lost %d bytes, retransmitted %d: the kernel's loss or the repair is not seen", r.LostBytes, r.Retransmitted)
	}
	checkOutage(t, r, cutFor)
}

// At 5% random loss both ways the benchmark sees the repair bounded
// (retransmitted bytes at most 1.5 times the lost ones) and nearly every
// sent frame decoded.
func TestNetworkLossIsRepairedWithinBudget(t *testing.T) {
	sc := NetworkScenario{Name: "5% loss", LossPct: 5}
	r := runNetwork(t, sc, 8*time.Second)
	if r.LostBytes == 0 || r.Retransmitted == 0 {
		t.Fatalf("lost %d bytes, retransmitted %d: the fault or the repair is not seen", r.LostBytes, r.Retransmitted)
	}
	if r.RetransmitPerLost() > 1.5 {
		t.Errorf("retransmitted %.2f bytes per lost byte; the target is 1.5", r.RetransmitPerLost())
	}
	if float64(r.FramesDecoded) < 0.9*float64(r.FramesSent) {
		t.Errorf("decoded %d of %d frames sent", r.FramesDecoded, r.FramesSent)
	}
}

// On a path that reorders and loses nothing, the audio packets that come
// after a later one are played in their place (as rtc's
// TestReorderedAudioIsHandedOn sees at the call), and the video's late
// packets are waited for rather than asked for again: before the NACK
// generator waited for them, a quarter of the bytes sent were
// retransmissions (the budget's cap).
func TestNetworkReorderingIsNotTakenForLoss(t *testing.T) {
	const maxRetransmitShare = 0.05
	sc := NetworkScenario{Name: "reordered", Delay: 50 * time.Millisecond, Spread: 20 * time.Millisecond}
	r := runNetwork(t, sc, 8*time.Second)
	if r.Reordered == 0 || r.LostBytes != 0 {
		t.Fatalf("%d of %d datagrams reordered, %d bytes lost: want reordering and no loss", r.Reordered, r.Datagrams, r.LostBytes)
	}
	if r.AudioLate == 0 {
		t.Errorf("no late audio packet played in its place (%d concealed of %d)", r.AudioConcealed, r.AudioFrames)
	}
	if r.RetransmitShare() > maxRetransmitShare {
		t.Errorf("retransmitted %.1f%% of the media bytes with nothing lost", 100*r.RetransmitShare())
	}
}
