package server

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckPseudonym(t *testing.T) {
	for _, c := range []struct {
		in, want string // want "" means refused
		mention  string
	}{
		{"  Kim ", "Kim", ""},
		{"Ame\u0301lie", "Amélie", ""}, // decomposed é is stored composed (NFC)
		{"👩‍🔬", "👩‍🔬", ""},             // ZWJ sequence: woman scientist
		{"👨🏽‍💻 Dev", "👨🏽‍💻 Dev", ""},   // with a skin tone
		{"\U0001F3F4\U000E0067\U000E0062\U000E0073\U000E0063\U000E0074\U000E007F", "\U0001F3F4\U000E0067\U000E0062\U000E0073\U000E0063\U000E0074\U000E007F", ""}, // Scotland's flag
		{"Việt", "Việt", ""},                                              // two marks on one letter
		{"Ann\u200DBen", "", "invisible"},                                 // ZWJ between letters hides a join
		{"a\u0300\u0301\u0302\u0303\u0304\u0308x", "", "combining marks"}, // a pile-up
		{"zero\u200Bwidth", "", "invisible"},
		{"evil\u202Egnp", "", "text-direction"},
		{"x\U000E0041", "", "invisible"}, // a tag character outside a flag
		{"", "", "empty"},
	} {
		got, err := CheckPseudonym(c.in)
		if c.want == "" {
			if err == nil || !errors.Is(err, ErrBadPseudonym) || !strings.Contains(err.Error(), c.mention) {
				t.Errorf("CheckPseudonym(%q) = %q, %v; want refused mentioning %q", c.in, got, err, c.mention)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("CheckPseudonym(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}

func TestPseudonymKeyFoldsLookAlikes(t *testing.T) {
	for _, pair := range [][2]string{{"Ann", "ann"}, {"Ａｎｎ", "Ann"}, {"STRASSE", "straße"}, {"Ame\u0301lie", "amélie"}} {
		if PseudonymKey(pair[0]) != PseudonymKey(pair[1]) {
			t.Errorf("%q and %q compare different", pair[0], pair[1])
		}
	}
	if PseudonymKey("Ann") == PseudonymKey("Anne") {
		t.Error("different names compare equal")
	}
}
