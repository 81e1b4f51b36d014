// Package cli is the parley command line: it parses flags and config files
// and hands over to the server, the kiosk or a tool command. cmd/parley's
// main sets the Fyne app and the camera driver's rediscovery (NewApp,
// RediscoverCameras), then calls Main.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"sort"
	"strings"
)

// Set at build time with -ldflags "-X github.com/parley-lab/parley/cmd/cli.Version=... -X ...Commit=...".
var (
	Version = "0.1.0-dev"
	Commit  = ""
)

// ErrUsage marks a command-line mistake; Main prints usage and exits 2.
var ErrUsage = errors.New("usage")

// Env is what a command may touch; tests replace it.
type Env struct {
	Stdout, Stderr io.Writer
	Getenv         func(string) string
	// Stdin is where commands that ask (parley kiosk set-pin) read; nil:
	// os.Stdin.
	Stdin io.Reader
}

type command struct {
	summary string
	run     func(env Env, args []string) error
}

// commands are registered by the files that implement them, each in its
// init.
var commands = map[string]command{}

// Register adds a subcommand. It panics on a duplicate name.
func Register(name, summary string, run func(env Env, args []string) error) {
	if _, dup := commands[name]; dup {
		panic("cli: command registered twice: " + name)
	}
	commands[name] = command{summary: summary, run: run}
}

func versionString() string {
	c := Commit
	if c == "" {
		if bi, ok := debug.ReadBuildInfo(); ok {
			for _, s := range bi.Settings {
				if s.Key == "vcs.revision" {
					c = s.Value
				}
			}
		}
	}
	if c == "" {
		c = "unknown"
	}
	return fmt.Sprintf("parley %s (commit %s)", Version, c)
}

func init() {
	Register("version", "print the version and commit", func(env Env, args []string) error {
		fmt.Fprintln(env.Stdout, versionString())
		return nil
	})
}

func usage(w io.Writer) {
	fmt.Fprintf(w, `parley: face-to-face video discussions for lab experiments

usage:
  parley [--kiosk] [flags]        run the participant kiosk (default)
  parley --server [flags]         run the rendezvous server
  parley COMMAND [flags]          run a tool command

commands:
`)
	names := make([]string, 0, len(commands))
	for n, c := range commands {
		if c.summary != "" { // internal commands have none
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintf(w, "\n'parley COMMAND --help' shows a command's flags.\n")
}

// Main runs the command line and returns the process exit code.
func Main(args []string, env Env) int {
	if env.Getenv == nil {
		env.Getenv = os.Getenv
	}
	err := dispatch(args, env)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, ErrUsage):
		fmt.Fprintf(env.Stderr, "parley: %v\n", err)
		usage(env.Stderr)
		return 2
	default:
		fmt.Fprintf(env.Stderr, "parley: %v\n", err)
		return 1
	}
}

func dispatch(args []string, env Env) error {
	if len(args) > 0 {
		switch a := args[0]; {
		case a == "--server" || a == "-server":
			return runServer(env, args[1:])
		case a == "--version" || a == "-version":
			fmt.Fprintln(env.Stdout, versionString())
			return nil
		case a == "--help" || a == "-h" || a == "help":
			usage(env.Stdout)
			return nil
		case !strings.HasPrefix(a, "-"):
			cmd, ok := commands[a]
			if !ok {
				return fmt.Errorf("%w: unknown command %q", ErrUsage, a)
			}
			return cmd.run(env, args[1:])
		}
	}
	for _, a := range args {
		if a == "--server" || a == "-server" {
			return fmt.Errorf("%w: put --server first: parley --server [flags]", ErrUsage)
		}
	}
	return runKiosk(env, args)
}
