package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/internal/logtest"
	"github.com/souk/souk/nats/bus"
	"github.com/souk/souk/nats/natstest"
	soukLog "github.com/souk/souk/platform/log"
	"github.com/souk/souk/subjects"
)

// logInstance is a process of one service logging through its own sink, as souk run makes it.
type logInstance struct {
	log  zerolog.Logger
	stop func()
}

func newInstance(t *testing.T, nc *nats.Conn, service string) logInstance {
	t.Helper()
	sink := soukLog.NewSink(soukLog.SinkConfig{Origin: bus.HubDomain, Service: service, Services: []string{service}})
	lvl, err := soukLog.ParseLevel("debug")
	if err != nil {
		t.Fatal(err)
	}
	log, err := soukLog.NewAt(&bytes.Buffer{}, lvl, "json", sink)
	if err != nil {
		t.Fatal(err)
	}
	stop := sink.Start(nc)
	t.Cleanup(stop)
	return logInstance{log: log.With().Str("service", service).Logger(), stop: stop}
}

// logLine is what a test reads of a line souk logs prints.
type logLine struct {
	Message string `json:"message"`
	Origin  string `json:"origin"`
	Service string `json:"service"`
}

// soukLogs runs `souk logs args…` against the server at url and returns the lines it
// printed, in order.
func soukLogs(t *testing.T, ctx context.Context, url string, args ...string) []logLine {
	t.Helper()
	var out, errs bytes.Buffer
	env := func(k string) string { return map[string]string{"NATS_URL": url}[k] }
	if code := cli(ctx, append([]string{"logs", "-format", "json"}, args...), env, &out, &errs); code != 0 {
		t.Fatalf("souk logs %v exited %d: %s", args, code, errs.String())
	}
	var lines []logLine
	for _, line := range bytes.Split(bytes.TrimSpace(out.Bytes()), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var l logLine
		if err := json.Unmarshal(line, &l); err != nil || l.Origin == "" {
			t.Fatalf("line %q: %v (origin %q)", line, err, l.Origin)
		}
		lines = append(lines, l)
	}
	return lines
}

// messages are the messages of lines, all from the hub.
func messages(lines []logLine) []string {
	out := make([]string, 0, len(lines))
	for _, l := range lines {
		if l.Origin != bus.HubDomain {
			return append(out, "a line from "+l.Origin)
		}
		out = append(out, l.Message)
	}
	return out
}

// TestLogsCommandFilters: two services log through their sinks into LOGS; souk logs shows
// exactly the lines asked for by service and level (on the server), trace (here) and time.
func TestLogsCommandFilters(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ns, nc, js := logsServer(t, ctx)
	order, payment := newInstance(t, nc, "order"), newInstance(t, nc, "payment")
	order.log.Debug().Msg("o-debug")
	order.log.Info().Msg("o-info")
	order.log.Warn().Str("trace_id", "t1").Msg("o-warn")
	order.log.Error().Msg("o-error")
	payment.log.Info().Str("trace_id", "t1").Msg("p-info")
	payment.log.Warn().Msg("p-warn")
	order.stop()
	payment.stop()
	stored(t, ctx, js, 6)
	url := ns.ClientURL()

	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"-service", "order", "-level", "warn"}, []string{"o-warn", "o-error"}},
		{[]string{"-service", "payment", "-level", "warn"}, []string{"p-warn"}},
		{[]string{"-service", "order,payment", "-level", "info"}, []string{"o-info", "o-warn", "o-error", "p-info", "p-warn"}},
		{[]string{"-service", "order, order", "-level", "error"}, []string{"o-error"}},
		{[]string{"-trace", "t1"}, []string{"o-warn", "p-info"}},
		{[]string{"-site", "hub", "-level", "error"}, []string{"o-error"}},
		{[]string{"-site", "s1"}, nil},
		{[]string{"-since", "1h", "-service", "payment"}, []string{"p-info", "p-warn"}},
	} {
		if got := messages(soukLogs(t, ctx, url, c.args...)); !sameSet(got, c.want) {
			t.Errorf("souk logs %v: %q, want %q", c.args, got, c.want)
		}
	}

	// -since a time: only what was stored from then on.
	cut := time.Now().UTC()
	later := newInstance(t, nc, "order")
	later.log.Warn().Msg("o-later")
	later.stop()
	stored(t, ctx, js, 7)
	if got := messages(soukLogs(t, ctx, url, "-since", cut.Format(time.RFC3339Nano))); !sameSet(got, []string{"o-later"}) {
		t.Errorf("souk logs -since %s: %q, want only o-later", cut.Format(time.RFC3339Nano), got)
	}
}

// TestLogsCommandFollows: souk logs -f prints the lines logged after it started, as they
// come, and ends cleanly when interrupted.
func TestLogsCommandFollows(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ns, nc, js := logsServer(t, ctx)
	order := newInstance(t, nc, "order")
	order.log.Error().Msg("before")
	stored(t, ctx, js, 1)

	follow, stop := context.WithCancel(ctx)
	var out logtest.Buffer
	exited := make(chan int, 1)
	go func() {
		env := func(k string) string { return map[string]string{"NATS_URL": ns.ClientURL()}[k] }
		exited <- cli(follow, []string{"logs", "-f", "-format", "json", "-service", "order", "-level", "warn"}, env, &out, &out)
	}()
	// Whether the follower is ready yet or not, a line that keeps coming is seen once it is.
	expect.Within(t, time.Minute, func() error {
		order.log.Warn().Msg("during")
		order.log.Info().Msg("too low")
		if !strings.Contains(out.String(), `"during"`) {
			return fmt.Errorf("not followed yet: %q", out.String())
		}
		return nil
	})
	stop()
	select {
	case code := <-exited:
		if code != 0 {
			t.Fatalf("souk logs -f exited %d: %s", code, out.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("souk logs -f did not end within 30 s of its interruption")
	}
	if s := out.String(); strings.Contains(s, "before") || strings.Contains(s, "too low") {
		t.Errorf("followed lines it should not have:\n%s", s)
	}
}

// logsServer is an embedded server with the hub's LOGS stream, a connection and its
// JetStream.
func logsServer(t *testing.T, ctx context.Context) (*server.Server, *nats.Conn, jetstream.JetStream) {
	t.Helper()
	ns, nc := natstest.Server(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if err := bus.EnsureLogs(ctx, js, bus.HubDomain, bus.LogLimits{MaxBytes: 8 << 20, MaxAge: time.Hour}); err != nil {
		t.Fatal(err)
	}
	return ns, nc, js
}

// stored waits until LOGS holds n lines.
func stored(t *testing.T, ctx context.Context, js jetstream.JetStream, n uint64) {
	t.Helper()
	expect.Within(t, 30*time.Second, func() error {
		s, err := js.Stream(ctx, subjects.StreamLogs)
		if err != nil {
			return err
		}
		if got := s.CachedInfo().State.Msgs; got != n {
			return fmt.Errorf("LOGS holds %d lines, want %d", got, n)
		}
		return nil
	})
}
