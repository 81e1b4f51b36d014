package engine_test

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/parley-lab/parley/media/record/recordtest"
	"github.com/parley-lab/parley/signaling/export"
	"github.com/parley-lab/parley/signaling/participant"
	"github.com/parley-lab/parley/signaling/protocol"
	"github.com/parley-lab/parley/signaling/server"
	"github.com/parley-lab/parley/signaling/store"
	"github.com/parley-lab/parley/signaling/testkit"
)

// startRecordingServer is startServer with the room's sessions recorded.
func startRecordingServer(t *testing.T, dir string, durationS int, mode string) *server.Server {
	t.Helper()
	return startRooms(t, dir, "127.0.0.1:0", server.Room{Name: "lab", AutoSession: true,
		Defaults: server.SessionSettings{DurationS: durationS, Record: mode}})
}

// segmentsOf lists the server's segments of the participant at seat, in order.
func segmentsOf(t *testing.T, srv *server.Server, seat string) []store.Recording {
	t.Helper()
	var out []store.Recording
	sessions, err := srv.Store().Sessions()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sessions {
		ps, err := srv.Store().Participants(s.Code)
		if err != nil {
			t.Fatal(err)
		}
		recs, err := srv.Store().Recordings(s.Code)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ps {
			for _, r := range recs {
				if p.Seat == seat && r.Participant == p.ID {
					out = append(out, r)
				}
			}
		}
	}
	return out
}

// uploaded waits until a side has nothing left to upload.
func uploaded(t *testing.T, s *side) {
	t.Helper()
	waitFor(t, s, "the recording uploaded", func(st participant.State) bool { return st.Uploads == 0 })
}

// A discussion with recording on: each participant's one segment reaches
// the server, its checksum confirmed; it holds VP8 and Opus, lasts the
// discussion (within 0.5 s), and every picture recorded decodes, in order.
// recordedShare is the least share of the kit's sent pictures that its
// recording must hold.
const recordedShare = 0.8

func TestRecordedDiscussion(t *testing.T) {
	recordtest.NeedFFmpeg(t)
	leakCheck(t)
	dir := t.TempDir()
	const discussion = 6
	srv := startRecordingServer(t, filepath.Join(dir, "srv"), discussion, protocol.RecordAudioVideo)
	defer srv.Close()
	url := "ws://" + srv.Addr() + "/ws"
	a, b := joinedPair(t, mediaSides(t, url, dir), "recording", func(st participant.State) bool { return st.Recording })
	defer a.eng.Leave()
	defer b.eng.Leave()
	for _, s := range []*side{a, b} {
		if st := s.eng.State(); st.Consent != protocol.ConsentGiven || st.Record != protocol.RecordAudioVideo {
			t.Fatalf("%s: consent %q, record %q", s.name, st.Consent, st.Record)
		}
	}
	for _, s := range []*side{a, b} {
		waitFor(t, s, "the end", func(st participant.State) bool { return st.Phase == participant.PhaseEnded && !st.Recording })
		uploaded(t, s)
	}
	for _, s := range []*side{a, b} {
		segs := segmentsOf(t, srv, s.name)
		if len(segs) != 1 {
			t.Fatalf("%s: %d segments on the server, want 1", s.name, len(segs))
		}
		seg := segs[0]
		if seg.CompleteMS == 0 || !seg.Final || seg.Dropped != 0 || seg.EndReason != protocol.SegmentCallEnded {
			t.Fatalf("%s: segment %+v", s.name, seg)
		}
		path := filepath.Join(dir, "srv", seg.Path)
		p := recordtest.Probe(t, path)
		if c := p.Codecs(); c["video"] != "vp8" || c["audio"] != "opus" {
			t.Fatalf("%s: codecs %v", s.name, c)
		}
		if d := p.Duration(); (d - discussion*time.Second).Abs() > 500*time.Millisecond {
			t.Fatalf("%s: the segment plays %v, the discussion lasted %d s", s.name, d, discussion)
		}
		pics, complaints := recordtest.Pictures(t, path, 640, 480)
		if complaints != "" || len(pics) != seg.VideoFrames {
			t.Fatalf("%s: %d pictures decode, %d were recorded (%s)", s.name, len(pics), seg.VideoFrames, complaints)
		}
		// In order, and where their capture puts them on the server's
		// clock (the kiosks and the server share this machine's clock): the
		// lab lines the two speakers up from the segments' start times
		// alone. The median is the alignment; a single picture may sit a
		// little further off, by how late a busy machine let the kit read
		// the clock after the source drew it.
		var errs []time.Duration
		for i, pic := range pics {
			if i > 0 && pic.Frame <= pics[i-1].Frame {
				t.Fatalf("%s: picture %d (stamp %d) after stamp %d", s.name, i, pic.Frame, pics[i-1].Frame)
			}
			if pic.PTS < 0 {
				t.Fatalf("%s: ffprobe gives picture %d no time", s.name, i)
			}
			errs = append(errs, time.UnixMilli(seg.StartMS).Add(pic.PTS).Sub(pic.Captured).Abs())
		}
		slices.Sort(errs)
		median, p95 := errs[len(errs)/2], errs[len(errs)*95/100]
		if median > 20*time.Millisecond {
			t.Fatalf("%s: the pictures sit a median %v from their capture time on the server's clock", s.name, median)
		}
		t.Logf("%s: pictures sit a median %v from their capture on the server's clock (95th percentile %v, most %v)",
			s.name, median, p95, errs[len(errs)-1])
		// Every picture the encoder sent while recording is in the file
		// (the kit's count also holds the call's first moments, before
		// recording started). The frame rate itself depends on how busy
		// the machine is: `parley bench --only record` measures it.
		if sent := s.kit.FramesSent(); len(pics) > int(sent) || float64(len(pics)) < recordedShare*float64(sent) {
			t.Fatalf("%s: %d pictures recorded of the %d the kit sent", s.name, len(pics), sent)
		}
		t.Logf("%s: %d pictures (the kit sent %d), %d packets, %v, %d bytes", s.name, seg.VideoFrames, s.kit.FramesSent(), seg.AudioPkts, p.Duration(), seg.Size)
	}
}

