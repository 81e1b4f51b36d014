package engine

// calls.go: a WebRTC call with each partner: the Call a Dialer starts, its
// set-up and its time limit, its state as it changes, a failed call made
// afresh (telling the partner with a give_up), and closing them all.

import (
	"errors"
	"image"
	"sort"
	"sync"
	"time"

	"github.com/parley-lab/parley/media/frames"
	"github.com/parley-lab/parley/signaling/participant"
	"github.com/parley-lab/parley/signaling/protocol"
)

// Call is one WebRTC call with one partner (media/internal/rtc implements it).
type Call interface {
	// HandleSignal applies an offer, answer or candidate from the partner.
	HandleSignal(protocol.Signal) error
	// Remote is the partner's video; LastVideo when its latest frame was
	// decoded (zero: none yet).
	Remote() frames.Stream
	LastVideo() time.Time
	// Stats reports the call's quality now.
	Stats() protocol.Stats
	// Close ends the call and releases what it holds.
	Close() error
}

// CallParams are what a Dialer needs to start a call.
type CallParams struct {
	Peer       string
	Offerer    bool
	ICEServers []protocol.ICEServer
	// Send delivers a signal to the partner through the server.
	Send func(protocol.Signal) error
	// OnState reports protocol.CallConnecting, CallConnected,
	// CallDisconnected or CallFailed.
	OnState func(state string)
}

// Dialer starts a call; an offerer sends its offer through p.Send.
type Dialer func(p CallParams) (Call, error)

// ErrEnded is returned to a call that signals after the discussion ended.
var ErrEnded = errors.New("the discussion has ended")

type callEntry struct {
	call        Call
	offerer     bool
	gotOffer    bool
	state       string
	connectedAt time.Time // when the state last became connected
	// offerID names the call to the partner: the session id of its
	// offer's SDP (sent or received); a give_up carries it.
	offerID string
}

// Remote is the first partner's video (a black frame source until the call runs).
func (e *Engine) Remote() frames.Stream { return remoteFrames{e} }

type remoteFrames struct{ e *Engine }

func (r remoteFrames) Render(dst *image.RGBA, seen uint64, v frames.View) (*image.RGBA, uint64) {
	r.e.mu.Lock()
	var c Call
	for _, id := range r.e.partnerIDsLocked() {
		if ce := r.e.calls[id]; ce != nil {
			c = ce.call
			break
		}
	}
	r.e.mu.Unlock()
	if c == nil {
		return nil, 0
	}
	return c.Remote().Render(dst, seen, v)
}

func (e *Engine) takeCallsLocked() []Call {
	var out []Call
	for id, ce := range e.calls {
		// A call still being dialled has none yet; the dialler closes it
		// when it finds its slot gone.
		if ce.call != nil {
			out = append(out, ce.call)
		}
		delete(e.calls, id)
	}
	return out
}

func closeCalls(calls []Call) {
	var wg sync.WaitGroup
	for _, c := range calls {
		wg.Add(1)
		go func() { defer wg.Done(); c.Close() }()
	}
	wg.Wait()
}

