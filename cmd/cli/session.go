package cli

// session.go: `parley session`: the experimenter's commands (create, start,
// end, post, the controls, pair, watch), each one call of the server's API.

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	neturl "net/url"
	"os"
	"strconv"
	"strings"

	"github.com/parley-lab/parley/signaling/server"
)

func init() {
	Register("session", "create, list, start and end sessions; list participants; post as the experimenter", runSession)
}

// postTextArg is the position of post's message among its arguments
// (CODE CHANNEL TEXT...).
const postTextArg = 2

// sessionUsage is `parley session`'s help.
const sessionUsage = `usage: parley session COMMAND [ARGS] [FLAGS]   (flags may come before or after the arguments)
  create [--room R] [--duration S] [--matching arrival|random|fixed] [--record off|audio|audio_video] [--settings FILE]
  list
  show CODE
  start CODE          random matching pairs those present now; prints who was paired and who was left
  end CODE
  participants CODE
  post CODE CHANNEL TEXT   CHANNEL: experimenter, session, group:N (N as participants shows), private:SEAT or a named channel;
                           TEXT may start with "-" (after "--" nothing is a flag)
  end-group CODE N         end one group's discussion now
  time CODE N|all SECONDS  more time (negative, as -30: less) for group N or every running group
  pause CODE N, resume CODE N
  remove CODE SEAT         the participant's kiosk goes to the end screen; their group's discussion ends
  pair CODE SEAT SEAT...   pair waiting participants by hand
  watch CODE [--updates N] a live table of the participants until Ctrl+C (or N tables)
every command takes --url, --token, --data and --json; see parley session COMMAND --help`

