package main

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/internal/monitoring"
	"github.com/souk/souk/internal/promtest"
	"github.com/souk/souk/platform/metrics"
)

// Every metric the rules and the dashboards name is one Souk exports. What Souk exports is
// taken from the real thing: a hub and an edge site run in-process, a checkout goes through
// to delivered (and a declined one is cancelled), and the names are those both processes'
// /metrics serve, plus every description their registries' collectors give (Describe), so
// that a family with no sample yet (a dead letter, a resend, a site's sale) counts too.
// After the checkout the hub's funnel counters show each step of the funnel dashboard.
func TestMonitoringUsesExportedMetrics(t *testing.T) {
	hubReg, siteReg := metrics.NewRegistry(), metrics.NewRegistry()
	leaf := freeAddr(t)
	env := shopEnv(t)
	env["SOUK_NATS_LEAF_LISTEN"] = leaf
	hub, stop := launchShopIn(context.WithValue(context.Background(), registryKey{}, hubReg), t, env)
	t.Cleanup(stop)
	site, stopSite := launchShopIn(context.WithValue(context.Background(), registryKey{}, siteReg), t, siteEnv(t, "berlin", "nats-leaf://"+leaf))
	t.Cleanup(stopSite)

	hub.checkoutToDelivered()
	scraped := hub.scrape()
	exported := map[string]bool{}
	for name := range scraped {
		exported[name] = true
	}
	siteScrape := site.scrape()
	for name := range siteScrape {
		exported[name] = true
	}
	t.Logf("hub: %d families, site: %d", len(scraped), len(siteScrape))
	for _, r := range []*prometheus.Registry{hubReg, siteReg} {
		for _, name := range described(r) {
			exported[name] = true
		}
	}
	const root = "../.."
	exprs, err := monitoring.Expressions(root)
	if err != nil {
		t.Fatal(err)
	}
	rules, err := monitoring.LoadRules(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range monitoring.Unknown(exprs, rules.Recorded(), exported) {
		t.Errorf("not exported by souk: %s", u)
	}
	t.Logf("%d expressions checked against %d exported metric names", len(exprs), len(exported))

	hubSeries := prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) { return slices.Collect(maps.Values(scraped)), nil })
	for _, step := range monitoring.FunnelSteps {
		if n := promtest.Sum(t, hubSeries, "souk_orders_total", "status", step); n < 1 {
			t.Errorf("souk_orders_total{status=%q} = %v after an order was delivered", step, n)
		}
	}
	if n := promtest.Sum(t, hubSeries, "souk_orders_cancelled_total", "reason", "payment_failed"); n < 1 {
		t.Errorf("souk_orders_cancelled_total{reason=\"payment_failed\"} = %v after a declined order", n)
	}
}

// checkoutToDelivered places an order that is paid, shipped and delivered, and one whose
// payment is declined, and waits for both to settle.
func (s *shop) checkoutToDelivered() {
	t := s.t
	t.Helper()
	admin, _ := s.login(adminEmail, adminPassword)
	mug := s.mug(admin, "MUG-1", 3)
	tok := s.customer("buyer@example.com")
	place := func(card string) string {
		expect.Within(t, 30*time.Second, func() error { // the cart prices from the catalog, which learns the stock from events
			if r := s.do("POST", "/v1/cart/items", map[string]any{"product_id": mug, "quantity": 1}, tok); r.status != 200 {
				return fmt.Errorf("add to cart: %d %s", r.status, r.body)
			}
			return nil
		})
		r := s.do("POST", "/v1/orders", map[string]any{"shipping_address": address, "payment_method": card}, tok)
		s.expect(r, 201, "place an order paid with "+card)
		return r.json(t)["id"].(string)
	}
	id := place("pm_card_visa")
	s.deliver(id, tok, admin)
	declined := place("pm_card_chargeDeclined")
	expect.Within(t, 60*time.Second, func() error {
		if o := s.order(id, tok); o.Status != "delivered" {
			return fmt.Errorf("order %s is %s", id, o.Status)
		}
		if o := s.order(declined, tok); o.Status != "cancelled" {
			return fmt.Errorf("declined order %s is %s", declined, o.Status)
		}
		return nil
	})
}

// scrape reads the shop's /metrics as Prometheus does and returns its families by name.
func (s *shop) scrape() map[string]*dto.MetricFamily {
	s.t.Helper()
	res, err := s.http.Get(s.base + "/metrics")
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		s.t.Fatalf("/metrics answered %d", res.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(res.Body)
	if err != nil {
		s.t.Fatalf("/metrics does not parse: %v", err)
	}
	return families
}

// described returns the name of every metric r's collectors describe.
func described(r *prometheus.Registry) []string {
	descs := make(chan *prometheus.Desc)
	go func() { r.Describe(descs); close(descs) }()
	fqName := regexp.MustCompile(`fqName: "([^"]+)"`)
	var names []string
	for d := range descs {
		if m := fqName.FindStringSubmatch(d.String()); m != nil {
			names = append(names, m[1])
		}
	}
	return names
}
