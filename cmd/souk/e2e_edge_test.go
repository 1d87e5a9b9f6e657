package main

import (
	"context"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/nats/bus"
)

// link is the TCP path between an edge site and the hub's leaf node listener, through a
// proxy that can cut it: a cut closes the leaf connection and refuses new ones, as a cable
// pulled out of a shop's router does.
type link struct{ proxy *toxiproxy.Proxy }

func newLink(t *testing.T, hubLeaf string) *link {
	t.Helper()
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	p := toxiproxy.NewProxy(srv, "leaf", "127.0.0.1:0", hubLeaf)
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	return &link{proxy: p}
}

func (l *link) url() string { return "nats-leaf://" + l.proxy.Listen }

// cut closes the connection and refuses new ones until heal.
func (l *link) cut() { l.proxy.Stop() }

func (l *link) heal(t *testing.T) {
	t.Helper()
	if err := l.proxy.Start(); err != nil {
		t.Fatal(err)
	}
}

// edge is a hub shop with a leaf node listener and the NATS connection a test inspects it by.
type edge struct {
	hub  *shop
	leaf string // the hub's leaf node listener
	nc   *nats.Conn
}

func startHub(t *testing.T) *edge {
	t.Helper()
	leaf, natsAddr := freeAddr(t), freeAddr(t)
	hub := startShop(t, map[string]string{"SOUK_NATS_LEAF_LISTEN": leaf, "SOUK_NATS_LISTEN": natsAddr})
	nc, err := nats.Connect("nats://"+natsAddr, nats.Timeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return &edge{hub: hub, leaf: leaf, nc: nc}
}

// siteEnv is the environment of edge site id, a leaf of the hub at leafURL: no database, a
// data directory of its own (kept across a restart of the site).
func siteEnv(t *testing.T, id, leafURL string) map[string]string {
	t.Helper()
	return map[string]string{
		"SOUK_HTTP_ADDR":       freeAddr(t),
		"SOUK_NATS_LISTEN":     "127.0.0.1:0",
		"SOUK_DATA_DIR":        t.TempDir(),
		"SOUK_LOG_FORMAT":      "json",
		"SOUK_REQUEST_TIMEOUT": "60s",
		"SOUK_LEAF_URL":        leafURL,
		"SOUK_SITE":            id,
	}
}

// siteJS is JetStream of edge site id's domain, reached from the hub through the leaf.
func (e *edge) siteJS(t *testing.T, id string) jetstream.JetStream {
	t.Helper()
	js, err := jetstream.NewWithDomain(e.nc, bus.SiteDomain(id))
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// TestEdgeSiteJoinsTheHub: a site started with --leaf and --site is a leaf node of the hub
// with its own JetStream domain, its gateway is ready, and a request it cannot serve itself
// (the category tree) is answered by the hub's catalog over the leaf.
func TestEdgeSiteJoinsTheHub(t *testing.T) {
	e := startHub(t)
	l := newLink(t, e.leaf)
	site, stop := launchShop(t, siteEnv(t, "north", l.url()))
	defer stop()

	r := site.do("GET", "/v1/categories", nil, "")
	site.expect(r, 200, "category tree through the site")
	js := e.siteJS(t, "north")
	expect.Within(t, 30*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		acct, err := js.AccountInfo(ctx)
		if err != nil {
			return err
		}
		if acct.Domain != bus.SiteDomain("north") {
			t.Fatalf("site domain %q", acct.Domain)
		}
		return nil
	})
}
