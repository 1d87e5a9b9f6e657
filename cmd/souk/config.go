package main

import (
	"flag"
	"io"

	"github.com/souk/souk/cmd/souk/settings"
)

// Config is everything souk reads from its flags and environment; package settings
// declares each setting once (variable, flag, type, default, help, secret, validation).
type Config = settings.Config

// synopses head each command's help.
var synopses = map[string]string{
	"souk run":     "souk run [flags] [all|gateway|<service> ...]",
	"souk migrate": "souk migrate [flags]",
	"souk seed":    "souk seed [-products N] [flags]",
	"souk dlq":     dlqUsage + "\n\nflags (before SEQ):",
	"souk logs":    logsUsage,
	"souk canary":  "souk canary [flags] [<service>=<percent> ...]",
	"souk probe":   "souk probe [flags] [/healthz|/readyz]",
	"souk config":  configUsage + "\n\nflags (before KEY):",
}

// parseConfig reads the settings of the command name from getenv and args (flags win), and
// returns the validated Config and the remaining positional arguments. extra adds a
// command's own flags.
func parseConfig(name string, args []string, getenv func(string) string, out io.Writer, extra ...func(*flag.FlagSet)) (Config, []string, error) {
	cfg, rest, err := settings.Parse(synopses[name], args, getenv, out, extra...)
	cfg.NATSPasswordFile = getenv("SOUK_NATS_PASSWORD_FILE")
	return cfg, rest, err
}
