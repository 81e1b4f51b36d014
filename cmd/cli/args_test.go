package cli

import (
	"errors"
	"flag"
	"io"
	"slices"
	"strings"
	"testing"
)

// TestFlagsAmongArguments: flags stand anywhere; a negative number and a
// message that starts with "-" are arguments, not flags.
func TestFlagsAmongArguments(t *testing.T) {
	cases := []struct {
		args     []string
		textFrom int
		want     []string
		json     bool
		url      string
		err      string
	}{
		{args: []string{"ABC", "1", "-30"}, want: []string{"ABC", "1", "-30"}},
		{args: []string{"ABC", "all", "-1.5", "--json"}, want: []string{"ABC", "all", "-1.5"}, json: true},
		{args: []string{"--url", "http://x", "ABC", "-30", "--json"}, want: []string{"ABC", "-30"}, json: true, url: "http://x"},
		{args: []string{"ABC", "--url=http://y", "2", "-60"}, want: []string{"ABC", "2", "-60"}, url: "http://y"},
		{args: []string{"ABC", "ch", "-- see above", "--json"}, textFrom: 2, want: []string{"ABC", "ch", "-- see above"}, json: true},
		{args: []string{"ABC", "ch", "-dash", "-more"}, textFrom: 2, want: []string{"ABC", "ch", "-dash", "-more"}},
		{args: []string{"ABC", "--", "--json"}, want: []string{"ABC", "--json"}},
		{args: []string{"ABC", "-x"}, err: "flag provided but not defined: -x"},
		{args: []string{"ABC", "ch", "-x"}, textFrom: 3, err: "flag provided but not defined: -x"},
		{args: []string{"ABC", "--url"}, err: "flag needs an argument"},
	}
	for _, c := range cases {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		url := fs.String("url", "", "")
		asJSON := fs.Bool("json", false, "")
		got, err := parseInterspersed(fs, c.args, c.textFrom)
		switch {
		case c.err != "":
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: error %v, want %q", c.args, err, c.err)
			}
		case err != nil:
			t.Errorf("%q: %v", c.args, err)
		case !slices.Equal(got, c.want) || *asJSON != c.json || *url != c.url:
			t.Errorf("%q: %q json=%v url=%q, want %q json=%v url=%q", c.args, got, *asJSON, *url, c.want, c.json, c.url)
		}
	}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if _, err := parseInterspersed(fs, []string{"ABC", "--help"}, 1); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("--help after the arguments: %v", err)
	}
}
