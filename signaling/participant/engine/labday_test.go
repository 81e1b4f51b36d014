package engine_test

// A lab day off the happy path, headless: a server that is not up yet, a
// session not yet open, participants who are paired only once ready, and a
// kiosk restarted with a message it could not send.

import (
	"bytes"
	"encoding/json"
	"image"
	"net"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-lab/parley/media/frames"
	"github.com/parley-lab/parley/media/kit"
	"github.com/parley-lab/parley/media/local"
	"github.com/parley-lab/parley/signaling/client"
	"github.com/parley-lab/parley/signaling/internal/clock"
	"github.com/parley-lab/parley/signaling/participant"
	"github.com/parley-lab/parley/signaling/participant/engine"
	"github.com/parley-lab/parley/signaling/protocol"
	"github.com/parley-lab/parley/signaling/server"
	"github.com/parley-lab/parley/signaling/testkit"
)

// stillMedia is a workstation without devices: enough for every phase
// before a call.
type stillMedia struct{}

func (stillMedia) Local() frames.Stream { return noFrames{} }
func (stillMedia) MicLevel() float64    { return 0 }
func (stillMedia) SetMute(bool, bool)   {}
func (stillMedia) NoCamera() bool       { return false }
func (stillMedia) NoMicrophone() bool   { return false }
func (stillMedia) NoAudioOutput() bool  { return false }
func (stillMedia) CameraOff() bool      { return true }
func (stillMedia) MicrophoneOff() bool  { return true }
func (stillMedia) Close() error         { return nil }

type noFrames struct{}

func (noFrames) Render(*image.RGBA, uint64, frames.View) (*image.RGBA, uint64) { return nil, 0 }

// noCall is a dialer whose calls never connect.
func noCall(engine.CallParams) (engine.Call, error) { return idleCall{}, nil }

type idleCall struct{}

func (idleCall) HandleSignal(protocol.Signal) error { return nil }
func (idleCall) Remote() frames.Stream              { return noFrames{} }
func (idleCall) LastVideo() time.Time               { return time.Time{} }
func (idleCall) Stats() protocol.Stats              { return protocol.Stats{} }
func (idleCall) Close() error                       { return nil }

func stillSide(t *testing.T, name, url, room, dir string, mod func(*engine.Config)) *side {
	t.Helper()
	cfg := engine.Config{
		Session: client.SessionConfig{URL: url, Room: room, Seat: name, StateFile: filepath.Join(dir, name+".json"),
			BackoffMin: 20 * time.Millisecond, BackoffMax: 200 * time.Millisecond},
		Media: stillMedia{}, Dial: noCall, Log: quiet, UnreachableAfter: 200 * time.Millisecond,
	}
	if mod != nil {
		mod(&cfg)
	}
	eng, err := engine.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(eng.Close)
	return &side{name: name, eng: eng}
}

func TestServerNotUpYetIsSaidAndJoinedWhenItIs(t *testing.T) {
	leakCheck(t)
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there yet
	a := stillSide(t, "a", "ws://"+addr+"/ws", "lab", dir, nil)
	a.eng.Join("Ann")
	waitFor(t, a, "the unreachable notice", func(s participant.State) bool {
		return s.ServerUnreachable && s.Phase == participant.PhaseConnecting
	})
	srv := startServer(t, filepath.Join(dir, "srv"), addr, 60)
	defer srv.Close()
	waitFor(t, a, "joining by itself", func(s participant.State) bool {
		return s.Phase == participant.PhaseWaiting && !s.ServerUnreachable && s.Pseudonym == "Ann"
	})
	// It told the server what devices it has (none, by the lab's choice).
	var ps []server.ParticipantView
	testkit.Eventually(t, "the device report", func() bool {
		ps, _ = srv.Hub().Participants(a.eng.State().Session)
		return len(ps) == 1 && ps[0].Devices != nil
	})
	if d := ps[0].Devices; d.Camera != protocol.DeviceOff || d.Microphone != protocol.DeviceOff || d.Speaker != protocol.DeviceOK {
		t.Fatalf("devices reported %+v", d)
	}
}

