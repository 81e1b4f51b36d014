package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	neturl "net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/parley-lab/parley/signaling/export"
	"github.com/parley-lab/parley/signaling/server"
	"github.com/parley-lab/parley/signaling/store"
)

// apiTimeout bounds one experimenter API call from the CLI.
const apiTimeout = 15 * time.Second

// Environment variables for the tool commands.
const (
	EnvURL        = "PARLEY_URL"
	EnvAdminToken = "PARLEY_ADMIN_TOKEN"
)

func init() {
	Register("session", "create, list, start and end sessions; list participants; post as the experimenter", runSession)
	Register("export", "write chat messages or events as CSV or JSON Lines", runExport)
	Register("config", "check configuration files: parley config check [--server FILE] [--kiosk FILE]", runConfig)
}

type apiClient struct {
	base, token string
	http        *http.Client
}

func apiFlags(fs *flag.FlagSet) (url, token, data *string) {
	url = fs.String("url", "http://127.0.0.1"+server.DefaultListen, "server URL (or $"+EnvURL+")")
	token = fs.String("token", "", "admin token (or $"+EnvAdminToken+", or read from --data)")
	data = fs.String("data", DefaultDataDir, "server data directory holding admin.token")
	return
}

func newAPIClient(env Env, fs *flag.FlagSet, url, token, data string) (*apiClient, error) {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if v := env.Getenv(EnvURL); v != "" && !set["url"] {
		url = v
	}
	if token == "" {
		token = env.Getenv(EnvAdminToken)
	}
	if token == "" {
		b, err := os.ReadFile(filepath.Join(data, server.AdminTokenFile))
		if err != nil {
			return nil, fmt.Errorf("no admin token: pass --token, set $%s, or point --data at the server's data directory (%v)", EnvAdminToken, err)
		}
		token = strings.TrimSpace(string(b))
	}
	return &apiClient{base: strings.TrimRight(url, "/"), token: token, http: &http.Client{Timeout: apiTimeout}}, nil
}

func (c *apiClient) do(method, path string, body any, out io.Writer) error {
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, r)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("server at %s: %w", c.base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e struct{ Error string }
		b, _ := io.ReadAll(resp.Body)
		json.Unmarshal(b, &e)
		if e.Error == "" {
			e.Error = strings.TrimSpace(string(b))
		}
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, e.Error)
	}
	_, err = io.Copy(out, resp.Body)
	return err
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

// parseInterspersed parses flags wherever they stand among the positional
// arguments, and returns the positionals. A negative number ("-30": less
// time) is an argument, not a flag; so is, from the textFrom'th positional
// on (0: never), any word starting with "-" that names no flag of fs (a
// message "-- see above"). After "--" everything is an argument.
func parseInterspersed(fs *flag.FlagSet, args []string, textFrom int) ([]string, error) {
	var pos []string
	for len(args) > 0 {
		a := args[0]
		switch {
		case a == "--":
			return append(pos, args[1:]...), nil
		case !strings.HasPrefix(a, "-") || a == "-" || isNegativeNumber(a) ||
			textFrom > 0 && len(pos) >= textFrom && !namesFlag(fs, a):
			pos = append(pos, a)
			args = args[1:]
			continue
		}
		// One flag (with its value, if it takes one) at a time: what follows
		// it may be an argument that starts with "-".
		n := 1
		if name, _, hasValue := flagParts(a); !hasValue {
			if f := fs.Lookup(name); f != nil && !isBoolFlag(f) && len(args) > 1 {
				n = 2
			}
		}
		if err := fs.Parse(args[:n]); err != nil {
			return nil, err
		}
		args = args[n:]
	}
	return pos, nil
}

// flagParts splits "-name", "--name" or "-name=value".
func flagParts(a string) (name, value string, hasValue bool) {
	name = strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
	name, value, hasValue = strings.Cut(name, "=")
	return name, value, hasValue
}

// namesFlag reports whether a is a flag of fs (or asks for help).
func namesFlag(fs *flag.FlagSet, a string) bool {
	name, _, _ := flagParts(a)
	return fs.Lookup(name) != nil || name == "h" || name == "help"
}