func runSession(env Env, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: %s", ErrUsage, sessionUsage)
	}
	sub := args[0]
	switch sub {
	case "-h", "-help", "--help", "help":
		fmt.Fprintln(env.Stdout, sessionUsage)
		return nil
	case "list", "create", "show", "start", "end", "participants", "post", "end-group", "time", "pause", "resume", "remove", "pair", "watch":
	default:
		return fmt.Errorf("%w: unknown session command %q\n%s", ErrUsage, sub, sessionUsage)
	}
	fs := flag.NewFlagSet("parley session "+sub, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	url, token, data := apiFlags(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	// Flags of create only: the others do not show them in their help.
	var room, settingsFile, matching, record *string
	var duration, updates *int
	if sub == "watch" {
		updates = fs.Int("updates", 0, "stop after this many tables (0: until Ctrl+C)")
	}
	if sub == "create" {
		room = fs.String("room", server.DefaultRoom, "room")
		settingsFile = fs.String("settings", "", "session settings as a JSON or TOML file")
		duration = fs.Int("duration", 0, "discussion duration in seconds (default from the room)")
		matching = fs.String("matching", "", "arrival, random or fixed")
		record = fs.String("record", "", "off, audio or audio_video: each kiosk records what it sends, after asking for consent (default from the room)")
	}
	textFrom := 0
	if sub == "post" {
		textFrom = postTextArg // the message may start with "-"
	}
	pos, err := parseInterspersed(fs, args[1:], textFrom)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil // the flag set printed the help, no token needed
		}
		return err
	}
	c, err := newAPIClient(env, fs, *url, *token, *data)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	arg := func(i int, name string) (string, error) {
		if len(pos) <= i {
			return "", fmt.Errorf("%w: parley session %s needs %s", ErrUsage, sub, name)
		}
		return pos[i], nil
	}
	// need returns the first len(names) arguments, or says which is missing.
	need := func(names ...string) ([]string, error) {
		for i, name := range names {
			if _, err := arg(i, name); err != nil {
				return nil, err
			}
		}
		return pos[:len(names)], nil
	}
	switch sub {
	case "list":
		err = c.do("GET", "/api/sessions", nil, &buf)
	case "create":
		var settings *server.SessionSettings
		if *settingsFile != "" || *duration != 0 || *matching != "" || *record != "" {
			settings = &server.SessionSettings{}
			if *settingsFile != "" {
				if err := readSettings(*settingsFile, settings); err != nil {
					return err
				}
			}
			if *duration != 0 {
				settings.DurationS = *duration
			}
			if *matching != "" {
				settings.Matching = *matching
			}
			if *record != "" {
				settings.Record = *record
			}
		}
		err = c.do("POST", "/api/sessions", map[string]any{"room": *room, "settings": settings}, &buf)
	case "show", "start", "end", "participants":
		code, aerr := arg(0, "a session code")
		if aerr != nil {
			return aerr
		}
		switch sub {
		case "show":
			err = c.do("GET", "/api/sessions/"+code, nil, &buf)
		case "participants":
			err = c.do("GET", "/api/sessions/"+code+"/participants", nil, &buf)
		default:
			err = c.do("POST", "/api/sessions/"+code+"/"+sub, nil, &buf)
		}
	case "post":
		a, aerr := need("a session code, a channel and a message", "a channel (experimenter, session, group:N or a named channel)", "the message text")
		if aerr != nil {
			return aerr
		}
		code, ch := a[0], a[1]
		// The words of an unquoted message, as typed.
		body := strings.Join(pos[postTextArg:], " ")
		err = c.do("POST", "/api/sessions/"+code+"/channels/"+neturl.PathEscape(ch)+"/messages", map[string]string{"body": body}, &buf)
	case "end-group", "pause", "resume", "time":
		a, aerr := need("a session code and a group number", "a group number (as participants shows)")
		if aerr != nil {
			return aerr
		}
		code, group := a[0], a[1]
		path := "/api/sessions/" + code + "/groups/" + neturl.PathEscape(group) + "/"
		switch sub {
		case "end-group":
			err = c.do("POST", path+"end", nil, &buf)
		case "time":
			secs, aerr := arg(2, "the seconds to add (negative: to take away)")
			if aerr != nil {
				return aerr
			}
			delta, perr := strconv.ParseFloat(secs, 64)
			if perr != nil || delta == 0 {
				return fmt.Errorf("%w: %q is not a number of seconds", ErrUsage, secs)
			}
			err = c.do("POST", path+"time", map[string]float64{"delta_s": delta}, &buf)
		default:
			err = c.do("POST", path+sub, nil, &buf)
		}
	case "remove":
		a, aerr := need("a session code and a seat", "a seat (or participant code)")
		if aerr != nil {
			return aerr
		}
		code, who := a[0], a[1]
		err = c.do("POST", "/api/sessions/"+code+"/participants/"+neturl.PathEscape(who)+"/remove", nil, &buf)
	case "watch":
		code, aerr := arg(0, "a session code")
		if aerr != nil {
			return aerr
		}
		return watchSession(env, c, code, *updates, *asJSON)
	case "pair":
		code, aerr := arg(0, "a session code and the seats")
		if aerr != nil {
			return aerr
		}
		if len(pos) < 3 {
			return fmt.Errorf("%w: parley session pair needs a session code and at least two seats", ErrUsage)
		}
		err = c.do("POST", "/api/sessions/"+code+"/pair", map[string][]string{"seats": pos[1:]}, &buf)
	}
	if err != nil {
		return err
	}
	if *asJSON {
		_, err = env.Stdout.Write(buf.Bytes())
		return err
	}
	if err := printSessionResult(env.Stdout, sub, buf.Bytes()); err != nil {
		return err
	}
	if sub == "participants" {
		return printAllEnded(env.Stdout, c, pos[0])
	}
	return nil
}

func readSettings(path string, into *server.SessionSettings) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if strings.HasSuffix(path, ".json") {
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(into); err != nil {
			return fmt.Errorf("%w %s: %v", ErrConfigFile, path, err)
		}
		return nil
	}
	return decodeTOMLStrict(path, b, into)
}
