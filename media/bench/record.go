package bench

// record.go: what recording costs one participant: CPU (a share of one
// core per second of discussion) and disk (MB per minute), at the kiosk's
// default picture size and bitrates. The frames are encoded first; only the
// recording (the tap's copy, the queue, the clusters, the writes and their
// fsyncs) is measured.

import (
	"fmt"
	"image"
	"os"
	"path/filepath"
	"time"

	"github.com/hraban/opus"

	"github.com/parley-lab/parley/media/internal/vp8"
	"github.com/parley-lab/parley/media/kit"
	"github.com/parley-lab/parley/media/record"
	"github.com/parley-lab/parley/media/testsrc"
)

// Recording benchmark sizes.
const (
	// recordClip is how much of the test call is encoded and then recorded
	// again and again.
	recordClip = 10 * time.Second
	// recordSpeed is how much faster than real time the media are fed:
	// quick, and still far below what fills the writer's queue.
	recordSpeed = 10
)

// RecordResult is what recording one participant costs.
type RecordResult struct {
	MediaSeconds float64 `json:"media_s"`
	// CPUShare is CPU seconds per second of media: the share of one core.
	CPUShare    float64 `json:"cpu_share_of_core"`
	MBPerMinute float64 `json:"mb_per_minute"`
	// AudioMBPerMinute is the Opus alone (an audio-only session's
	// recording, without the container's few bytes per packet).
	AudioMBPerMinute float64 `json:"audio_mb_per_minute"`
	Width            int     `json:"width"`
	Height           int     `json:"height"`
	VideoKbps        int     `json:"video_kbps"`
	Frames           int     `json:"frames"`
	Packets          int     `json:"packets"`
}

type clipFrame struct {
	at   time.Duration
	data []byte
}

// Record records d of the test call (the kiosk's default 640x480 at 30 fps,
// VP8 at its default bitrate, 20 ms Opus) into a segment in dir.
func Record(dir string, d time.Duration) (RecordResult, error) {
	w, h, fps := kit.DefaultWidth, kit.DefaultHeight, kit.DefaultFPS
	video, audio, err := encodeClip(w, h, fps)
	if err != nil {
		return RecordResult{}, err
	}
	path := filepath.Join(dir, "bench-segment.webm")
	os.Remove(path)
	defer os.Remove(path)
	start := time.Now()
	seg, err := record.Create(path, record.Tracks{Video: true, Width: w, Height: h, Audio: true}, start)
	if err != nil {
		return RecordResult{}, err
	}
	cpu0, wall0 := CPUSeconds(), time.Now()
	buf := make([]byte, 0, 64<<10) // the kit hands over its own reused buffer
	for loop := time.Duration(0); loop < d; loop += recordClip {
		vi, ai := 0, 0
		for vi < len(video) || ai < len(audio) {
			var f clipFrame
			isVideo := ai >= len(audio) || (vi < len(video) && video[vi].at <= audio[ai].at)
			if isVideo {
				f, vi = video[vi], vi+1
			} else {
				f, ai = audio[ai], ai+1
			}
			at := loop + f.at
			if at >= d {
				continue
			}
			if ahead := at/recordSpeed - time.Since(wall0); ahead > 0 {
				time.Sleep(ahead)
			}
			buf = append(buf[:0], f.data...)
			if isVideo {
				seg.Video(buf, start.Add(at))
			} else {
				seg.Audio(buf, start.Add(at))
			}
		}
	}
	sum, err := seg.Close(start.Add(d))
	cpu := CPUSeconds() - cpu0
	if err != nil {
		return RecordResult{}, fmt.Errorf("recording benchmark: %w", err)
	}
	var opusBytes int
	for _, f := range audio {
		opusBytes += len(f.data)
	}
	return RecordResult{MediaSeconds: d.Seconds(), CPUShare: cpu / d.Seconds(), MBPerMinute: float64(sum.Bytes) / 1e6 / d.Minutes(),
		AudioMBPerMinute: float64(opusBytes) / 1e6 / recordClip.Minutes(),
		Width:            w, Height: h, VideoKbps: kit.DefaultVideoBitrate / 1000, Frames: sum.VideoFrames, Packets: sum.AudioPackets}, nil
}

// encodeClip encodes recordClip of the test picture and tone.
func encodeClip(w, h, fps int) (video, audio []clipFrame, err error) {
	pic, err := testsrc.NewVideo(w, h, fps)
	if err != nil {
		return nil, nil, err
	}
	enc, err := vp8.New(vp8.Settings{Width: w, Height: h, FPS: fps, Bitrate: kit.DefaultVideoBitrate, KeyframeInterval: kit.KeyframeInterval})
	if err != nil {
		return nil, nil, err
	}
	defer enc.Close()
	oe, err := opus.NewEncoder(48000, 1, opus.AppVoIP)
	if err != nil {
		return nil, nil, err
	}
	img := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
	base := time.Now()
	for i := 0; time.Duration(i)*time.Second/time.Duration(fps) < recordClip; i++ {
		at := time.Duration(i) * time.Second / time.Duration(fps)
		pic.Render(img, uint32(i), base.Add(at))
		data, _, err := enc.Encode(img, base.Add(at), false)
		if err != nil {
			return nil, nil, err
		}
		video = append(video, clipFrame{at: at, data: append([]byte(nil), data...)})
	}
	tone := testsrc.NewTone(440, 48000)
	pcm, pkt := make([]int16, 960), make([]byte, 1500)
	for at := time.Duration(0); at < recordClip; at += 20 * time.Millisecond {
		tone.Fill(pcm)
		n, err := oe.Encode(pcm, pkt)
		if err != nil {
			return nil, nil, err
		}
		audio = append(audio, clipFrame{at: at, data: append([]byte(nil), pkt[:n]...)})
	}
	return video, audio, nil
}
