package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/nats/bus"
	"github.com/souk/souk/subjects"
)

// till is a site's point of sale in a test: its shop, the staff token and the sales made.
type till struct {
	t     *testing.T
	id    string
	env   map[string]string
	link  *link
	shop  *shop
	stop  func()
	token string
	sold  int // units sold, as the till was told
}

func startTill(t *testing.T, e *edge, id, token string) *till {
	t.Helper()
	l := newLink(t, e.leaf)
	tl := &till{t: t, id: id, env: siteEnv(t, id, l.url()), link: l, token: token}
	tl.shop, tl.stop = launchShop(t, tl.env)
	t.Cleanup(func() { tl.stop() })
	return tl
}

// restart stops the site and starts it again on the same data directory.
func (tl *till) restart() {
	tl.t.Helper()
	tl.stop()
	tl.shop, tl.stop = launchShop(tl.t, tl.env)
}

// quota is the site's remaining quota of sku as the site says.
func (tl *till) quota(sku string) (int64, error) {
	r, err := tl.shop.send("GET", "/v1/sites/"+tl.id+"/quotas", nil, tl.token)
	if err != nil || r.status != 200 {
		return 0, fmt.Errorf("site %s quotas: %v %d %s", tl.id, err, r.status, r.body)
	}
	for _, it := range r.json(tl.t)["items"].([]any) {
		if m := it.(map[string]any); m["sku"] == sku {
			return int64(m["available"].(float64)), nil
		}
	}
	return 0, nil
}

// sell sells one unit of sku under key; true when sold, false when the quota is exhausted.
func (tl *till) sell(sku, key string) bool {
	tl.t.Helper()
	r := tl.shop.do("POST", "/v1/sites/"+tl.id+"/sales", map[string]any{"lines": []map[string]any{{"sku": sku, "quantity": 1}}},
		tl.token, "Idempotency-Key", key)
	switch {
	case r.status == 201:
		return true
	case r.status == 409 && strings.HasSuffix(r.json(tl.t)["type"].(string), "/quota_exhausted"):
		return false
	}
	tl.t.Fatalf("site %s sale %s: %d %s\nlogs:\n%s", tl.id, key, r.status, r.body, tl.shop.logs.String())
	return false
}