func isBoolFlag(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// isNegativeNumber reports whether a is a number below zero such as -30
// or -1.5.
func isNegativeNumber(a string) bool {
	if len(a) < 2 || a[0] != '-' || (a[1] < '0' || a[1] > '9') && a[1] != '.' {
		return false
	}
	_, err := strconv.ParseFloat(a, 64)
	return err == nil
}

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
		code, aerr := arg(0, "a session code, a channel and a message")
		if aerr != nil {
			return aerr
		}
		ch, aerr := arg(1, "a channel (experimenter, session, group:N or a named channel)")
		if aerr != nil {
			return aerr
		}
		if _, aerr := arg(postTextArg, "the message text"); aerr != nil {
			return aerr
		}
		// The words of an unquoted message, as typed.
		body := strings.Join(pos[postTextArg:], " ")
		err = c.do("POST", "/api/sessions/"+code+"/channels/"+neturl.PathEscape(ch)+"/messages", map[string]string{"body": body}, &buf)
	case "end-group", "pause", "resume", "time":
		code, aerr := arg(0, "a session code and a group number")
		if aerr != nil {
			return aerr
		}
		group, aerr := arg(1, "a group number (as participants shows)")
		if aerr != nil {
			return aerr
		}
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
		code, aerr := arg(0, "a session code and a seat")
		if aerr != nil {
			return aerr
		}
		who, aerr := arg(1, "a seat (or participant code)")
		if aerr != nil {
			return aerr
		}
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

// allGroupsEnded is what show, participants and watch say when every
// group's discussion is over but the session is still open.
func allGroupsEnded(s server.SessionView) string {
	if !s.AllGroupsEnded || s.State == store.SessionEnded {
		return ""
	}
	return fmt.Sprintf("all %s have ended; the session is still %s (parley session end %s closes it)", plural(s.Groups, "group"), s.State, s.Code)
}

// printAllEnded says so under the participants table when every group
// of session code has ended.
func printAllEnded(w io.Writer, c *apiClient, code string) error {
	var buf bytes.Buffer
	if err := c.do("GET", "/api/sessions/"+code, nil, &buf); err != nil {
		return err
	}
	var s server.SessionView
	if err := json.Unmarshal(buf.Bytes(), &s); err != nil {
		return err
	}
	if note := allGroupsEnded(s); note != "" {
		fmt.Fprintln(w, note)
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

func printSessionResult(w io.Writer, sub string, data []byte) error {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	defer tw.Flush()
	switch sub {
	case "list":
		var ss []server.SessionView
		if err := json.Unmarshal(data, &ss); err != nil {
			return err
		}
		fmt.Fprintln(tw, "CODE\tROOM\tSTATE\tDURATION\tMATCHING\tPARTICIPANTS\tCONNECTED\tGROUPS\tCREATED")
		for _, s := range ss {
			state := s.State
			if s.AllGroupsEnded && s.State != "ended" {
				state += " (all groups ended)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%ds\t%s\t%d\t%d\t%d\t%s\n", s.Code, s.Room, state, s.Settings.DurationS, s.Settings.Matching,
				s.Participants, s.Connected, s.Groups, s.CreatedAt.Local().Format("2006-01-02 15:04"))
		}
	case "participants":
		var ps []server.ParticipantView
		if err := json.Unmarshal(data, &ps); err != nil {
			return err
		}
		fmt.Fprintln(tw, "#\tCODE\tSEAT\tPSEUDONYM\tCONNECTED\tSTATE\tGROUP\tTIME LEFT\tCONSENT\tRECORDING")
		for _, p := range ps {
			left := ""
			if p.TimeLeftS != nil {
				left = fmt.Sprintf("%.0fs", *p.TimeLeftS)
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%v\t%s\t%d\t%s\t%s\t%s\n", p.IDInSession, p.Code, p.Seat, p.Pseudonym, p.Connected, p.State, p.Group, left,
				consentCell(p), recordingCell(p.Recording))
		}
	case "post":
		var m server.APIMessage
		if err := json.Unmarshal(data, &m); err != nil {
			return err
		}
		fmt.Fprintf(tw, "posted %s to %s (seq %d)\n", m.ID, m.Channel, m.Seq)
	case "end-group", "pause", "resume", "pair", "time":
		var gs []server.GroupView
		if sub == "time" {
			if err := json.Unmarshal(data, &gs); err != nil {
				return err
			}
		} else {
			var g server.GroupView
			if err := json.Unmarshal(data, &g); err != nil {
				return err
			}
			gs = []server.GroupView{g}
		}
		if len(gs) == 0 {
			fmt.Fprintln(tw, "no discussion is running: nothing was changed")
		}
		for _, g := range gs {
			left := ""
			if g.TimeLeftS != nil {
				left = fmt.Sprintf(", %.0fs left", *g.TimeLeftS)
			}
			fmt.Fprintf(tw, "group %d (%s): %s%s\n", g.Num, strings.Join(g.Seats, ", "), g.State, left)
		}
	case "remove":
		var p server.ParticipantView
		if err := json.Unmarshal(data, &p); err != nil {
			return err
		}
		fmt.Fprintf(tw, "%s (%s) removed\n", p.Seat, p.Code)
	case "start":
		var sv server.StartView
		if err := json.Unmarshal(data, &sv); err != nil {
			return err
		}
		fmt.Fprintf(tw, "session %s started: %s formed now, %d left without a group\n", sv.Code, plural(len(sv.Paired), "group"), len(sv.LeftOver))
		for i, seats := range sv.Paired {
			fmt.Fprintf(tw, "  paired %d: %s\n", i+1, strings.Join(seats, ", "))
		}
		if len(sv.LeftOver) > 0 {
			fmt.Fprintf(tw, "  left over: %s\n", strings.Join(sv.LeftOver, ", "))
		}
	default:
		var s server.SessionView
		if err := json.Unmarshal(data, &s); err != nil {
			return err
		}
		fmt.Fprintf(tw, "session %s in room %s: %s (duration %ds, matching %s, record %s, %d participants)\n", s.Code, s.Room, s.State, s.Settings.DurationS, s.Settings.Matching, s.Settings.Record, s.Participants)
		if note := allGroupsEnded(s); note != "" {
			fmt.Fprintln(tw, note)
		}
	}
	return nil
}

// plural is "1 group", "2 groups".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// consentCell is a participant's consent as the table shows it: given,
// declined, or — (not answered, or the session records nothing).
func consentCell(p server.ParticipantView) string {
	if p.Consent == "" {
		return "—"
	}
	return p.Consent
}

// recordingCell is a participant's recording: whether a segment is being
// recorded, and segments uploaded of those declared.
func recordingCell(r *server.RecordingView) string {
	if r == nil {
		return "—"
	}
	now := "not recording"
	if r.Recording {
		now = "recording"
	}
	return fmt.Sprintf("%s, %d/%d uploaded", now, r.Uploaded, r.Declared)
}

func runExport(env Env, args []string) error {
	fs := flag.NewFlagSet("parley export", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	data := fs.String("data", DefaultDataDir, "server data directory")
	session := fs.String("session", "", "session code (default: all sessions)")
	format := fs.String("format", export.CSV, "csv or jsonl")
	kind := fs.String("kind", export.Messages, "messages, events or recordings (one row per recorded segment)")
	out := fs.String("out", "", "output file (default: standard output)")
	excel := fs.Bool("excel", false, "CSV for a spreadsheet: UTF-8 with a byte order mark, formula-like cells made inert with a leading '")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *format != export.CSV && *format != export.JSONL {
		return fmt.Errorf("%w: --format %q: use csv or jsonl", ErrUsage, *format)
	}
	if !export.ValidKind(*kind) {
		return fmt.Errorf("%w: --kind %q: use messages, events or recordings", ErrUsage, *kind)
	}
	st, err := store.OpenReadOnly(*data)
	if err != nil {
		return err
	}
	defer st.Close()
	w := env.Stdout
	var f *os.File
	if *out != "" {
		// Written next to the target and renamed, so a failed export never
		// leaves a truncated file where a good one was.
		f, err = os.CreateTemp(filepath.Dir(*out), ".parley-export-*")
		if err != nil {
			return err
		}
		defer os.Remove(f.Name())
		w = f
	}
	if *excel && *format != export.CSV {
		return fmt.Errorf("%w: --excel needs --format csv", ErrUsage)
	}
	if err := export.Write(w, st, export.Options{Session: *session, Format: *format, Kind: *kind, Excel: *excel}); err != nil {
		if f != nil {
			f.Close()
		}
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("session %q is not in %s", *session, *data)
		}
		return err
	}
	if f != nil {
		if err := f.Close(); err != nil {
			return err
		}
		return os.Rename(f.Name(), *out)
	}
	return nil
}
