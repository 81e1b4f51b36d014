package engine

// recording.go: the engine's part in recording: the session's record
// setting and the participant's consent, and a segment for exactly as long
// as a call is connected: a reconnect, a call made afresh or a restart
// starts a new one (media/recording writes and uploads them).

import (
	"github.com/parley-lab/parley/media/recording"
	"github.com/parley-lab/parley/signaling/protocol"
)

// recordsLocked: the session records and this participant agreed.
func (e *Engine) recordsLocked() bool {
	return (e.st.Record == protocol.RecordAudio || e.st.Record == protocol.RecordAudioVideo) && e.st.Consent == protocol.ConsentGiven
}

// callConnectedLocked: a call with a partner is connected.
func (e *Engine) callConnectedLocked() bool {
	for _, ce := range e.calls {
		if ce.state == protocol.CallConnected {
			return true
		}
	}
	return false
}

// syncRecording opens or closes the segment to match the calls; reason and
// final say why a segment that closes now ends. Run outside e.mu (it
// writes files); recMu keeps the calls in order.
func (e *Engine) syncRecording(reason string, final bool) {
	r := e.cfg.Recorder
	if r == nil {
		return
	}
	e.recMu.Lock()
	defer e.recMu.Unlock()
	e.mu.Lock()
	want := e.recordsLocked() && !e.ended && !e.closed && e.callConnectedLocked()
	start := recording.Start{Server: e.cfg.Session.URL, Session: e.st.Session, Participant: e.selfID,
		Group: e.group, Mode: e.st.Record}
	e.mu.Unlock()
	switch {
	case want && !r.Recording():
		// Only a new segment needs the token (for its upload) and the
		// clock offset (for its times): the state file's copy is not
		// taken on every call state.
		start.Token, start.Offset = e.sess.Stored().Token, e.sess.Offset()
		st, err := r.Start(start)
		if err != nil {
			e.log.Error("recording did not start", "err", err)
			break
		}
		e.sess.Send(protocol.TypeRecording, st)
	case !want:
		st, ok, err := r.Stop(start, reason, final)
		if err != nil {
			e.log.Error("recording did not stop cleanly", "err", err)
		}
		if ok {
			e.sess.Send(protocol.TypeRecording, st)
		}
	}
	e.mu.Lock()
	changed := e.st.Recording != r.Recording()
	e.st.Recording = r.Recording()
	e.mu.Unlock()
	if changed {
		e.notify()
	}
}

// welcomeRecordingLocked takes the session's record setting and the stored
// consent from a welcome; test participants consent by themselves. It
// returns what to send after the lock.
func (e *Engine) welcomeRecordingLocked(w *protocol.Welcome) func() {
	e.st.Record = w.Settings.Record
	if w.Consent != "" {
		e.st.Consent = w.Consent // the server's copy is the record
	}
	var sends []func()
	if r := e.cfg.Recorder; r != nil {
		for _, st := range r.Recovered(w.ParticipantID) {
			sends = append(sends, func() { e.sess.Send(protocol.TypeRecording, st) })
		}
		sends = append(sends, r.Upload)
	}
	on := e.st.Record == protocol.RecordAudio || e.st.Record == protocol.RecordAudioVideo
	if on && e.cfg.Recorder == nil {
		e.log.Error("the session records, but this kiosk has nowhere to keep recordings")
	}
	if on && e.st.Consent == "" && e.cfg.AutoConsent {
		e.st.Consent = protocol.ConsentGiven
		sends = append(sends, func() { e.sess.Send(protocol.TypeConsent, protocol.Consent{Given: true, Language: "auto"}) })
	}
	return func() {
		for _, f := range sends {
			f()
		}
	}
}

// uploadsLocked refreshes the count of segments still to upload, and
// reports whether it changed.
func (e *Engine) uploadsLocked() bool {
	if e.cfg.Recorder == nil {
		return false
	}
	n := e.cfg.Recorder.Pending()
	changed := n != e.st.Uploads
	e.st.Uploads = n
	return changed
}
