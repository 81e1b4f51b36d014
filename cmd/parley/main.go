// Command parley is Parley's one binary: the participant kiosk by default,
// the rendezvous server with --server, and tool commands (parley help).
package main

import (
	"os"

	// First: it fixes a locale Fyne cannot parse before Fyne reads it.
	_ "github.com/parley-lab/parley/cmd/parley/internal/locale"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/app"

	"github.com/parley-lab/parley/cmd/cli"
)

func main() {
	cli.NewApp = func() fyne.App { return app.NewWithID("org.parley.kiosk") }
	os.Exit(cli.Main(os.Args[1:], cli.Env{Stdout: os.Stdout, Stderr: os.Stderr}))
}
