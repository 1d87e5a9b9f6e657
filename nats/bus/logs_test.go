package bus_test

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/nats/bus"
	"github.com/souk/souk/subjects"
)

// An edge site's lines go to its own LOGS, in its domain, and the hub's LOGS sources them:
// lines logged while the link is cut stay at the site and reach the hub once it heals, and
// none is captured twice (the hub's LOGS takes souk.log.hub.> only, while the site's lines
// also cross the leaf).
func TestSiteLogsReachTheHubAfterACut(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	limits := bus.LogLimits{MaxBytes: 8 << 20, MaxAge: time.Hour}
	hubLeaf := freeAddr(t)
	hub := startServer(t, bus.ServerConfig{Name: "hub", Domain: bus.HubDomain, LeafListen: hubLeaf})
	proxy := toxiproxy.NewProxy(toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop()), "leaf", "127.0.0.1:0", hubLeaf)
	if err := proxy.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Stop)
	site := startServer(t, bus.ServerConfig{Name: bus.SiteDomain("s1"), Domain: bus.SiteDomain("s1"), LeafRemote: "nats-leaf://" + proxy.Listen})
	hubNC, hubJS := connect(t, hub)
	siteNC, siteJS := connect(t, site)
	if err := bus.EnsureLogs(ctx, hubJS, bus.HubDomain, limits); err != nil {
		t.Fatal(err)
	}
	if err := bus.EnsureLogs(ctx, siteJS, bus.SiteDomain("s1"), limits); err != nil {
		t.Fatal(err)
	}
	if err := bus.EnsureLogSources(ctx, hubJS, []string{"s1"}); err != nil {
		t.Fatal(err)
	}
	// Ensuring again (another instance, a restart) changes nothing and keeps the source.
	if err := bus.EnsureLogs(ctx, hubJS, bus.HubDomain, limits); err != nil {
		t.Fatal(err)
	}
	expect.Within(t, time.Minute, func() error { return leafs(site, 1) })

	line := func(nc *nats.Conn, origin, msg string) {
		t.Helper()
		if err := nc.Publish(subjects.LogSubject(origin, "site", "info"), []byte(`{"level":"info","message":"`+msg+`"}`)); err != nil {
			t.Fatal(err)
		}
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	line(siteNC, bus.SiteDomain("s1"), "linked")
	line(hubNC, bus.HubDomain, "at the hub")
	expect.Within(t, time.Minute, func() error { return holds(ctx, hubJS, "linked", "at the hub") })

	proxy.Stop()
	expect.Within(t, time.Minute, func() error { return leafs(site, 0) })
	line(siteNC, bus.SiteDomain("s1"), "cut off")
	expect.Within(t, time.Minute, func() error { return holds(ctx, siteJS, "linked", "cut off") })
	if err := proxy.Start(); err != nil {
		t.Fatal(err)
	}
	expect.Within(t, 2*time.Minute, func() error { return holds(ctx, hubJS, "linked", "at the hub", "cut off") })
}

// holds checks that the LOGS stream of js holds exactly the lines msgs, each once.
func holds(ctx context.Context, js jetstream.JetStream, msgs ...string) error {
	c, err := js.OrderedConsumer(ctx, subjects.StreamLogs, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return err
	}
	batch, err := c.FetchNoWait(100)
	if err != nil {
		return err
	}
	got := map[string]int{}
	for m := range batch.Messages() {
		got[string(m.Data())]++
	}
	for _, msg := range msgs {
		if n := got[`{"level":"info","message":"`+msg+`"}`]; n != 1 {
			return fmt.Errorf("%q stored %d times, want once (stream holds %v)", msg, n, got)
		}
	}
	if len(got) != len(msgs) {
		return fmt.Errorf("stream holds %v, want %v", got, msgs)
	}
	return nil
}

func leafs(s *server.Server, n int) error {
	if got := s.NumLeafNodes(); got != n {
		return fmt.Errorf("%d leaf connections, want %d", got, n)
	}
	return nil
}

func startServer(t *testing.T, cfg bus.ServerConfig) *server.Server {
	t.Helper()
	cfg.Listen, cfg.StoreDir, cfg.MaxMemory, cfg.MaxStore = "127.0.0.1:0", t.TempDir(), 64<<20, 1<<30
	ns, err := bus.StartServer(cfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	return ns
}

func connect(t *testing.T, ns *server.Server) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
