package cli

import (
	"bytes"
	"errors"
	"flag"
	"fmt"

	"github.com/BurntSushi/toml"
)

// decodeTOMLStrict decodes b into v; an unknown key is an error naming it.
func decodeTOMLStrict(path string, b []byte, v any) error {
	md, err := toml.NewDecoder(bytes.NewReader(b)).Decode(v)
	if err != nil {
		var perr toml.ParseError
		if errors.As(err, &perr) {
			return fmt.Errorf("%w %s, line %d: %s", ErrConfigFile, path, perr.Position.Line, perr.Message)
		}
		return fmt.Errorf("%w %s: %v", ErrConfigFile, path, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		return fmt.Errorf("%w %s: unknown key %q", ErrConfigFile, path, und[0].String())
	}
	return nil
}

func init() {
	Register("config", "check configuration files: parley config check [--server FILE] [--kiosk FILE]", runConfig)
}

func runConfig(env Env, args []string) error {
	if len(args) == 0 || args[0] != "check" {
		return fmt.Errorf("%w: parley config check [--server FILE] [--kiosk FILE]", ErrUsage)
	}
	fs := flag.NewFlagSet("parley config check", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	srv := fs.String("server", "", "server config file to check")
	kiosk := fs.String("kiosk", "", "kiosk config file to check")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *srv == "" && *kiosk == "" {
		*srv, *kiosk = DefaultServerConfig, DefaultKioskConfig
	}
	if *srv != "" {
		cfg, err := loadServerConfig(*srv, false)
		if err != nil {
			return err
		}
		if cfg.DataDir == "" {
			cfg.DataDir = DefaultDataDir
		}
		cfg = cfg.WithDefaults()
		if err := cfg.Validate(); err != nil {
			return fmt.Errorf("%s: %w", *srv, err)
		}
		fmt.Fprintf(env.Stdout, "%s: ok (%d rooms, %d ICE servers)\n", *srv, len(cfg.Rooms), len(cfg.ICEServers))
	}
	if *kiosk != "" {
		if err := checkKiosk(*kiosk); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "%s: ok\n", *kiosk)
	}
	return nil
}