func (e *Engine) partnerIDsLocked() []string {
	var ids []string
	for id := range e.members {
		if id != e.selfID {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

// dialLocked reserves a call slot for peer and returns the function that
// starts it (outside the lock: a dialer may block briefly).
func (e *Engine) dialLocked(peer string, offerer bool) func() {
	ce := &callEntry{offerer: offerer, state: protocol.CallConnecting}
	e.calls[peer] = ce
	e.cfg.Clock.AfterFunc(e.cfg.CallSetupTimeout, func() {
		e.mu.Lock()
		stuck := !e.closed && e.calls[peer] == ce && ce.state == protocol.CallConnecting
		e.mu.Unlock()
		if stuck {
			e.log.Warn("call set-up timed out; starting afresh", "peer", peer, "offerer", offerer)
			e.callState(peer, ce, protocol.CallFailed)
		}
	})
	params := CallParams{
		Peer: peer, Offerer: offerer, ICEServers: e.ice,
		Send: func(s protocol.Signal) error {
			e.mu.Lock()
			ended := e.ended
			e.mu.Unlock()
			if ended {
				return ErrEnded // hung up: nothing more goes to the partner
			}
			if s.Kind == protocol.SignalOffer {
				e.mu.Lock()
				if ce.offerID == "" {
					ce.offerID = sdpSessionID(s.SDP)
				}
				e.mu.Unlock()
			}
			s.To = peer
			return e.sess.Send(protocol.TypeSignal, s)
		},
		OnState: func(state string) { e.callState(peer, ce, state) },
	}
	return func() {
		c, err := e.cfg.Dial(params)
		e.mu.Lock()
		if err != nil {
			e.log.Error("call", "peer", peer, "err", err)
			if e.calls[peer] == ce {
				delete(e.calls, peer)
			}
			e.st.LastError = &participant.Notice{Code: "call_failed", Text: "The video call could not be started: " + err.Error()}
			e.mu.Unlock()
			e.notify()
			return
		}
		if e.calls[peer] != ce || e.closed {
			e.mu.Unlock()
			c.Close() // replaced or ended meanwhile
			return
		}
		ce.call = c
		e.mu.Unlock()
	}
}

// callState is called by a call's goroutine.
func (e *Engine) callState(peer string, ce *callEntry, state string) {
	e.setCallState(peer, ce, state, false)
}

// setCallState records a call's state; a failed call is closed and made
// afresh. byPartner: the partner gave up on it (its give_up), so none is
// sent back; otherwise the partner is told, so both make the fresh call.
func (e *Engine) setCallState(peer string, ce *callEntry, state string, byPartner bool) {
	e.mu.Lock()
	if e.calls[peer] != ce || e.closed {
		e.mu.Unlock()
		return
	}
	prev := ce.state
	ce.state = state
	if state == protocol.CallConnected && prev != protocol.CallConnected {
		ce.connectedAt = time.Now()
	}
	connected := state == protocol.CallConnected
	e.st.MediaConnected = connected
	e.updatePartnerOnlineLocked()
	e.st.Reconnecting = !connected && prev == protocol.CallConnected || state == protocol.CallFailed
	if connected && e.st.Phase == participant.PhasePaired {
		e.st.Phase = participant.PhaseInCall
	}
	var redial func()
	var old Call
	var giveUp *protocol.Signal
	if state == protocol.CallFailed && !e.ended {
		// A fresh call rather than an ICE restart: simpler, and recovers from
		// a partner's kiosk restarting too. The offerer offers again; the
		// answerer waits for that offer. The partner hears of it first
		// (give_up before the new offer): its side of the call may look
		// connected (one side's DTLS can finish alone) and would wait
		// for its own failure.
		old = ce.call
		delete(e.calls, peer)
		if !byPartner && ce.offerID != "" {
			giveUp = &protocol.Signal{To: peer, Kind: protocol.SignalGiveUp, Call: ce.offerID}
		}
		if ce.offerer {
			redial = e.dialLocked(peer, true)
		}
	}
	e.mu.Unlock()
	if giveUp != nil {
		e.log.Info("call given up; telling the partner", "peer", peer, "call", giveUp.Call)
		e.sess.Send(protocol.TypeSignal, *giveUp)
	}
	e.sess.Send(protocol.TypeCallState, protocol.CallState{Peer: peer, State: state})
	e.syncRecording(protocol.SegmentCallLost, false)
	if old != nil {
		go old.Close()
	}
	if redial != nil {
		redial()
	}
	e.notify()
}

// redialIfDownLocked: the partner came back to the server; if our call
// with it is down (its kiosk restarted), the offerer starts a fresh one. A
// call still connecting is left alone: it may be the fresh one already.
// The answerer's fresh call is made when the new offer comes.
func (e *Engine) redialIfDownLocked(peer string) func() {
	ce := e.calls[peer]
	if e.ended || ce == nil || !ce.offerer || (ce.state != protocol.CallDisconnected && ce.state != protocol.CallFailed) {
		return nil
	}
	old := ce.call
	delete(e.calls, peer)
	start := e.dialLocked(peer, true)
	return func() {
		if old != nil {
			old.Close()
		}
		start()
	}
}
