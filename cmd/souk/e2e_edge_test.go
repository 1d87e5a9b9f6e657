package main

import (
	"context"
	"fmt"
	"strings"
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

// seedEdgeCatalog creates a category and a product at the hub and sets its stock; it returns
// the product's id.
func seedEdgeCatalog(t *testing.T, hub *shop, admin, sku string, onHand int) string {
	t.Helper()
	hub.expect(hub.do("POST", "/v1/categories", map[string]any{"name": "Lamps", "slug": "lamps",
		"translations": map[string]any{"de": map[string]string{"name": "Lampen"}}}, admin), 201, "create category")
	r := hub.do("POST", "/v1/products", map[string]any{"sku": sku, "name": "Brass Desk Lamp", "description": "warm light for late readers",
		"price": map[string]any{"amount": 4900, "currency": "EUR"}, "category_id": "lamps",
		"translations": map[string]any{"de": map[string]string{"name": "Messing-Schreibtischlampe"}}}, admin)
	hub.expect(r, 201, "create product")
	hub.expect(hub.do("PUT", "/v1/inventory/"+sku, map[string]any{"on_hand": onHand}, admin), 200, "set stock")
	return r.json(t)["id"].(string)
}

// browses checks that site serves the product id: read (in German), browsed by category
// and found by a word of its description, and the category tree.
func browses(t *testing.T, site *shop, id string) error {
	t.Helper()
	r, err := site.send("GET", "/v1/products/"+id, nil, "", "Accept-Language", "de-DE")
	if err != nil || r.status != 200 || !strings.Contains(string(r.body), "Messing") {
		return fmt.Errorf("product read: %v %d %s", err, r.status, r.body)
	}
	for _, path := range []string{"/v1/products?category=lamps", "/v1/products?q=readers", "/v1/products?q=brass&min_price=1000"} {
		r, err := site.send("GET", path, nil, "")
		if err != nil || r.status != 200 {
			return fmt.Errorf("%s: %v %d %s", path, err, r.status, r.body)
		}
		if p := r.page(t); len(p.Items) != 1 || p.Items[0].ID != id || p.Facets.Total != 1 {
			return fmt.Errorf("%s: %s", path, r.body)
		}
	}
	if r, err := site.send("GET", "/v1/categories", nil, ""); err != nil || r.status != 200 || !strings.Contains(string(r.body), `"lamps"`) {
		return fmt.Errorf("category tree: %v %d %s", err, r.status, r.body)
	}
	return nil
}

// hubJS is JetStream of the hub's domain.
func (e *edge) hubJS(t *testing.T) jetstream.JetStream {
	t.Helper()
	js, err := jetstream.NewWithDomain(e.nc, bus.HubDomain)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// TestEdgeCatalogOffline: a site started with --leaf and --site is a leaf node of the hub
// with its own JetStream domain; the catalog reaches it by a mirror, and with the link cut
// the site still serves a product read, browsing by category, search and the category tree
// (the hub cannot answer them then: only the site's view can).
func TestEdgeCatalogOffline(t *testing.T) {
	e := startHub(t)
	admin, _ := e.hub.login(adminEmail, adminPassword)
	id := seedEdgeCatalog(t, e.hub, admin, "LAMP-1", 10)
	l := newLink(t, e.leaf)
	site, stop := launchShop(t, siteEnv(t, "north", l.url()))
	defer stop()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	acct, err := e.siteJS(t, "north").AccountInfo(ctx)
	if err != nil || acct.Domain != bus.SiteDomain("north") {
		t.Fatalf("the site's JetStream domain: %v %+v", err, acct)
	}
	expect.Within(t, 60*time.Second, func() error { return browses(t, site, id) })
	expect.Within(t, 30*time.Second, func() error { return linkUp(site, "north", 1) })
	// The site's metrics read its own streams and its mirrors of the hub's buckets.
	expect.Within(t, 60*time.Second, func() error {
		return exports(site, "souk_jetstream_lag_up 1", `souk_jetstream_source_lag{source="KV_products@hub",stream="KV_products"} 0`)
	})
	l.cut()
	expect.Within(t, 30*time.Second, func() error {
		// the site notices the cut: the hub's services no longer answer there
		if r, err := site.send("GET", "/v1/products/"+id+"/reviews", nil, ""); err == nil && r.status == 200 {
			return fmt.Errorf("the hub still answers at the site")
		}
		return nil
	})
	expect.Within(t, 30*time.Second, func() error { return linkUp(site, "north", 0) })
	if err := browses(t, site, id); err != nil {
		t.Fatalf("with the link cut: %v", err)
	}
}

// linkUp checks that the site's /metrics says its link to the hub is up (1) or cut (0).
func linkUp(site *shop, id string, want int) error {
	return exports(site, fmt.Sprintf("souk_site_link_up{site=%q} %d", id, want))
}

// exports checks that s's /metrics holds each of series, a whole line (name, labels, value).
func exports(s *shop, series ...string) error {
	r, err := s.send("GET", "/metrics", nil, "")
	if err != nil {
		return err
	}
	for _, line := range series {
		if !strings.Contains(string(r.body), "\n"+line+"\n") {
			return fmt.Errorf("/metrics lacks %q", line)
		}
	}
	return nil
}