func TestJoinBeforeTheSessionGoesThroughWhenItOpens(t *testing.T) {
	leakCheck(t)
	dir := t.TempDir()
	srv := startRooms(t, filepath.Join(dir, "srv"), "127.0.0.1:0", server.Room{Name: "econlab"})
	defer srv.Close()
	a := stillSide(t, "a", "ws://"+srv.Addr()+"/ws", "econlab", dir, nil)
	a.eng.Join("Ann")
	waitFor(t, a, "waiting for the session", func(s participant.State) bool {
		return s.WaitingForSession && s.Phase == participant.PhaseConnecting && s.LastError == nil
	})
	body, _ := json.Marshal(map[string]any{"room": "econlab"})
	req, _ := http.NewRequest("POST", "http://"+srv.Addr()+"/api/sessions", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+srv.AdminToken())
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("create session: %v %v", err, resp)
	}
	resp.Body.Close()
	waitFor(t, a, "in the session", func(s participant.State) bool {
		return s.Phase == participant.PhaseWaiting && !s.WaitingForSession && s.Session != ""
	})
}

func TestPairedOnlyOnceBothFinishedTheDeviceCheck(t *testing.T) {
	leakCheck(t)
	dir := t.TempDir()
	srv := startServer(t, filepath.Join(dir, "srv"), "127.0.0.1:0", 60)
	defer srv.Close()
	url := "ws://" + srv.Addr() + "/ws"
	a, b := joinedPair(t, stillSides(t, url, dir, nil), "joined, not ready", func(st participant.State) bool {
		return st.Phase == participant.PhaseWaiting && !st.Ready && st.DeviceCheck == protocol.DeviceCheckRequired
	})
	a.eng.Ready()
	waitFor(t, a, "ready", func(st participant.State) bool { return st.Ready })
	if b.eng.State().Phase != participant.PhaseWaiting || a.eng.State().Phase != participant.PhaseWaiting {
		t.Fatal("paired before both were ready")
	}
	b.eng.Ready()
	for _, s := range []*side{a, b} {
		waitFor(t, s, "paired", func(st participant.State) bool { return st.Phase >= participant.PhasePaired })
	}
}

func TestRestartedKioskShowsHistoryAndWhatItCouldNotSend(t *testing.T) {
	leakCheck(t)
	dir := t.TempDir()
	srv := startServer(t, filepath.Join(dir, "srv"), "127.0.0.1:0", 60)
	addr := srv.Addr()
	url := "ws://" + addr + "/ws"
	auto := func(c *engine.Config) { c.AutoReady = true }
	a, b := pairedPair(t, stillSides(t, url, dir, auto))
	a.eng.SendChat(protocol.ChannelGroup, "one")
	b.eng.SendChat(protocol.ChannelGroup, "two")
	waitFor(t, b, "both messages", func(st participant.State) bool { return len(st.Messages) == 2 })
	// The server goes away; B types a message it cannot send, and stops.
	srv.Close()
	waitFor(t, b, "offline", func(st participant.State) bool { return !st.ServerOnline })
	b.eng.SendChat(protocol.ChannelGroup, "three, while the server is away")
	b.eng.Close()
	// B starts again: what it could not send is pending at once.
	b2 := stillSide(t, "b", url, "lab", dir, auto)
	if p := b2.eng.State().Pending; len(p) != 1 || p[0].Body != "three, while the server is away" || p[0].Channel != protocol.ChannelGroup {
		t.Fatalf("pending after the restart: %+v", p)
	}
	srv = startServer(t, filepath.Join(dir, "srv"), addr, 60)
	defer srv.Close()
	// The whole history, each message once, and the pending one delivered.
	waitFor(t, b2, "the history and the sent message", func(st participant.State) bool {
		return len(st.Messages) == 3 && len(st.Pending) == 0
	})
	seen := map[string]int{}
	for _, m := range b2.eng.State().Messages {
		seen[m.Body]++
	}
	for _, body := range []string{"one", "two", "three, while the server is away"} {
		if seen[body] != 1 {
			t.Errorf("%q shown %d times after the restart", body, seen[body])
		}
	}
}