// timeAway is how long the restarted kiosk of TestRejoinGivesTwoSegments
// stays off: the scenario, not a wait for something.
const timeAway = 2 * time.Second

// A kiosk that restarts mid-discussion: its recording has two segments,
// and the gap between them is the time it was away.
func TestRejoinGivesTwoSegments(t *testing.T) {
	recordtest.NeedFFmpeg(t)
	leakCheck(t)
	dir := t.TempDir()
	srv := startRecordingServer(t, filepath.Join(dir, "srv"), 600, protocol.RecordAudioVideo)
	defer srv.Close()
	url := "ws://" + srv.Addr() + "/ws"
	a, b := joinedPair(t, mediaSides(t, url, dir), "recording", func(st participant.State) bool { return st.Recording })
	defer a.eng.Leave()
	testkit.Reaches(t, "a second of video", b.kit.FramesSent, 30)
	away := time.Now()
	b.eng.Close() // the kiosk stops; the token stays
	b.rec.Close()
	time.Sleep(timeAway) // the workstation is off for a while
	again := newSide(t, "b", url, dir, 660, nil)
	defer again.eng.Leave()
	waitFor(t, again, "recording again", func(st participant.State) bool { return st.Recording })
	back := time.Now()
	testkit.Reaches(t, "a second of video again", again.kit.FramesSent, 30)
	if _, err := srv.Hub().EndSession(again.eng.State().Session); err != nil {
		t.Fatal(err)
	}
	waitFor(t, again, "the end", func(st participant.State) bool { return st.Phase == participant.PhaseEnded && !st.Recording })
	uploaded(t, again)
	segs := segmentsOf(t, srv, "b")
	if len(segs) != 2 || segs[0].Seq != 1 || segs[1].Seq != 2 {
		t.Fatalf("%d segments after a rejoin, want 2: %+v", len(segs), segs)
	}
	if segs[0].EndReason != protocol.SegmentShutdown || !segs[1].Final {
		t.Fatalf("segments end %q then %q (final %v)", segs[0].EndReason, segs[1].EndReason, segs[1].Final)
	}
	gap := time.Duration(segs[1].StartMS-segs[0].EndMS) * time.Millisecond
	want := back.Sub(away)
	t.Logf("away %v (from the close to the new segment seen), gap between the segments %v", want, gap)
	if gap <= 0 || (gap-want).Abs() > 500*time.Millisecond {
		t.Fatalf("the gap between the segments is %v, the kiosk was away %v", gap, want)
	}
	// The recordings export says the same, and where each segment sits on
	// the discussion's clock.
	var out bytes.Buffer
	if err := export.Write(&out, srv.Store(), export.Options{Format: export.JSONL, Kind: export.Recordings}); err != nil {
		t.Fatal(err)
	}
	var rows []export.RecordingRow
	for _, line := range bytes.Split(bytes.TrimSpace(out.Bytes()), []byte("\n")) {
		var r export.RecordingRow
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatal(err)
		}
		if r.Seat == "b" {
			rows = append(rows, r)
		}
	}
	if len(rows) != 2 || rows[0].GapBeforeS != nil || rows[1].GapBeforeS == nil || rows[0].OffsetS == nil {
		t.Fatalf("export rows %+v", rows)
	}
	if g := time.Duration(*rows[1].GapBeforeS * float64(time.Second)); (g - gap).Abs() > time.Millisecond {
		t.Fatalf("the export's gap %v, the segments' %v", g, gap)
	}
	if off := time.Duration(*rows[1].OffsetS*float64(time.Second)) - time.Duration(*rows[0].OffsetS*float64(time.Second)); (off - time.Duration(segs[1].StartMS-segs[0].StartMS)*time.Millisecond).Abs() > time.Millisecond {
		t.Fatalf("offsets on the discussion clock %v and %v", *rows[0].OffsetS, *rows[1].OffsetS)
	}
}

