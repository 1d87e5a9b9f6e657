package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/souk/souk/nats/bus"
	"github.com/souk/souk/subjects"
)

// logsIdle is how long a query (no -f) waits for the next line before it takes the stream
// as read to its end: the server sends what it has at once, so a pause this long means
// there is no more.
const logsIdle = 5 * time.Second

// logsUsage heads `souk logs -h`; -site is not among the flags it lists (see takeFlag).
const logsUsage = `souk logs [-f] [-service S,...] [-level L] [-since 15m|TIME] [-trace ID] [-site ID|hub] [-format json|console] [flags]

  -site ID     only the lines of edge site ID's instances; hub: only the hub's`

// logsQuery is what `souk logs` reads: its flags.
type logsQuery struct {
	follow                       bool
	services, level, site, trace string
	since, format                string
	startTime                    *time.Time // since, resolved
	filters                      []string   // the subject filters, resolved
	console, consoleColourless   bool
}

// logsCommand follows (-f) or queries the LOGS stream (platform/log's Sink): every
// instance's lines, and the edge sites' as the hub sources them. The site, service and
// level are chosen on the server (the subject filter of an ordered consumer), the start by
// time (-since), the trace here, by each line's trace_id. It connects as commandJetStream
// does (an admin's user, where users are checked).
func logsCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var q logsQuery
	// -site is also the setting SOUK_SITE (the site a process runs as), whose rules do not
	// fit a filter: it is taken out before the settings are read.
	q.site, args = takeFlag(args, "site")
	cfg, rest, err := parseConfig("souk logs", args, getenv, stderr, func(fs *flag.FlagSet) {
		fs.BoolVar(&q.follow, "f", false, "follow: print lines as they come until interrupted (without -since: from now)")
		fs.StringVar(&q.services, "service", "", "only these services' lines, comma-separated (order,payment, gateway, souk for a process's own)")
		fs.StringVar(&q.level, "level", "", "only lines at this level or above: debug, info (info, warn, error), warn, error")
		fs.StringVar(&q.since, "since", "", "only lines from then on: a duration back from now (15m, 2h) or a time (2026-12-05T16:00:00Z)")
		fs.StringVar(&q.trace, "trace", "", "only the lines of this trace id (their trace_id)")
		fs.StringVar(&q.format, "format", "", "json (the lines as logged, with origin: the hub or site-<id>) or console; when empty, console at a terminal and json otherwise")
	})
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return fmt.Errorf("souk logs: unexpected %q: every choice is a flag (souk logs -h)", rest[0])
	}
	if err := q.resolve(time.Now(), stdout); err != nil {
		return err
	}
	js, closeNC, err := commandJetStream(cfg, "souk-logs", stderr)
	if err != nil {
		return err
	}
	defer closeNC()
	return q.run(ctx, js, stdout)
}

// takeFlag removes the string flag name (-name v, --name v, -name=v) from args and returns
// its last value and the other arguments.
func takeFlag(args []string, name string) (string, []string) {
	var v string
	rest := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := strings.TrimPrefix(strings.TrimPrefix(args[i], "-"), "-")
		switch {
		case a == args[i] || a == "" || args[i] == "--":
			rest = append(rest, args[i])
		case a == name && i+1 < len(args):
			v, i = args[i+1], i+1
		case strings.HasPrefix(a, name+"="):
			v = strings.TrimPrefix(a, name+"=")
		default:
			rest = append(rest, args[i])
		}
	}
	return v, rest
}

// resolve checks the flags and turns them into subject filters and a start time.
func (q *logsQuery) resolve(now time.Time, stdout io.Writer) error {
	origin := ""
	switch {
	case q.site == bus.HubDomain:
		origin = bus.HubDomain
	case q.site != "":
		if msg := subjects.CheckSite(q.site); msg != "" {
			return fmt.Errorf("-site %q: %s, or hub", q.site, msg)
		}
		origin = bus.SiteDomain(q.site)
	}
	services := []string{""}
	if q.services != "" {
		services = strings.Split(q.services, ",")
	}
	levels := []string{""}
	if q.level != "" {
		i := slices.Index(subjects.LogLevels, strings.ToLower(q.level))
		if i < 0 {
			return fmt.Errorf("-level %q: want one of %s", q.level, strings.Join(subjects.LogLevels, ", "))
		}
		levels = subjects.LogLevels[i:]
	}
	for _, s := range services {
		for _, l := range levels {
			q.filters = append(q.filters, subjects.LogFilter(origin, strings.TrimSpace(s), l))
		}
	}
	// The server refuses overlapping filters: a service named twice is asked for once.
	slices.Sort(q.filters)
	q.filters = slices.Compact(q.filters)
	if q.since != "" {
		t, err := parseSince(q.since, now)
		if err != nil {
			return err
		}
		q.startTime = &t
	}
	switch q.format {
	case "":
		f, ok := stdout.(*os.File)
		q.console = ok && isatty.IsTerminal(f.Fd())
	case "console":
		q.console, q.consoleColourless = true, true
	case "json":
	default:
		return fmt.Errorf("-format %q: want json or console", q.format)
	}
	return nil
}

