// Package locale gives the process a locale Fyne can parse before Fyne
// reads it. Fyne parses the system locale while its packages initialise and
// logs "Error parsing user locale C" for C, C.UTF-8 or POSIX (Debian's
// default for services and cron): every command, the server included,
// would start with that line on stderr.
//
// Go initialises packages in import-path order as soon as their imports
// are ready; this package imports only os and strings, so it runs before
// anything that imports log (as Fyne's packages do). cmd/parley imports it
// first; nothing else may import it.
package locale

import (
	"os"
	"strings"
)

// Fallback is the locale set when the environment names none a language
// tag can be made of. It only settles which language a kiosk configured
// for the "system" language shows: English, as it would anyway.
const Fallback = "en_US.UTF-8"

// vars are the variables Fyne's locale lookup reads, in its order.
var vars = []string{"LC_ALL", "LC_MESSAGES", "LANG"}

func init() {
	for _, v := range vars {
		val := os.Getenv(v)
		if val == "" {
			continue
		}
		if isPlain(val) {
			os.Setenv(v, Fallback)
		}
		return // the first one set decides
	}
}

// isPlain reports whether a locale names no language: C, POSIX, C.UTF-8.
func isPlain(l string) bool {
	base, _, _ := strings.Cut(l, ".")
	return base == "C" || base == "POSIX"
}
