package order_test

import (
	"maps"
	"testing"
	"time"

	"github.com/souk/souk/subjects"
)

// businessCounts reads the business counters of the saga's instances, by a short name.
func (s *saga) businessCounts() map[string]float64 {
	s.T.Helper()
	s.AtRest(30 * time.Second)
	got := map[string]float64{}
	for _, st := range []string{"placed", "reserved", "paid", "fulfilling", "shipped", "delivered", "cancelled"} {
		got["orders "+st] = s.order.Counter(s.T, "souk_orders_total", "status", st)
	}
	for _, r := range []string{subjects.ReasonPaymentFailed, subjects.ReasonCustomer, subjects.ReasonOutOfStock, "other"} {
		got["cancelled "+r] = s.order.Counter(s.T, "souk_orders_cancelled_total", "reason", r)
	}
	got["revenue EUR"] = s.payment.Counter(s.T, "souk_revenue_minor_units_total", "currency", "EUR")
	got["refunds EUR"] = s.payment.Counter(s.T, "souk_refunds_minor_units_total", "currency", "EUR")
	got["declined card_declined"] = s.payment.Counter(s.T, "souk_payment_failures_total", "code", "card_declined")
	got["declined"] = s.payment.Counter(s.T, "souk_payment_failures_total")
	got["stockouts"] = s.inventory.Counter(s.T, "souk_inventory_stockouts_total")
	got["redemptions"] = s.promotion.Counter(s.T, "souk_promotion_redemptions_total")
	return got
}

// The business counters count each fact once, after it committed: after a paid order, a
// declined one, one paid then cancelled by its customer (and refunded) and one out of stock,
// every counter says exactly that (revenue is the captured minor units), and every event of
// ORDERS, INVENTORY and PAYMENTS delivered again under a new identity (the processed tables
// do not know the copies; the handlers run and find nothing to change) leaves every counter
// where it was.
func TestBusinessCountersCountEachFactOnce(t *testing.T) {
	s := newSaga(t)
	p := s.stocked("BIZ-1", 10, 2000)
	s.coupon("BIZTEN")
	s.everyOutcome(p.ID, "BIZTEN")

	// 2 × 20.00 and 1 × 20.00, 10 % off each: 36.00 and 18.00 captured; the second refunded.
	want := map[string]float64{
		"orders placed": 4, "orders reserved": 3, "orders paid": 2, "orders fulfilling": 0, "orders shipped": 0,
		"orders delivered": 0, "orders cancelled": 3,
		"cancelled payment_failed": 1, "cancelled customer": 1, "cancelled out_of_stock": 1, "cancelled other": 0,
		"revenue EUR": 3600 + 1800, "refunds EUR": 1800, "declined card_declined": 1, "declined": 1,
		"stockouts": 1, "redemptions": 2,
	}
	before := s.businessCounts()
	if !maps.Equal(before, want) {
		t.Fatalf("counters after the checkouts:\n got %v\nwant %v", before, want)
	}

	s.republish("ORDERS", "INVENTORY", "PAYMENTS")
	if after := s.businessCounts(); !maps.Equal(after, want) {
		t.Fatalf("the copies changed the counters:\n got %v\nwant %v", after, want)
	}
}