// parseSince reads -since: a duration back from now, or an RFC 3339 time.
func parseSince(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("-since %q: want a duration (15m) or a time (2026-12-05T16:00:00Z)", s)
	}
	return t, nil
}

// consumerConfig is the ordered consumer of q: its filters, from its start.
func (q *logsQuery) consumerConfig() jetstream.OrderedConsumerConfig {
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: q.filters, DeliverPolicy: jetstream.DeliverAllPolicy}
	switch {
	case q.startTime != nil:
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, q.startTime
	case q.follow:
		cfg.DeliverPolicy = jetstream.DeliverNewPolicy
	}
	return cfg
}

// run prints q's lines: until ctx ends when following, else until the end of the stream.
func (q *logsQuery) run(ctx context.Context, js jetstream.JetStream, stdout io.Writer) error {
	c, err := js.OrderedConsumer(ctx, subjects.StreamLogs, q.consumerConfig())
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return errors.New("no LOGS stream on this server: is SOUK_LOG_STREAM off?")
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", subjects.StreamLogs, err)
	}
	it, err := c.Messages()
	if err != nil {
		return fmt.Errorf("read %s: %w", subjects.StreamLogs, err)
	}
	defer it.Stop()
	out := q.printer(stdout)
	for {
		wait := jetstream.NextMaxWait(logsIdle)
		if q.follow {
			wait = jetstream.NextContext(ctx)
		}
		m, err := it.Next(wait)
		switch {
		case q.follow && ctx.Err() != nil:
			return nil // interrupted: the way a follow ends
		case errors.Is(err, nats.ErrTimeout) || errors.Is(err, context.DeadlineExceeded):
			return nil // a query read to the end
		case err != nil:
			return fmt.Errorf("read %s: %w", subjects.StreamLogs, err)
		}
		if err := out(m.Subject(), m.Data()); err != nil {
			return err
		}
		if md, err := m.Metadata(); !q.follow && err == nil && md.NumPending == 0 {
			return nil
		}
	}
}

// printer writes one line of subject, if it passes the trace filter, in q's format.
func (q *logsQuery) printer(stdout io.Writer) func(subject string, data []byte) error {
	var console io.Writer
	if q.console {
		console = zerolog.ConsoleWriter{Out: stdout, NoColor: q.consoleColourless, TimeFormat: time.DateTime,
			PartsOrder:    []string{zerolog.TimestampFieldName, zerolog.LevelFieldName, "origin", "service", zerolog.MessageFieldName},
			FieldsExclude: []string{"origin", "service"}}
	}
	return func(subject string, data []byte) error {
		if q.trace != "" && traceOf(data) != q.trace {
			return nil
		}
		line := withOrigin(data, originOf(subject))
		if console != nil {
			_, err := console.Write(line)
			return err
		}
		_, err := stdout.Write(append(line, '\n'))
		return err
	}
}

// traceOf is a line's trace_id; "" when it has none or is no JSON object.
func traceOf(data []byte) string {
	var l struct {
		TraceID string `json:"trace_id"`
	}
	if json.Unmarshal(data, &l) != nil {
		return ""
	}
	return l.TraceID
}

// originOf is the domain a line's subject names: souk.log.<origin>.<service>.<level>.
func originOf(subject string) string {
	parts := strings.Split(subject, ".")
	if len(parts) != 5 {
		return ""
	}
	return parts[2]
}

// withOrigin adds the origin field first to a line that is a JSON object (a site's lines do
// not name their site otherwise).
func withOrigin(data []byte, origin string) []byte {
	data = bytes.TrimSpace(data)
	if origin == "" || len(data) < 2 || data[0] != '{' {
		return data
	}
	out := make([]byte, 0, len(data)+len(origin)+14)
	out = append(out, `{"origin":`...)
	out = append(out, '"')
	out = append(out, origin...)
	out = append(out, '"')
	if data[1] != '}' {
		out = append(out, ',')
	}
	return append(out, data[1:]...)
}
