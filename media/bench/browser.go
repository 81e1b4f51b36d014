package bench

import (
	"bufio"
	"context"
	_ "embed"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"github.com/parley-lab/parley/media/bench/onset"
	"github.com/parley-lab/parley/media/kit"
	"github.com/parley-lab/parley/media/testsrc"
)

//go:embed browser.html
var browserPage []byte

// Browser run limits.
const (
	// y4mFrames is the length of the video Chromium's fake camera loops.
	y4mFrames = 90
	y4mFPS    = 30
	// The fake microphone's file: it loops, so a few bursts are enough.
	wavRate   = 48000
	wavLength = 2 * time.Second
	// browserLimit bounds a whole browser run.
	browserLimit = 5 * time.Minute
)

// ErrNoBrowser is returned when no Chromium is installed.
var ErrNoBrowser = errors.New("no Chromium found (Debian: apt-get install chromium)")

// BrowserResult is the same call held by two peer connections in one
// headless Chromium page, fed with the same stamped test video and the same
// tone bursts.
type BrowserResult struct {
	Setup map[string]Dist `json:"setup"`
	Video Dist            `json:"video_capture_to_display"`
	// Audio is from a burst's onset in the microphone's track to its onset
	// in the received track, both as the page's Web Audio graph hears them.
	Audio  Dist    `json:"audio_capture_to_playout"`
	CPU    float64 `json:"cpu_cores"` // all Chromium processes, during the latency run
	TwoWay bool    `json:"two_way"`
	// Received is what each receiving peer connection decoded at the end.
	Received  []BrowserStream `json:"received"`
	UserAgent string          `json:"user_agent"`
}

// BrowserStream is one received video as Chromium's getStats reports it.
type BrowserStream struct {
	Width   int     `json:"width"`
	Height  int     `json:"height"`
	FPS     float64 `json:"fps"`
	Decoded int64   `json:"decoded"`
}