// TestPartnerWithoutCameraIsSaidNotFrozen: B has no camera (the lab chose
// none); once the call is up, A is told the partner's camera is off rather
// than shown a black or frozen picture.
func TestPartnerWithoutCameraIsSaidNotFrozen(t *testing.T) {
	leakCheck(t)
	dir := t.TempDir()
	srv := startServer(t, filepath.Join(dir, "srv"), "127.0.0.1:0", 60)
	defer srv.Close()
	url := "ws://" + srv.Addr() + "/ws"
	a := newSide(t, "a", url, dir, 440, nil)
	defer a.eng.Leave()
	p, err := local.Open(kit.Options{VideoSource: kit.SourceNone, AudioSource: kit.SourceTest, ToneHz: 660, LoopbackCandidates: true, Log: quiet},
		engine.Config{Session: client.SessionConfig{URL: url, Room: "lab", Seat: "b", StateFile: filepath.Join(dir, "b.json")}, Log: quiet, AutoReady: true}, "")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Leave()
	a.eng.Join("Ann")
	p.Engine.Join("Ben")
	waitFor(t, a, "the call", func(st participant.State) bool { return st.MediaConnected })
	waitFor(t, a, "the partner's camera said to be off", func(st participant.State) bool { return st.PartnerVideoStopped })
	if st := p.Engine.State(); st.PartnerVideoStopped && st.MediaConnected {
		// B gets A's video: nothing to say there.
		b := &side{name: "b", eng: p.Engine}
		waitFor(t, b, "A's video flowing", func(st participant.State) bool { return !st.PartnerVideoStopped })
	}
}

// TestServerThatLostItsDataAsksForTheDeviceCheckAgain: ready is the
// server's to keep; a server that starts afresh (its data gone) welcomes a
// new participant, who must pass the device check again to be paired.
func TestServerThatLostItsDataAsksForTheDeviceCheckAgain(t *testing.T) {
	leakCheck(t)
	dir := t.TempDir()
	srv := startServer(t, filepath.Join(dir, "srv1"), "127.0.0.1:0", 60)
	addr := srv.Addr()
	a := stillSide(t, "a", "ws://"+addr+"/ws", "lab", dir, nil)
	a.eng.Join("Ann")
	waitFor(t, a, "joined", func(s participant.State) bool { return s.Phase == participant.PhaseWaiting })
	a.eng.Ready()
	first := a.eng.State().Session
	srv.Close()
	srv = startServer(t, filepath.Join(dir, "srv2"), addr, 60) // a new, empty data directory
	defer srv.Close()
	waitFor(t, a, "welcomed by the new server, not ready", func(s participant.State) bool {
		return s.Session != "" && s.Session != first && s.ServerOnline && !s.Ready
	})
}

// pluggableMedia is a workstation whose camera and microphone come and
// go, and that counts the device check's "Try again".
type pluggableMedia struct {
	stillMedia
	noCam, noMic atomic.Bool
	retries      atomic.Int32
}

func (m *pluggableMedia) NoCamera() bool      { return m.noCam.Load() }
func (m *pluggableMedia) NoMicrophone() bool  { return m.noMic.Load() }
func (m *pluggableMedia) CameraOff() bool     { return false }
func (m *pluggableMedia) MicrophoneOff() bool { return false }
func (m *pluggableMedia) RetryDevices()       { m.retries.Add(1) }

// TestMicrophonePluggedInLaterReachesTheExperimenter: a microphone missing
// at the start and plugged in later (or one that fails mid-way) shows on
// the device check and in what the experimenter sees, like the camera.
func TestMicrophonePluggedInLaterReachesTheExperimenter(t *testing.T) {
	leakCheck(t)
	dir := t.TempDir()
	srv := startServer(t, filepath.Join(dir, "srv"), "127.0.0.1:0", 60)
	defer srv.Close()
	media := &pluggableMedia{}
	media.noMic.Store(true)
	a := stillSide(t, "a", "ws://"+srv.Addr()+"/ws", "lab", dir, func(c *engine.Config) { c.Media = media })
	if !a.eng.State().NoMicrophone {
		t.Fatal("the missing microphone is not in the state")
	}
	a.eng.Join("Ann")
	waitFor(t, a, "joined", func(s participant.State) bool { return s.Phase == participant.PhaseWaiting })
	reported := func(want string) func() bool {
		return func() bool {
			ps, _ := srv.Hub().Participants(a.eng.State().Session)
			return len(ps) == 1 && ps[0].Devices != nil && ps[0].Devices.Microphone == want
		}
	}
	eventually(t, "the microphone reported missing", reported(protocol.DeviceMissing))
	a.eng.RetryDevices()
	if media.retries.Load() != 1 {
		t.Fatal("Try again did not reach the media")
	}
	media.noMic.Store(false)
	waitFor(t, a, "the microphone found", func(s participant.State) bool { return !s.NoMicrophone })
	eventually(t, "the microphone reported working", reported(protocol.DeviceOK))
	media.noMic.Store(true) // it fails mid-way
	waitFor(t, a, "the microphone lost", func(s participant.State) bool { return s.NoMicrophone })
	eventually(t, "the microphone reported missing again", reported(protocol.DeviceMissing))
}

