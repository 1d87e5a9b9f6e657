package order

import (
	"slices"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/souk/souk/platform/metrics"
	"github.com/souk/souk/subjects"
)

// The order service's business counters: the checkout funnel. An order counts in a status
// once, when the transaction that moved it there committed (the placement's insert, or
// Store.Update's transaction through pg.AfterCommit), so a redelivered event, a retried
// placement or a second instance finds nothing to change and counts nothing.

// statusPlaced is the label of an order's placement: it enters the state machine as pending,
// and the funnel calls that step placed (the event is order.placed).
const statusPlaced = "placed"

// funnelStatuses are the status label's values: placed, then every status an order moves to
// (subjects.OrderStatuses after pending, which only a placement enters).
var funnelStatuses = append([]string{statusPlaced}, slices.DeleteFunc(slices.Clone(subjects.OrderStatuses),
	func(s string) bool { return s == subjects.OrderStatusPending })...)

// cancelReasons are the reason label's values: the reasons the order service cancels with,
// and reasonOther for a reason it does not know (a shipment cancelled with a reason of the
// shipping service's own).
var cancelReasons = []string{subjects.ReasonOutOfStock, subjects.ReasonPaymentFailed, subjects.ReasonPaymentTimeout,
	subjects.ReasonCustomer, subjects.ReasonStaff, subjects.ReasonNotConfirmed, subjects.ReasonCouponRefused, reasonOther}

// reasonOther is a cancellation reason outside cancelReasons.
const reasonOther = "other"

// counts are the funnel's counters; a nil *counts counts nothing (a store a test makes).
type counts struct {
	orders    *prometheus.CounterVec
	cancelled *prometheus.CounterVec
}

// newCounts registers the counters on reg, every label value at 0 so that rate() and the
// funnel's ratios have series from the first scrape.
func newCounts(reg prometheus.Registerer) *counts {
	c := &counts{
		orders: metrics.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "souk_orders_total",
			Help: "Orders that reached each status (placed: stored; then reserved, paid, fulfilling, shipped, delivered, cancelled), each counted once when its transaction committed.",
		}, []string{"status"})),
		cancelled: metrics.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "souk_orders_cancelled_total",
			Help: "Orders cancelled, by reason (out_of_stock, payment_failed, payment_timeout, customer, staff, not_confirmed, coupon_refused, other).",
		}, []string{"reason"})),
	}
	for _, s := range funnelStatuses {
		c.orders.WithLabelValues(s)
	}
	for _, r := range cancelReasons {
		c.cancelled.WithLabelValues(r)
	}
	return c
}

// placed counts one order stored.
func (c *counts) placed() {
	if c != nil {
		c.orders.WithLabelValues(statusPlaced).Inc()
	}
}

// moved counts the statuses an order entered (its new history entries).
func (c *counts) moved(entries []subjects.OrderStatus) {
	if c == nil {
		return
	}
	for _, h := range entries {
		if !slices.Contains(funnelStatuses, h.Status) {
			continue // pending: only a placement enters it, counted as placed
		}
		c.orders.WithLabelValues(h.Status).Inc()
		if h.Status == subjects.OrderStatusCancelled {
			reason := h.Reason
			if !slices.Contains(cancelReasons, reason) {
				reason = reasonOther
			}
			c.cancelled.WithLabelValues(reason).Inc()
		}
	}
}
