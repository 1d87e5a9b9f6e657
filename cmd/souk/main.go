// Command souk is the one binary of Souk:
//
//	souk run [all|gateway|<service>…]   run the shop, or some of its parts
//	souk migrate                        apply every service's migrations and exit
//	souk seed [-products N]             load the demo catalog (idempotent)
//	souk dlq ls|show|replay|purge       read, replay and remove dead letters
//	souk logs [-f] [-service S] [-level L] [-since T] [-trace ID] [-site ID]   read every instance's logs
//	souk canary [<service>=<percent>…]  print the canary shares as a nats-server mappings block
//	souk probe [/healthz|/readyz]       ask this machine's souk process for its health (exit 1 unless 2xx)
//	souk config ls|get|set|rm          read and change the live configuration
//	souk services                       print what each service serves, consumes and publishes (JSON)
//	souk nats-accounts                  print nats/accounts.conf: a NATS user per service, permissions generated
//	souk nats-setup                     create or update the streams, consumers and buckets (as admin) and exit
//	souk version                        print the version
//	souk help [<command>]               the commands (souk --help), or a command's flags
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
	"strings"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(cli(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// usage is `souk --help`, a format taking the service names: the commands, a line each.
// The flags and settings are each command's own help (`souk run -h`), so that the list of
// commands fits on a screen.
const usage = `usage: souk <command> [flags] [targets]

commands:
  run [all|gateway|<service> ...]  run the shop: every service, the gateway and an embedded NATS server (the default)
  migrate                          apply every service's database migrations and exit
  seed [-products N]               load the demo catalog (5000 products by default); again, nothing changes
  dlq ls|show|replay|purge         read the dead letters, replay them once mended, remove them
  logs [-f] [-service S] [-level L] [-since T] [-trace ID] [-site ID]
                                   follow or query every instance's and site's log lines (the LOGS stream)
  canary [<service>=<percent> ...] print the canary shares as a cluster's nats-server mappings block
  probe [/healthz|/readyz]         ask this container's souk process for its health (a container health check); fails unless 2xx
  config ls|get|set|rm             read and change the live configuration (rate limits, switches, ...) while the shop runs
  services                         print what each service serves, consumes and publishes, as JSON
  nats-accounts                    print the NATS accounts file (nats/accounts.conf): a user per service, its permissions from its declaration
  nats-setup                       create or update the JetStream streams, consumers and buckets on NATS_URL (as admin), then exit
  version                          print the version
  help [<command>]                 this list, or a command's flags (the same as souk <command> -h)

services: %s

Every flag is also an environment variable (-database-url is $DATABASE_URL, -http-addr is
$SOUK_HTTP_ADDR, ...); a flag wins over its variable. 'souk run -h' lists them all.
`

// flagged are the commands with flags of their own: `souk help <command>` shows them.
var flagged = []string{"run", "migrate", "seed", "dlq", "logs", "nats-setup", "canary", "probe", "config"}

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
	case "dlq":
		err = dlqCommand(ctx, args, getenv, stdout, stderr)
	case "logs":
		err = logsCommand(ctx, args, getenv, stdout, stderr)
	case "canary":
		err = canaryCommand(ctx, args, getenv, stdout, stderr)
	case "probe":
		err = probeCommand(ctx, args, getenv, stdout, stderr)
	case "config":
		err = configCommand(ctx, args, getenv, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "souk", buildVersion())
		return 0
	case "services":
		err = describeServices(stdout)
	case "nats-accounts":
		err = natsAccounts(stdout)
	case "nats-setup":
		err = natsSetupCommand(ctx, args, getenv, stderr)
	case "help":
		if len(args) > 0 && slices.Contains(flagged, args[0]) {
			return cli(ctx, []string{args[0], "-h"}, getenv, stdout, stderr)
		}
		fmt.Fprintf(stdout, usage, strings.Join(serviceNames(), " "))
		return 0
	default:
		fmt.Fprintf(stderr, "souk: unknown command %q\n\n", cmd)
		fmt.Fprintf(stderr, usage, strings.Join(serviceNames(), " "))
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
