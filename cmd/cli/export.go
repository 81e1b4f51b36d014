package cli

// export.go: `parley export`: chat messages, events or recordings of the
// server's data directory as CSV or JSON Lines, written whole or not at all.

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/parley-lab/parley/signaling/export"
	"github.com/parley-lab/parley/signaling/store"
)

func init() {
	Register("export", "write chat messages or events as CSV or JSON Lines", runExport)
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
