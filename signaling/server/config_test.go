package server

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

// TestShippedServerTOMLShowsEverySettingWithItsDefault: the server.toml the
// package installs shows each top-level setting commented out, with the
// value the server uses when it is absent.
func TestShippedServerTOMLShowsEverySettingWithItsDefault(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "packaging", "deb", "server.toml"))
	if err != nil {
		t.Fatal(err)
	}
	// The commented settings before the first table ([[rooms]]), uncommented.
	setting := regexp.MustCompile(`^# ([a-z_]+) = (.*?)(\s+#.*)?$`)
	var doc bytes.Buffer
	shown := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "# [") {
			break
		}
		if m := setting.FindStringSubmatch(line); m != nil {
			doc.WriteString(m[1] + " = " + m[2] + "\n")
			shown[m[1]] = true
		}
	}
	var got Config
	md, err := toml.NewDecoder(&doc).Decode(&got)
	if err != nil {
		t.Fatalf("the settings shown do not parse: %v\n%s", err, doc.String())
	}
	if und := md.Undecoded(); len(und) > 0 {
		t.Fatalf("unknown settings shown: %v", und)
	}
	def := Config{}.WithDefaults()
	gv, dv := reflect.ValueOf(got), reflect.ValueOf(def)
	for i := range gv.NumField() {
		f := gv.Type().Field(i)
		key := f.Tag.Get("toml")
		switch key {
		case "", "-", "rooms", "ice_servers":
			continue // tables, shown as examples
		case "data":
			continue // the package's data directory, not the built-in default
		}
		if !shown[key] {
			t.Errorf("setting %q is not shown", key)
			continue
		}
		g, d := gv.Field(i), dv.Field(i)
		if g.Kind() == reflect.Slice && g.Len() == 0 && d.Len() == 0 {
			continue // [] shown, none by default: the same
		}
		if !reflect.DeepEqual(g.Interface(), d.Interface()) {
			t.Errorf("setting %q is shown as %v; its default is %v", key, gv.Field(i).Interface(), dv.Field(i).Interface())
		}
	}
}
