package engine

// watch.go: what the engine checks while it runs: the partner's video
// stalling and this workstation's devices coming and going (videoLoop), and
// each call's statistics, sent to the server and shown (statsLoop).

import (
	"time"

	"github.com/parley-lab/parley/signaling/participant"
	"github.com/parley-lab/parley/signaling/protocol"
)

// PartnerVideoStalled: connected, but no video frame from the partner this
// long: the UI says the partner's camera is off or stopped instead of a
// frozen picture. videoCheckInterval is how often the engine looks.
const (
	PartnerVideoStalled = 2 * time.Second
	videoCheckInterval  = 500 * time.Millisecond
)

// videoLoop marks the partner's video stopped while the call is connected
// but no frame has come for PartnerVideoStalled, and follows this
// workstation's camera and microphone coming and going.
func (e *Engine) videoLoop() { e.every(videoCheckInterval, e.checkVideo) }

// statsLoop sends each call's statistics to the server, and shows the
// latest, every StatsInterval.
func (e *Engine) statsLoop() { e.every(e.cfg.StatsInterval, e.sendStats) }

// every runs f every d until the engine shuts down.
func (e *Engine) every(d time.Duration, f func()) {
	defer e.wg.Done()
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-e.stopStats:
			return
		case <-t.C:
		}
		f()
	}
}

// checkVideo is one look of videoLoop.
func (e *Engine) checkVideo() {
	e.mu.Lock()
	uploads := e.uploadsLocked()
	stopped := false
	if e.st.MediaConnected {
		for _, id := range e.partnerIDsLocked() {
			ce := e.calls[id]
			if ce == nil || ce.call == nil || ce.state != protocol.CallConnected {
				continue
			}
			last := ce.call.LastVideo()
			if last.IsZero() {
				last = ce.connectedAt
			}
			stopped = time.Since(last) > PartnerVideoStalled
		}
	}
	changed := stopped != e.st.PartnerVideoStopped
	e.st.PartnerVideoStopped = stopped
	// A camera or microphone plugged in later (or one that stopped)
	// changes what the device check shows and what the experimenter sees.
	noCam, noMic := e.cfg.Media.NoCamera(), e.cfg.Media.NoMicrophone()
	devicesChanged := noCam != e.st.NoCamera || noMic != e.st.NoMicrophone
	e.st.NoCamera, e.st.NoMicrophone = noCam, noMic
	var report protocol.Devices
	if devicesChanged {
		report = e.devicesLocked()
	}
	e.mu.Unlock()
	if devicesChanged {
		e.sess.Send(protocol.TypeDevices, report)
	}
	if changed || devicesChanged || uploads {
		e.notify()
	}
}

// sendStats is one round of statsLoop.
func (e *Engine) sendStats() {
	e.mu.Lock()
	type pc struct {
		id string
		c  Call
	}
	var calls []pc
	for id, ce := range e.calls {
		if ce.call != nil {
			calls = append(calls, pc{id, ce.call})
		}
	}
	e.mu.Unlock()
	for _, x := range calls {
		st := x.c.Stats()
		st.Peer = x.id
		e.sess.Send(protocol.TypeStats, st)
		e.mu.Lock()
		e.st.Stats = participant.Stats{
			RTT: time.Duration(st.RTTMS * float64(time.Millisecond)), FPSSent: st.FPSSent, FPSRecv: st.FPSRecv,
			BitrateKbps: st.BitrateKbps, PacketLoss: st.PacketLoss,
			AudioDelay: time.Duration(st.AudioDelayMS * float64(time.Millisecond)), FramesDecoded: st.FramesDecoded,
		}
		e.mu.Unlock()
		e.notify()
	}
}
