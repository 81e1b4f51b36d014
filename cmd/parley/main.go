// Command parley is Parley's one binary: the participant kiosk by default,
// the rendezvous server with --server, and tool commands (parley help).
package main

import (
	"os"

	"github.com/parley-lab/parley/cmd/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], cli.Env{Stdout: os.Stdout, Stderr: os.Stderr}))
}
