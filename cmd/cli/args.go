package cli

// args.go: flags wherever they stand among a tool command's arguments, so
// `parley session time ABC 1 -30 --json` and a message that starts with "-"
// both read as typed.

import (
	"flag"
	"strconv"
	"strings"
)

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
