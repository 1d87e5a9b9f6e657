package catalog_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/services/catalog"
	"github.com/souk/souk/subjects"
)

// hits reads the hits counter of one cache of one instance: see cacheSeries.
func hits(t *testing.T, reg *prometheus.Registry, cache string) float64 {
	t.Helper()
	return cacheSeries(t, reg, "souk_cache_hits_total", cache)
}

// cacheSeries reads the counter name of one cache of one instance; 0 while the instance has
// not made that cache yet (its start returns once either instance answers: they share the
// queue group).
func cacheSeries(t *testing.T, reg *prometheus.Registry, name, cache string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "cache" && l.GetValue() == cache {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// Two instances share the queue group, so reads land on either. Both must stop serving a
// product's old price once the change event has reached them, and serve from their caches
// again afterwards.
func TestAPriceChangeReachesTheCacheOfEveryInstance(t *testing.T) {
	e := newEnv(t)
	regA, _ := e.start(catalog.Config{})
	regB, _ := e.start(catalog.Config{})
	_, p := headphones(e)
	read := func() (subjects.Product, subjects.ProductPage) {
		t.Helper()
		got, err := subjects.ProductGet.Call(e.ctx, e.nc, subjects.ProductIDRequest{ID: p.ID})
		if err != nil {
			t.Fatal(err)
		}
		return got, e.search(subjects.SearchRequest{Q: "studio"})
	}
	// Warm both caches: 40 reads spread over two instances miss one with odds of 2^-40.
	expect.Within(t, 10*time.Second, func() error {
		read()
		if hits(t, regA, "product") == 0 || hits(t, regB, "product") == 0 || hits(t, regA, "search") == 0 || hits(t, regB, "search") == 0 {
			return fmt.Errorf("caches not warm on both instances yet")
		}
		return nil
	})
	if _, err := subjects.ProductUpdate.Call(e.staff, e.nc, subjects.ProductUpdateRequest{ID: p.ID, Price: ptr(eur(4999))}); err != nil {
		t.Fatal(err)
	}
	// The event takes milliseconds to reach the instances; after that no read may be stale.
	var price subjects.PriceChanged
	e.lastEvent(subjects.EvtPriceChanged.Subject(p.ID), &price)
	expect.Within(t, 5*time.Second, func() error {
		for range 40 {
			got, page := read()
			if got.Price.Amount != 4999 || len(page.Items) != 1 || page.Items[0].Price.Amount != 4999 {
				return fmt.Errorf("stale read: product %d, search %+v", got.Price.Amount, page.Items)
			}
		}
		return nil
	})
	for range 40 {
		if got, page := read(); got.Price.Amount != 4999 || page.Items[0].Price.Amount != 4999 {
			t.Fatalf("a stale price came back: %d / %d", got.Price.Amount, page.Items[0].Price.Amount)
		}
	}
	a, b := hits(t, regA, "product"), hits(t, regB, "product")
	for range 40 {
		read()
	}
	if hits(t, regA, "product") == a || hits(t, regB, "product") == b {
		t.Fatal("after the invalidation an instance no longer serves from its cache")
	}
}
