// Command souk is the one binary of Souk:
//
//	souk run [all|gateway|<service>…]   run the shop, or some of its parts
//	souk migrate                        apply every service's migrations and exit
//	souk seed [-products N]             load the demo catalog (idempotent)
//	souk services                       print what each service serves, consumes and publishes (JSON)
//	souk version                        print the version
//
// With no target, `souk run` (and plain `souk`) runs everything in one process: an embedded
// NATS server with JetStream, every service and the gateway. With NATS_URL set it joins that
// server instead of embedding one, so `souk run order` on three machines shares the work.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"slices"
	"syscall"

	"github.com/souk/souk/cmd/souk/settings"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(cli(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

const usage = `usage: souk <command> [flags] [targets]

commands:
  run [all|gateway|<service> ...]           run the shop (default: all, with an embedded NATS server); services:
                                            user auth catalog inventory promotion cart order payment shipping notification
  migrate                                   apply every service's database migrations and exit
  seed [-products N]                        load the demo catalog (N products, 5000 by default), idempotently
  services                                  print what each service serves, consumes and publishes, as JSON
  version                                   print the version
`

// settingsHelp introduces the settings in `souk --help`.
const settingsHelp = "\nRun, migrate and seed read these settings; 'souk run -h' lists them too.\n"

// helpArgs ask for `souk help` in place of a command (after one, for that command's help).
var helpArgs = []string{"-h", "-help", "--help"}

// cli runs one command and returns the process exit code.
func cli(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cmd := "run"
	switch {
	case len(args) == 0 || args[0] == "":
	case slices.Contains(helpArgs, args[0]):
		cmd, args = "help", args[1:]
	case args[0][0] != '-':
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "run":
		err = runCommand(ctx, args, getenv, stderr)
	case "migrate":
		err = migrateCommand(ctx, args, getenv, stderr)
	case "seed":
		err = seedCommand(ctx, args, getenv, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "souk", buildVersion())
		return 0
	case "services":
		err = describeServices(stdout)
	case "help":
		fmt.Fprint(stdout, usage+settingsHelp)
		settings.PrintHelp(stdout)
		return 0
	default:
		fmt.Fprintf(stderr, "souk: unknown command %q\n\n%s\nRun 'souk --help' for the settings.\n", cmd, usage)
		return 2
	}
	if err != nil {
		fmt.Fprintln(stderr, "souk:", err)
		return 1
	}
	return 0
}

func buildVersion() string {
	v := version
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += " (" + s.Value[:12] + ")"
			}
		}
	}
	return v
}