// TestUnreachableNoticeRunsOnTheEnginesClock: the "server cannot be
// reached" notice falls due on the injected clock, not the wall clock's.
func TestUnreachableNoticeRunsOnTheEnginesClock(t *testing.T) {
	leakCheck(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there
	fake := clock.NewFake()
	const after = time.Hour // far beyond the test's own time: only the fake clock gets there
	a := stillSide(t, "a", "ws://"+addr+"/ws", "lab", t.TempDir(), func(c *engine.Config) { c.Clock, c.UnreachableAfter = fake, after })
	a.eng.Join("Ann")
	fake.Advance(after - time.Second)
	if a.eng.State().ServerUnreachable {
		t.Fatal("the server said unreachable before its time on the engine's clock")
	}
	fake.Advance(time.Second)
	if st := a.eng.State(); !st.ServerUnreachable || st.Phase != participant.PhaseConnecting {
		t.Fatalf("after %v on the engine's clock: unreachable %v, phase %v", after, st.ServerUnreachable, st.Phase)
	}
}

// TestCallSetUpTimesOutOnTheEnginesClock: a call that never connects is
// given up, and made afresh by the offerer, when its set-up time has passed on the
// injected clock, not the wall clock's.
func TestCallSetUpTimesOutOnTheEnginesClock(t *testing.T) {
	leakCheck(t)
	dir := t.TempDir()
	srv := startServer(t, filepath.Join(dir, "srv"), "127.0.0.1:0", 60)
	defer srv.Close()
	url := "ws://" + srv.Addr() + "/ws"
	fake := clock.NewFake()
	const limit = time.Hour // only the fake clock gets there
	var dials atomic.Int64
	mod := func(c *engine.Config) {
		c.AutoReady, c.Clock, c.Now, c.CallSetupTimeout = true, fake, time.Now, limit
		c.Dial = func(p engine.CallParams) (engine.Call, error) { dials.Add(1); return noCall(p) }
	}
	a := stillSide(t, "a", url, "lab", dir, mod)
	b := stillSide(t, "b", url, "lab", dir, mod)
	a.eng.Join("Ann")
	b.eng.Join("Ben")
	eventually(t, "a call dialled on each side", func() bool { return dials.Load() == 2 })
	fake.Advance(limit - time.Second)
	if n := dials.Load(); n != 2 {
		t.Fatalf("%d calls dialled before the set-up limit on the engine's clock, want 2", n)
	}
	fake.Advance(time.Second)
	// The offerer dials afresh; the answerer waits for the new offer
	// (which this dialer's calls never send).
	eventually(t, "the offerer's fresh call after the limit", func() bool { return dials.Load() == 3 })
}

// TestRemovedParticipantIsToldSoAndThePartnerThatTheExperimenterEndedIt:
// the experimenter removes A mid-discussion; A's kiosk says its
// participation was ended, B's that the experimenter ended the discussion.
func TestRemovedParticipantIsToldSoAndThePartnerThatTheExperimenterEndedIt(t *testing.T) {
	leakCheck(t)
	dir := t.TempDir()
	srv := startServer(t, filepath.Join(dir, "srv"), "127.0.0.1:0", 60)
	defer srv.Close()
	url := "ws://" + srv.Addr() + "/ws"
	auto := func(c *engine.Config) { c.AutoReady = true }
	a, b := pairedPair(t, stillSides(t, url, dir, auto))
	if _, err := srv.Hub().RemoveParticipant(a.eng.State().Session, "a"); err != nil {
		t.Fatal(err)
	}
	for s, want := range map[*side]string{a: protocol.EndRemoved, b: protocol.EndExperimenter} {
		waitFor(t, s, "the end", func(st participant.State) bool { return st.Phase == participant.PhaseEnded })
		if got := s.eng.State().EndReason; got != want {
			t.Errorf("%s: end reason %q, want %q", s.name, got, want)
		}
	}
}
