package cli

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// repoRoot is the repository, from this package's directory.
var repoRoot = filepath.Join("..", "..")

// tomlBlock is a TOML code block in a Markdown file.
var tomlBlock = regexp.MustCompile("(?s)```toml\n(.*?)```")

// kioskConfig tells a kiosk config from a server config: a kiosk file
// is named so, or has the kiosk's [ui] table or its server URL.
var kioskConfig = regexp.MustCompile(`(?m)^\s*(\[ui[.\]]|server\s*=)`)

// TestEveryExampleConfigPasses: every TOML file the repository holds
// (the package's, the testdata examples) and every TOML block in the
// README and the docs passes `parley config check` as a server or a
// kiosk config. A kiosk config without an exit PIN (the package ships
// none, on purpose) is checked once set-pin has set one, as the lab guide
// says.
func TestEveryExampleConfigPasses(t *testing.T) {
	type example struct{ name, body string }
	var examples []example
	err := filepath.WalkDir(repoRoot, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		switch {
		case strings.HasSuffix(path, ".toml"):
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			examples = append(examples, example{path, string(b)})
		case strings.HasSuffix(path, ".md"):
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for i, m := range tomlBlock.FindAllSubmatchIndex(b, -1) {
				line := bytes.Count(b[:m[0]], []byte("\n")) + 1
				examples = append(examples, example{fmt.Sprintf("%s:%d (block %d)", path, line, i+1), string(b[m[2]:m[3]])})
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var kiosks, servers int
	dir := t.TempDir()
	for i, ex := range examples {
		kind := "--server"
		if strings.Contains(filepath.Base(ex.name), "kiosk") || kioskConfig.MatchString(ex.body) {
			kind = "--kiosk"
			kiosks++
		} else {
			servers++
		}
		p := write(t, dir, fmt.Sprintf("example-%d.toml", i), ex.body)
		if kind == "--kiosk" && !strings.Contains(ex.body, "\nexit_pin_hash =") {
			if code := Main([]string{"kiosk", "set-pin", "--config", p}, Env{Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{},
				Stdin: strings.NewReader("913572\n"), Getenv: func(string) string { return "" }}); code != 0 {
				t.Errorf("%s: set-pin failed (%d)", ex.name, code)
				continue
			}
		}
		if out, errs, code := run(t, nil, "config", "check", kind, p); code != 0 {
			t.Errorf("%s (config check %s): %d %s%s", ex.name, kind, code, out, errs)
		}
	}
	if kiosks < 2 || servers < 2 {
		t.Fatalf("found %d kiosk and %d server examples; the walk missed some", kiosks, servers)
	}
	t.Logf("%d kiosk and %d server examples checked", kiosks, servers)
}
