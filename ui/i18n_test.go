package ui

import (
	"strconv"
	"strings"

	"github.com/parley-lab/parley/signaling/protocol"

	"go/ast"
	"go/parser"
	"go/token"
	"regexp"
	"testing"
)

// TestCatalogueComplete checks that every language has every key declared
// in i18n.go, no extra keys, and the same fmt verbs in the same order.
func TestCatalogueComplete(t *testing.T) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "i18n.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var keys []msgKey
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok {
			return true
		}
		if id, ok := vs.Type.(*ast.Ident); ok && id.Name == "msgKey" {
			for _, v := range vs.Values {
				if lit, ok := v.(*ast.BasicLit); ok {
					keys = append(keys, msgKey(lit.Value[1:len(lit.Value)-1]))
				}
			}
		}
		return true
	})
	if len(keys) < 40 {
		t.Fatalf("found only %d keys in i18n.go", len(keys))
	}
	verbs := regexp.MustCompile(`%[-+# 0]*[0-9]*[a-zA-Z%]`)
	for _, lang := range []string{"en", "de"} {
		cat := catalogue[lang]
		for _, k := range keys {
			s, ok := cat[k]
			if !ok || s == "" {
				t.Errorf("%s: missing %q", lang, k)
				continue
			}
			if got, want := verbs.FindAllString(s, -1), verbs.FindAllString(catalogue["en"][k], -1); len(got) != len(want) {
				t.Errorf("%s %q: verbs %v, English has %v", lang, k, got, want)
			} else {
				for i := range got {
					if got[i] != want[i] {
						t.Errorf("%s %q: verbs %v, English has %v", lang, k, got, want)
					}
				}
			}
		}
		if len(cat) != len(keys) {
			t.Errorf("%s has %d texts for %d keys", lang, len(cat), len(keys))
		}
	}
	if len(catalogue) != 2 {
		t.Errorf("languages: %d, test covers 2", len(catalogue))
	}
}

func TestResolveLanguage(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	for _, tc := range []struct {
		cfg  string
		env  map[string]string
		want string
	}{
		{"de", map[string]string{"LANG": "en_US.UTF-8"}, "de"},
		{"en", map[string]string{"LANG": "de_DE.UTF-8"}, "en"},
		{"", map[string]string{"LANG": "de_DE.UTF-8"}, "de"},
		{"", map[string]string{"LANG": "de_AT@euro"}, "de"},
		{"", map[string]string{"LC_ALL": "en_GB.UTF-8", "LANG": "de_DE.UTF-8"}, "en"},
		{"", map[string]string{"LC_ALL": "de_CH.UTF-8", "LANG": "en_US.UTF-8"}, "de"},
		{"", map[string]string{"LC_MESSAGES": "de_DE", "LANG": "en_US"}, "de"},
		{"", map[string]string{"LANG": "fr_FR.UTF-8"}, "en"},
		{"", map[string]string{"LANG": "C"}, "en"},
		{"", map[string]string{}, "en"},
	} {
		if got := resolveLanguage(tc.cfg, env(tc.env)); got != tc.want {
			t.Errorf("resolveLanguage(%q, %v) = %q, want %q", tc.cfg, tc.env, got, tc.want)
		}
	}
}

func TestTranslatorFallback(t *testing.T) {
	de := translator{lang: "de"}
	if got := de.T(kWaitingCount, 1, 2); got != "1 von 2 anwesend" {
		t.Errorf("got %q", got)
	}
	if got := de.T(msgKey("nope")); got != "nope" {
		t.Errorf("unknown key: %q", got)
	}
}

// TestPseudonymLimitInTexts keeps the pseudonym rule's number in step with the protocol.
func TestPseudonymLimitInTexts(t *testing.T) {
	n := strconv.Itoa(protocol.MaxPseudonymRunes)
	for _, lang := range []string{"en", "de"} {
		if !strings.Contains(catalogue[lang][kErrBadPseudonym], " "+n+" ") {
			t.Errorf("%s: %q does not mention %s", lang, catalogue[lang][kErrBadPseudonym], n)
		}
	}
}
