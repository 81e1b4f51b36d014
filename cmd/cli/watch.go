package cli

// watch.go: `parley session watch CODE`, the participants table kept up to
// date in the terminal until Ctrl+C.

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// WatchInterval is how often `session watch` asks the server.
const WatchInterval = time.Second

// clearScreen moves a terminal's cursor home and clears it.
const clearScreen = "\x1b[H\x1b[2J"

func watchSession(env Env, c *apiClient, code string, updates int, asJSON bool) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	f, isFile := env.Stdout.(*os.File)
	tty := false
	if isFile {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			tty = true
		}
	}
	var last []byte
	shown := 0
	tick := time.NewTicker(WatchInterval)
	defer tick.Stop()
	for {
		var buf bytes.Buffer
		if err := c.do("GET", "/api/sessions/"+code+"/participants", nil, &buf); err != nil {
			return err
		}
		if !bytes.Equal(buf.Bytes(), last) {
			last = append(last[:0], buf.Bytes()...)
			if tty {
				fmt.Fprint(env.Stdout, clearScreen)
			}
			fmt.Fprintf(env.Stdout, "session %s at %s (Ctrl+C to stop)\n", code, time.Now().Format("15:04:05"))
			if asJSON {
				env.Stdout.Write(buf.Bytes())
			} else {
				if err := printSessionResult(env.Stdout, "participants", buf.Bytes()); err != nil {
					return err
				}
				if err := printAllEnded(env.Stdout, c, code); err != nil {
					return err
				}
			}
			if shown++; updates > 0 && shown >= updates {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}