// sellOut sells one unit at a time from n tills of the site at once until the quota is
// exhausted, and returns the units sold: compare-and-set makes concurrent tills share it.
func (tl *till) sellOut(sku, round string) int {
	var mu sync.Mutex
	sold := 0
	var wg sync.WaitGroup
	for w := range 3 {
		wg.Go(func() {
			for i := 0; i < 10; i++ { // bounded: a site that oversold would sell on
				if !tl.sell(sku, fmt.Sprintf("%s-%s-%d-%d", tl.id, round, w, i)) {
					return
				}
				mu.Lock()
				sold++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return sold
}

// TestEdgeSitesSellOffline is the proof of the edge: stock 10 at the hub; 4 granted to each of
// two sites; each sells one while linked; both links cut; each site still browses and
// searches, and sells (three tills at once) until refused — one of them restarted while cut,
// selling before and after; the hub holds its last 2 for an online order. No site sells
// more than its quota, and no unit is sold twice. The cut lasts until the hub's sources of
// the sites' sales have been failing for longer than their retry back-off grows in that
// time (a long cut); then the links heal and every sale reaches the hub exactly once, and
// the quotas reconcile with nothing unaccounted for.
func TestEdgeSitesSellOffline(t *testing.T) {
	e := startHub(t)
	admin, _ := e.hub.login(adminEmail, adminPassword)
	const sku = "LAMP-1"
	id := seedEdgeCatalog(t, e.hub, admin, sku, 10)
	sites := []*till{startTill(t, e, "north", admin), startTill(t, e, "south", admin)}

	for _, s := range sites {
		r := e.hub.do("POST", "/v1/admin/sites/"+s.id+"/quotas", map[string]any{"sku": sku, "quantity": 4}, admin)
		e.hub.expect(r, 200, "grant "+s.id)
	}
	e.hub.expectProblem(e.hub.do("POST", "/v1/admin/sites/north/quotas", map[string]any{"sku": sku, "quantity": 3}, admin), 409, "", "a grant beyond the hub's stock")
	expectAvailable(t, e.hub, admin, sku, 2)
	for _, s := range sites {
		expect.Within(t, 60*time.Second, func() error {
			if n, err := s.quota(sku); err != nil || n != 4 {
				return fmt.Errorf("site %s quota %d: %v", s.id, n, err)
			}
			return browses(t, s.shop, id)
		})
		if !s.sell(sku, s.id+"-linked") { // sold while linked: must not be captured twice
			t.Fatalf("site %s refused a sale with quota", s.id)
		}
		s.sold++
	}

	for _, s := range sites {
		s.link.cut()
	}
	cutAt := time.Now()
	for _, s := range sites {
		expect.Within(t, 30*time.Second, func() error {
			if r, err := s.shop.send("GET", "/v1/products/"+id+"/reviews", nil, ""); err == nil && r.status == 200 {
				return fmt.Errorf("the hub still answers at site %s", s.id)
			}
			return nil
		})
		if err := browses(t, s.shop, id); err != nil {
			t.Fatalf("site %s with the link cut: %v", s.id, err)
		}
	}
	north, south := sites[0], sites[1]
	if !north.sell(sku, "north-cut-0") {
		t.Fatal("north refused a sale with quota, cut off")
	}
	north.sold++
	if again := north.sell(sku, "north-cut-0"); !again { // a retry of the same sale: answered, not sold twice
		t.Fatal("a retried sale was refused")
	}
	north.restart() // while cut: the sales before and after must all arrive
	north.sold += north.sellOut(sku, "after-restart")
	south.sold += south.sellOut(sku, "cut")
	for _, s := range sites {
		if s.sold != 4 {
			t.Errorf("site %s sold %d units of a quota of 4", s.id, s.sold)
		}
	}
	holdOnline(t, e, admin, sku) // the hub sells its own 2 meanwhile

	waitSourcesStale(t, e, cutAt, 40*time.Second)
	for _, s := range sites {
		s.link.heal(t)
	}
	expect.Within(t, 90*time.Second, func() error { return salesRecorded(t, e, 8) })
	for _, s := range sites {
		expectReconciled(t, e, admin, s, sku)
		// The hub's SITE_SALES caught up with the site's SALES: a lag of 0 by source.
		expect.Within(t, 60*time.Second, func() error {
			return exports(e.hub, `souk_jetstream_source_lag{source="SALES@`+bus.SiteDomain(s.id)+`",stream="SITE_SALES"} 0`)
		})
	}
	expectAvailable(t, e.hub, admin, sku, 0)
	// The hub counted each sale once (the linked ones too, and the retried one not again),
	// and the units it granted; the returns gave nothing back.
	var series []string
	for _, s := range sites {
		series = append(series, fmt.Sprintf("souk_site_sales_total{site=%q} 4", s.id),
			fmt.Sprintf("souk_site_quota_granted_units_total{site=%q} 4", s.id),
			fmt.Sprintf("souk_site_quota_returned_units_total{site=%q} 0", s.id))
	}
	expect.Within(t, 30*time.Second, func() error { return exports(e.hub, series...) })
	// The sites' log lines reached the hub's LOGS too, each once: north started twice (once
	// while cut), south once.
	for _, s := range sites {
		expect.Within(t, 90*time.Second, func() error { return siteStarts(t, e, s.id, map[string]int{"north": 2, "south": 1}[s.id]) })
	}
}

// siteStarts checks that souk logs at the hub shows n start-up lines of site id, and only
// lines of that site.
func siteStarts(t *testing.T, e *edge, id string, n int) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	starts := 0
	for _, l := range soukLogs(t, ctx, "nats://"+e.hub.env["SOUK_NATS_LISTEN"], "-site", id) {
		if l.Origin != bus.SiteDomain(id) {
			t.Fatalf("souk logs -site %s printed a line of %s", id, l.Origin)
		}
		if l.Message == "souk starting" {
			starts++
		}
	}
	if starts != n {
		return fmt.Errorf("site %s: %d start-up lines at the hub, want %d", id, starts, n)
	}
	return nil
}

// expectAvailable checks the hub's available stock of sku.
func expectAvailable(t *testing.T, hub *shop, admin, sku string, want int64) {
	t.Helper()
	r := hub.do("GET", "/v1/inventory/"+sku, nil, admin)
	hub.expect(r, 200, "stock")
	if got := int64(r.json(t)["available"].(float64)); got != want {
		t.Fatalf("the hub's available %s: %d, want %d", sku, got, want)
	}
}

// holdOnline holds the hub's last units for an online order (the checkout's reservation), and
// is refused one more.
func holdOnline(t *testing.T, e *edge, admin, sku string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(subjects.WithMeta(context.Background(), subjects.Meta{Authorization: "Bearer " + admin}), 30*time.Second)
	defer cancel()
	order := func(qty int) (subjects.Reservation, error) {
		return subjects.InventoryReserve.Call(ctx, e.nc, subjects.ReserveRequest{OrderID: uuid.NewString(),
			Lines: []subjects.ReserveLine{{SKU: sku, Quantity: qty}}})
	}
	var serr *subjects.Error
	if _, err := order(3); !errors.As(err, &serr) || serr.Code != 422 {
		t.Fatalf("an online order of 3 with 2 left: %v, want 422", err)
	}
	if r, err := order(2); err != nil || r.Status != subjects.ReservationHeld {
		t.Fatalf("an online order of the last 2: %+v %v", r, err)
	}
}

// waitSourcesStale waits until the links have been cut for d and the hub's SITE_SALES has
// heard from no site's SALES for a health check (10 s) or more (a source the server reset
// while retrying reports no last contact at all): long enough for the sources' retries to
// back off (nats-server retries a source at its 10 s health check with a back-off of 10 s per
// failure, up to 2 min).
func waitSourcesStale(t *testing.T, e *edge, cutAt time.Time, d time.Duration) {
	t.Helper()
	js := e.hubJS(t)
	expect.Within(t, d+60*time.Second, func() error {
		if cut := time.Since(cutAt); cut < d {
			return fmt.Errorf("cut for %s of %s", cut.Round(time.Second), d)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s, err := js.Stream(ctx, subjects.StreamSiteSales)
		if err != nil {
			return err
		}
		info := s.CachedInfo()
		if len(info.Sources) != 2 {
			return fmt.Errorf("SITE_SALES has %d sources", len(info.Sources))
		}
		for _, src := range info.Sources {
			if src.Active >= 0 && src.Active < 10*time.Second {
				return fmt.Errorf("source %s heard from %s ago", src.Name, src.Active)
			}
		}
		return nil
	})
}

// salesRecorded waits until the hub recorded n sales, and checks none twice.
func salesRecorded(t *testing.T, e *edge, n int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, e.hub.env["DATABASE_URL"])
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	var rows, ids int
	var units int64
	err = conn.QueryRow(ctx, `select count(*), count(distinct sale_id), coalesce(sum((l->>'quantity')::bigint), 0)
		from inventory.site_sales, jsonb_array_elements(lines) l`).Scan(&rows, &ids, &units)
	if err != nil {
		return err
	}
	if rows != ids || int64(rows) != units {
		t.Fatalf("sales recorded %d, distinct %d, units %d", rows, ids, units)
	}
	if rows != n {
		return fmt.Errorf("%d sales recorded of %d", rows, n)
	}
	return nil
}

// expectReconciled checks site's reconciliation: 4 granted, 4 sold, 0 remaining, nothing
// unaccounted for; a return gives nothing back; and the site's own SALES stream holds its
// own sales only (a stream that captured the other site's sales would hold more).
func expectReconciled(t *testing.T, e *edge, admin string, s *till, sku string) {
	t.Helper()
	expect.Within(t, 30*time.Second, func() error {
		r := e.hub.do("GET", "/v1/admin/sites/"+s.id+"/quotas", nil, admin)
		m := r.json(t)
		if r.status != 200 || m["reachable"] != true {
			return fmt.Errorf("report %s: %d %s", s.id, r.status, r.body)
		}
		line := m["lines"].([]any)[0].(map[string]any)
		want := map[string]float64{"granted": 4, "sold": 4, "returned": 0, "remaining": 0, "unaccounted": 0}
		for k, v := range want {
			if line[k] != v {
				return fmt.Errorf("report %s: %s %v, want %v: %s", s.id, k, line[k], v, r.body)
			}
		}
		if m["site_sales"] != m["recorded_sales"] {
			return fmt.Errorf("report %s: in transit: %s", s.id, r.body)
		}
		return nil
	})
	r := e.hub.do("POST", "/v1/admin/sites/"+s.id+"/quotas/"+sku+"/return", nil, admin)
	e.hub.expect(r, 200, "return "+s.id)
	if r.json(t)["returned"] != float64(0) {
		t.Fatalf("a return with nothing unaccounted for gave units back: %s", r.body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := e.siteJS(t, s.id).Stream(ctx, subjects.StreamSales)
	if err != nil {
		t.Fatal(err)
	}
	if n := st.CachedInfo().State.Msgs; n != uint64(s.sold) {
		t.Fatalf("site %s's SALES holds %d sales; it made %s", s.id, n, strconv.Itoa(s.sold))
	}
}
