package cli

// apiclient.go: the experimenter API as the tool commands call it: the
// server's URL and admin token (flags, environment, or the data directory's
// admin.token) and one request at a time.

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/parley-lab/parley/signaling/server"
)

// apiTimeout bounds one experimenter API call from the CLI.
const apiTimeout = 15 * time.Second

// Environment variables for the tool commands.
const (
	EnvURL        = "PARLEY_URL"
	EnvAdminToken = "PARLEY_ADMIN_TOKEN"
)

type apiClient struct {
	base, token string
	http        *http.Client
}

func apiFlags(fs *flag.FlagSet) (url, token, data *string) {
	url = fs.String("url", "http://127.0.0.1"+server.DefaultListen, "server URL (or $"+EnvURL+")")
	token = fs.String("token", "", "admin token (or $"+EnvAdminToken+", or read from --data)")
	data = fs.String("data", DefaultDataDir, "server data directory holding admin.token")
	return
}

func newAPIClient(env Env, fs *flag.FlagSet, url, token, data string) (*apiClient, error) {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if v := env.Getenv(EnvURL); v != "" && !set["url"] {
		url = v
	}
	if token == "" {
		token = env.Getenv(EnvAdminToken)
	}
	if token == "" {
		b, err := os.ReadFile(filepath.Join(data, server.AdminTokenFile))
		if err != nil {
			return nil, fmt.Errorf("no admin token: pass --token, set $%s, or point --data at the server's data directory (%v)", EnvAdminToken, err)
		}
		token = strings.TrimSpace(string(b))
	}
	return &apiClient{base: strings.TrimRight(url, "/"), token: token, http: &http.Client{Timeout: apiTimeout}}, nil
}

func (c *apiClient) do(method, path string, body any, out io.Writer) error {
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, r)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("server at %s: %w", c.base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e struct{ Error string }
		b, _ := io.ReadAll(resp.Body)
		json.Unmarshal(b, &e)
		if e.Error == "" {
			e.Error = strings.TrimSpace(string(b))
		}
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, e.Error)
	}
	_, err = io.Copy(out, resp.Body)
	return err
}