// FindChromium returns the path of Debian's Chromium, or ErrNoBrowser.
func FindChromium() (string, error) {
	for _, p := range []string{"/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", ErrNoBrowser
}

// chromiumArgs are the flags of every benchmark Chromium: no sandbox (root
// in CI), no GPU, nothing fetched from outside, its own profile, media
// allowed and played without a gesture.
func chromiumArgs(profile string) []string {
	return []string{"--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--user-data-dir=" + profile, "--use-fake-ui-for-media-stream",
		"--autoplay-policy=no-user-gesture-required"}
}

// WriteY4M writes n frames of the stamped test video as a Y4M file, the
// format Chromium's fake camera plays (it loops the file at its frame rate).
func WriteY4M(path string, w, h, fps, n int) error {
	src, err := testsrc.NewVideo(w, h, fps)
	if err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	fmt.Fprintf(bw, "YUV4MPEG2 W%d H%d F%d:1 Ip A1:1 C420jpeg\n", w, h, fps)
	img := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
	t0 := time.Now()
	for i := range n {
		src.Render(img, uint32(i), t0.Add(time.Duration(i)*time.Second/time.Duration(fps)))
		bw.WriteString("FRAME\n")
		bw.Write(img.Y)
		bw.Write(img.Cb)
		bw.Write(img.Cr)
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// WriteToneWAV writes the test microphone's signal as Chromium's fake
// microphone plays it (a 16-bit mono WAV, looped): the kit's tone at hz in
// bursts of kit.BurstOn every kit.BurstEvery, d long.
func WriteToneWAV(path string, hz float64, rate int, d time.Duration) error {
	n := int(d.Seconds() * float64(rate))
	pcm := make([]int16, n)
	testsrc.NewTone(hz, rate).Fill(pcm)
	period, on := int(kit.BurstEvery.Seconds()*float64(rate)), int(kit.BurstOn.Seconds()*float64(rate))
	for i := range pcm {
		if i%period >= on {
			pcm[i] = 0
		}
	}
	b := make([]byte, 44, 44+2*n)
	copy(b, "RIFF")
	binary.LittleEndian.PutUint32(b[4:], uint32(36+2*n))
	copy(b[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(b[16:], 16)             // fmt chunk size
	binary.LittleEndian.PutUint16(b[20:], 1)              // PCM
	binary.LittleEndian.PutUint16(b[22:], 1)              // mono
	binary.LittleEndian.PutUint32(b[24:], uint32(rate))   // sample rate
	binary.LittleEndian.PutUint32(b[28:], uint32(2*rate)) // byte rate
	binary.LittleEndian.PutUint16(b[32:], 2)              // block align
	binary.LittleEndian.PutUint16(b[34:], 16)             // bits per sample
	copy(b[36:], "data")
	binary.LittleEndian.PutUint32(b[40:], uint32(2*n))
	for _, v := range pcm {
		b = binary.LittleEndian.AppendUint16(b, uint16(v))
	}
	return os.WriteFile(path, b, 0o644)
}

// BrowserOptions says what the page does.
type BrowserOptions struct {
	Calls   int           // call set-ups timed
	Latency time.Duration // length of the latency call
	// Window, if set, runs Chromium in a window of this size on $DISPLAY,
	// drawing the page the way a participant would see it; nil: headless.
	Window *BrowserWindow
	// TwoWay makes both peer connections send the camera, the whole call
	// of two kiosks; otherwise one direction.
	TwoWay bool
}

// BrowserWindow is the size of Chromium's window.
type BrowserWindow struct{ Width, Height int }

// Browser runs the page in Chromium: o.Calls set-ups, then one call of
// o.Latency, measuring the browser's CPU meanwhile.
func Browser(ctx context.Context, chromium string, o BrowserOptions) (BrowserResult, error) {
	calls, d, window := o.Calls, o.Latency, o.Window
	ctx, cancel := context.WithTimeout(ctx, browserLimit)
	defer cancel()
	dir, err := os.MkdirTemp("", "parley-browser-")
	if err != nil {
		return BrowserResult{}, err
	}
	defer os.RemoveAll(dir)
	y4m := filepath.Join(dir, "stamped.y4m")
	if err := WriteY4M(y4m, 640, 480, y4mFPS, y4mFrames); err != nil {
		return BrowserResult{}, err
	}
	wav := filepath.Join(dir, "bursts.wav")
	if err := WriteToneWAV(wav, kit.DefaultToneHz, wavRate, wavLength); err != nil {
		return BrowserResult{}, err
	}
	profile := filepath.Join(dir, "profile")

	var mu sync.Mutex
	cpuAt := map[string]float64{}
	timeAt := map[string]time.Time{}
	result := make(chan json.RawMessage, 1)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(browserPage)
	})
	mux.HandleFunc("POST /mark", func(w http.ResponseWriter, r *http.Request) {
		var m struct{ Name string }
		json.NewDecoder(r.Body).Decode(&m)
		mu.Lock()
		cpuAt[m.Name], timeAt[m.Name] = treeCPU(profile), time.Now()
		mu.Unlock()
	})
	mux.HandleFunc("POST /result", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		select {
		case result <- b:
		default:
		}
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return BrowserResult{}, err
	}
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	defer srv.Close()

	url := fmt.Sprintf("http://%s/?calls=%d&latency_ms=%d&loop_ms=%d&burst_every_ms=%d&onset_level=%g&onset_quiet_ms=%d",
		ln.Addr(), calls, d.Milliseconds(), y4mFrames*1000/y4mFPS, kit.BurstEvery.Milliseconds(), onset.Level, onset.Quiet.Milliseconds())
	if o.TwoWay {
		url += "&twoway=1"
	}
	args := []string{"--headless=new"}
	if window != nil {
		if os.Getenv("DISPLAY") == "" {
			return BrowserResult{}, errors.New("Chromium in a window needs an X display ($DISPLAY is empty)")
		}
		args = []string{"--ozone-platform=x11", "--window-position=0,0",
			fmt.Sprintf("--window-size=%d,%d", window.Width, window.Height)}
	}
	args = append(append(args, chromiumArgs(profile)...), "--use-fake-device-for-media-stream",
		"--use-file-for-fake-video-capture="+y4m, "--use-file-for-fake-audio-capture="+wav,
		"--disable-features=WebRtcHideLocalIpsWithMdns", url)
	cmd := exec.CommandContext(ctx, chromium, args...)
	if err := cmd.Start(); err != nil {
		return BrowserResult{}, fmt.Errorf("start %s: %w", chromium, err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	var raw json.RawMessage
	select {
	case raw = <-result:
	case <-ctx.Done():
		return BrowserResult{}, fmt.Errorf("Chromium sent no result: %w", ctx.Err())
	}
	var page struct {
		Error     string               `json:"error"`
		Setup     map[string][]float64 `json:"setup"`
		Video     []float64            `json:"video"`
		Audio     []float64            `json:"audio"`
		Received  []BrowserStream      `json:"received"`
		UserAgent string               `json:"userAgent"`
	}
	if err := json.Unmarshal(raw, &page); err != nil {
		return BrowserResult{}, err
	}
	if page.Error != "" {
		return BrowserResult{}, fmt.Errorf("in Chromium: %s", page.Error)
	}
	res := BrowserResult{Setup: map[string]Dist{}, UserAgent: page.UserAgent, TwoWay: o.TwoWay, Received: page.Received}
	ms := func(v []float64) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x * float64(time.Millisecond))
		}
		return out
	}
	for k, v := range page.Setup {
		res.Setup[k] = Summarise(ms(v))
	}
	res.Video = Summarise(ms(page.Video))
	res.Audio = Summarise(ms(page.Audio))
	mu.Lock()
	if t0, t1 := timeAt["latency-start"], timeAt["latency-end"]; !t0.IsZero() && t1.After(t0) {
		res.CPU = (cpuAt["latency-end"] - cpuAt["latency-start"]) / t1.Sub(t0).Seconds()
	}
	mu.Unlock()
	return res, nil
}
