package log_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/rs/zerolog"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/internal/logtest"
	"github.com/souk/souk/nats/bus"
	"github.com/souk/souk/nats/natstest"
	soukLog "github.com/souk/souk/platform/log"
	"github.com/souk/souk/subjects"
)

// sinkLogger is a logger writing console lines to out and JSON lines to sink.
func sinkLogger(t *testing.T, out *logtest.Buffer, sink *soukLog.Sink) zerolog.Logger {
	t.Helper()
	lvl, err := soukLog.ParseLevel("debug")
	if err != nil {
		t.Fatal(err)
	}
	log, err := soukLog.NewAt(out, lvl, "console", sink)
	if err != nil {
		t.Fatal(err)
	}
	return log
}

func TestSinkPublishesEachLineOnItsServiceAndLevel(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, nc := natstest.Server(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if err := bus.EnsureLogs(ctx, js, bus.HubDomain, bus.LogLimits{MaxBytes: 1 << 20, MaxAge: time.Hour}); err != nil {
		t.Fatal(err)
	}
	sink := soukLog.NewSink(soukLog.SinkConfig{Origin: bus.HubDomain, Service: "souk", Services: []string{"order", "payment"}})
	var out logtest.Buffer
	log := sinkLogger(t, &out, sink)
	stop := sink.Start(nc)
	log.Info().Msg("starting")
	order, payment, other := log.With().Str("service", "order").Logger(), log.With().Str("service", "payment").Logger(),
		log.With().Str("service", "elsewhere").Logger()
	order.Warn().Str("order_id", "o1").Msg("held")
	payment.Error().Msg("declined")
	other.Debug().Msg("not ours")
	stop()
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}

	want := map[string]string{
		"starting": "souk.log.hub.souk.info", "held": "souk.log.hub.order.warn",
		"declined": "souk.log.hub.payment.error", "not ours": "souk.log.hub.souk.debug",
	}
	got := map[string]string{}
	expect.Within(t, 30*time.Second, func() error {
		got = readLines(t, ctx, js, len(want))
		if len(got) < len(want) {
			return fmt.Errorf("stream has %d lines, want %d", len(got), len(want))
		}
		return nil
	})
	for msg, subject := range want {
		if got[msg] != subject {
			t.Errorf("line %q on %q, want %q", msg, got[msg], subject)
		}
	}
	// stdout keeps its own format, and every line.
	if s := out.String(); strings.Contains(s, `"message"`) || strings.Count(s, "\n") != 4 || !strings.Contains(s, "declined") {
		t.Errorf("stdout:\n%s", s)
	}
	if n := value(sink.Dropped()); n != 0 {
		t.Errorf("dropped %v", n)
	}
}

// readLines reads up to n lines of LOGS: subject by message.
func readLines(t *testing.T, ctx context.Context, js jetstream.JetStream, n int) map[string]string {
	t.Helper()
	c, err := js.OrderedConsumer(ctx, subjects.StreamLogs, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	batch, err := c.FetchNoWait(n)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for m := range batch.Messages() {
		var line struct {
			Message string `json:"message"`
		}
		if err := json.Unmarshal(m.Data(), &line); err != nil {
			t.Fatalf("line %q: %v", m.Data(), err)
		}
		got[line.Message] = m.Subject()
	}
	return got
}

// value is c's count.
func value(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return -1
	}
	return m.GetCounter().GetValue()
}

// TestSinkNeverBlocksTheLogger: whatever holds up the publishing goroutine (here: it never
// runs), a line costs the logger a queue attempt and no more; what does not fit is counted.
func TestSinkNeverBlocksTheLogger(t *testing.T) {
	sink := soukLog.NewSink(soukLog.SinkConfig{Origin: bus.HubDomain, Service: "order", Queue: 8})
	var out logtest.Buffer
	log := sinkLogger(t, &out, sink)
	for i := range 1000 {
		log.Info().Int("i", i).Msg("busy")
	}
	if n := value(sink.Dropped()); n != 992 {
		t.Errorf("dropped %v, want 992", n)
	}
	if n := value(sink.Lines("info")); n != 1000 {
		t.Errorf("lines %v, want 1000", n)
	}
	if n := strings.Count(out.String(), "\n"); n != 1000 {
		t.Errorf("stdout has %d lines, want 1000", n)
	}
}

// TestSinkDropsWhileNATSIsAway: the server is gone; the connection holds what fits in its
// reconnect buffer and refuses the rest, which the sink counts while the service logs on.
func TestSinkDropsWhileNATSIsAway(t *testing.T) {
	ns, _ := natstest.Server(t)
	nc, err := nats.Connect(ns.ClientURL(), nats.MaxReconnects(-1), nats.ReconnectBufSize(4096))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ns.Shutdown()
	ns.WaitForShutdown()
	expect.Within(t, 30*time.Second, func() error {
		if nc.IsConnected() {
			return fmt.Errorf("still connected")
		}
		return nil
	})
	sink := soukLog.NewSink(soukLog.SinkConfig{Origin: bus.HubDomain, Service: "order"})
	stop := sink.Start(nc)
	var out logtest.Buffer
	log := sinkLogger(t, &out, sink)
	for i := range 2000 {
		log.Warn().Int("i", i).Msg("NATS is away")
	}
	stop()
	if n := value(sink.Dropped()); n < 1000 {
		t.Errorf("dropped %v, want most of 2000 (4 KiB of reconnect buffer)", n)
	}
	if n := value(sink.Lines("warn")); n != 2000 {
		t.Errorf("lines %v, want 2000", n)
	}
}

// TestSinkDoesNotFeedOnItsOwnRefusals: a user that may not publish its log subject gets an
// asynchronous permissions error for each line, which the connection logs; were that line
// published too, it would be refused and logged again, for ever.
func TestSinkDoesNotFeedOnItsOwnRefusals(t *testing.T) {
	opts := &server.Options{Host: "127.0.0.1", Port: -1, NoSigs: true, Users: []*server.User{{Username: "u", Password: "p",
		Permissions: &server.Permissions{Publish: &server.SubjectPermission{Deny: []string{subjects.LogPrefix + ".>"}}}}}}
	ns := natstest.Start(t, opts)
	sink := soukLog.NewSink(soukLog.SinkConfig{Origin: bus.HubDomain, Service: "order"})
	var out logtest.Buffer
	log := sinkLogger(t, &out, sink)
	closed := make(chan struct{})
	nc, err := bus.Connect(ns.ClientURL(), "t", log, nats.UserInfo("u", "p"), nats.ClosedHandler(func(*nats.Conn) { close(closed) }))
	if err != nil {
		t.Fatal(err)
	}
	stop := sink.Start(nc)
	log.Info().Msg("one line")
	expect.Within(t, 30*time.Second, func() error {
		if !strings.Contains(out.String(), "Permissions Violation") {
			return fmt.Errorf("no refusal logged yet:\n%s", out.String())
		}
		return nil
	})
	// Whatever the sink still holds goes out, its refusals come back before the flush's
	// answer, and the connection reports them before it reports being closed.
	stop()
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	nc.Close()
	<-closed
	if n := strings.Count(out.String(), "Permissions Violation"); n != 1 {
		t.Fatalf("%d refusals logged, want 1:\n%s", n, out.String())
	}
}