// A participant who declines is not paired and records nothing; the next
// one who consents is paired with the one waiting.
func TestDeclinedConsentIsNotPairedNorRecorded(t *testing.T) {
	leakCheck(t)
	dir := t.TempDir()
	srv := startRecordingServer(t, filepath.Join(dir, "srv"), 600, protocol.RecordAudio)
	defer srv.Close()
	url := "ws://" + srv.Addr() + "/ws"
	a := openSide(t, "a", url, dir, 440, nil, false) // a person: asked
	defer a.eng.Leave()
	b := newSide(t, "b", url, dir, 660, nil)
	defer b.eng.Leave()
	b.eng.Join("Ben") // consents by itself (a test participant)
	waitFor(t, b, "waiting", func(st participant.State) bool { return st.Phase == participant.PhaseWaiting })
	a.eng.Join("Ann")
	waitFor(t, a, "asked", func(st participant.State) bool {
		return st.Phase == participant.PhaseWaiting && st.Record == protocol.RecordAudio
	})
	if st := a.eng.State(); st.Consent != "" {
		t.Fatalf("a person's consent is %q before they answered", st.Consent)
	}
	a.eng.Consent(false, "en")
	eventually(t, "the refusal stored", func() bool {
		ps, _ := srv.Hub().Participants(a.eng.State().Session)
		for _, p := range ps {
			if p.Seat == "a" {
				return p.Consent == protocol.ConsentDeclined
			}
		}
		return false
	})
	c := newSide(t, "c", url, dir, 880, nil)
	defer c.eng.Leave()
	c.eng.Join("Cem")
	for _, s := range []*side{b, c} {
		waitFor(t, s, "recording", func(st participant.State) bool { return st.Recording })
	}
	if st := a.eng.State(); st.Phase != participant.PhaseWaiting || st.Consent != protocol.ConsentDeclined || st.Recording || len(st.Partners) != 0 {
		t.Fatalf("the participant who declined: phase %v, consent %q, recording %v, partners %v", st.Phase, st.Consent, st.Recording, st.Partners)
	}
	if st := b.eng.State(); len(st.Partners) != 1 || st.Partners[0] != "Cem" {
		t.Fatalf("b paired with %v, want Cem", st.Partners)
	}
	if n := a.rec.Pending(); n != 0 {
		t.Fatalf("the participant who declined has %d segments", n)
	}
	if segs := segmentsOf(t, srv, "a"); len(segs) != 0 {
		t.Fatalf("the server has %d segments of the participant who declined", len(segs))
	}
}
