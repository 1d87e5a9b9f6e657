package inventory

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/souk/souk/platform/metrics"
)

// The inventory service's business and edge counters. Each counts a change once, after the
// transaction that made it committed (pg.AfterCommit in a consumer's transaction or a
// Reserver batch's; directly after a grant's or a return's own): a reservation asked again
// gets its first outcome without a new decision, and a sale recorded twice is recorded once
// (site_sales' primary key), so neither counts twice.
//
// The site label is bounded by the sites an operator grants quotas to (each one a deployment
// of its own, its id checked by subjects.CheckSite); the sites known at start begin at 0.

// counts are the inventory's counters; a nil *counts counts nothing (a store a test makes).
type counts struct {
	stockouts                prometheus.Counter
	sales, granted, returned *prometheus.CounterVec
}

// newCounts registers the counters on reg.
func newCounts(reg prometheus.Registerer) *counts {
	return &counts{
		stockouts: metrics.Register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "souk_inventory_stockouts_total",
			Help: "Reservations refused (rejected out_of_stock) for lack of stock: at placement, or at payment after the hold expired.",
		})),
		sales: metrics.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "souk_site_sales_total", Help: "Edge sites' sales recorded at the hub, by site.",
		}, []string{"site"})),
		granted: metrics.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "souk_site_quota_granted_units_total", Help: "Stock units granted to edge sites' quotas, by site.",
		}, []string{"site"})),
		returned: metrics.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "souk_site_quota_returned_units_total", Help: "Quota units given back to the hub's stock by reconciliation, by site.",
		}, []string{"site"})),
	}
}

// sites starts the series of sites at 0.
func (c *counts) sites(sites []string) {
	if c == nil {
		return
	}
	for _, s := range sites {
		c.sales.WithLabelValues(s)
		c.granted.WithLabelValues(s)
		c.returned.WithLabelValues(s)
	}
}

func (c *counts) stockout(n int) {
	if c != nil && n > 0 {
		c.stockouts.Add(float64(n))
	}
}

func (c *counts) sale(site string) {
	if c != nil {
		c.sales.WithLabelValues(site).Inc()
	}
}

func (c *counts) grant(site string, units int64) {
	if c != nil && units > 0 {
		c.granted.WithLabelValues(site).Add(float64(units))
	}
}

func (c *counts) giveBack(site string, units int64) {
	if c != nil && units > 0 {
		c.returned.WithLabelValues(site).Add(float64(units))
	}
}
