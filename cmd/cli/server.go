package cli

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/parley-lab/parley/signaling/server"
)

// Defaults for the server's files.
const (
	DefaultServerConfig = "/etc/parley/server.toml"
	DefaultDataDir      = "/var/lib/parley"
)

// Environment variables, between the config file and flags in precedence.
const (
	EnvConfig = "PARLEY_CONFIG"
	EnvListen = "PARLEY_LISTEN"
	EnvData   = "PARLEY_DATA"
)

// ErrConfigFile marks an error in a configuration file; the message names
// the file and the key.
var ErrConfigFile = errors.New("configuration file")

// loadServerConfig reads a server config file strictly: an unknown key is
// an error naming the file and the key. A missing file is no error when
// optional is true (the default path on a fresh machine).
func loadServerConfig(path string, optional bool) (server.Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		if optional && errors.Is(err, os.ErrNotExist) {
			return server.Config{}, nil
		}
		return server.Config{}, fmt.Errorf("%w: %v", ErrConfigFile, err)
	}
	var cfg server.Config
	err = decodeTOMLStrict(path, b, &cfg)
	return cfg, err
}

// serverConfig merges defaults < file < environment < flags.
func serverConfig(env Env, fs *flag.FlagSet, configPath, listen, data string) (server.Config, error) {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	path, optional := DefaultServerConfig, true
	if v := env.Getenv(EnvConfig); v != "" {
		path, optional = v, false
	}
	if set["config"] {
		path, optional = configPath, false
	}
	cfg, err := loadServerConfig(path, optional)
	if err != nil {
		return cfg, err
	}
	if v := env.Getenv(EnvListen); v != "" {
		cfg.Listen = v
	}
	if v := env.Getenv(EnvData); v != "" {
		cfg.DataDir = v
	}
	if set["listen"] {
		cfg.Listen = listen
	}
	if set["data"] {
		cfg.DataDir = data
	}
	if cfg.DataDir == "" {
		cfg.DataDir = DefaultDataDir
	}
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return cfg, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

func runServer(env Env, args []string) error {
	fs := flag.NewFlagSet("parley --server", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	listen := fs.String("listen", server.DefaultListen, "address to listen on (host:port)")
	data := fs.String("data", DefaultDataDir, "data directory (database, admin token)")
	configPath := fs.String("config", DefaultServerConfig, "server config file (TOML)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", ErrUsage, fs.Arg(0))
	}
	cfg, err := serverConfig(env, fs, *configPath, *listen, *data)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(env.Stderr, nil))
	srv, err := server.New(cfg, server.WithLogger(log))
	if err != nil {
		return err
	}
	if err := srv.Listen(); err != nil {
		srv.Close()
		return err
	}
	tokenPath := filepath.Join(cfg.DataDir, server.AdminTokenFile)
	if srv.NewAdminToken {
		fmt.Fprintf(env.Stderr, "parley: new admin token (shown once; it is kept in %s):\n  %s\n", tokenPath, srv.AdminToken())
	}
	log.Info("parley server listening", "addr", srv.Addr(), "data", cfg.DataDir, "rooms", len(cfg.Rooms), "version", versionString())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve() }()
	select {
	case s := <-sig:
		log.Info("stopping", "signal", s.String())
	case err = <-errc:
	}
	signal.Stop(sig)
	if cerr := srv.Close(); err == nil {
		err = cerr
	}
	return err
}
