package order_test

import (
	"strings"
	"testing"
	"time"

	"github.com/souk/souk/internal/shoptest"
	"github.com/souk/souk/services/order"
	"github.com/souk/souk/subjects"
)

// Orders whose order.placed never reaches the inventory (the inventory service is down
// past the deadline, and one order's event is lost outright) do not wait pending forever:
// the sweeper of two order instances cancels each once, not_confirmed, and the promotion
// service returns their coupon redemptions. When the inventory comes back it releases
// what it held of the cancelled orders, remembers the one whose order.placed it never saw,
// and the lost event arriving late after all (a relay's resend) holds nothing: the stock
// adds up, nothing is dead-lettered.
// unanswered starts on e what a placement needs, with the inventory only long enough to
// stock sku (onHand units at price euro cents): no order.placed is answered until the caller
// starts an inventory again. The order service is the caller's to start.
func unanswered(e *shoptest.Env, sku string, onHand, price int64) (*saga, subjects.Product) {
	e.T.Helper()
	e.StartCatalog(shoptest.CatalogConfig())
	e.StartCart(shoptest.CartConfig())
	inv := e.StartInventory(shoptest.InventoryConfig())
	e.StartPromotion(shoptest.PromotionConfig())
	s := &saga{Env: e}
	p := s.stocked(sku, onHand, price)
	if err := inv.Stop(); err != nil {
		e.T.Fatal(err)
	}
	return s, p
}

func TestAPendingOrderPastItsDeadlineIsCancelled(t *testing.T) {
	e := shoptest.NewEnv(t)
	const sku = "SLOW-1"
	s, p := unanswered(e, sku, 5, 2000)
	s.coupon("TENOFF")
	cfg := order.Config{PendingTimeout: time.Second, PendingSweepEvery: 50 * time.Millisecond}
	instances := []*shoptest.Instance{e.StartOrder(cfg), e.StartOrder(cfg)}

	ids := make([]string, 3)
	for i := range ids {
		o, _ := s.checkout(p.ID, 1, visa, "TENOFF")
		ids[i] = o.ID
	}
	for _, id := range ids {
		o := s.waitFor(id, subjects.OrderStatusCancelled, subjects.ReasonNotConfirmed)
		if got := strings.Join(statuses(o), ">"); got != "pending>cancelled" {
			t.Fatalf("order %s went %s", id, got)
		}
	}
	lost := s.holdBack("ORDERS", subjects.EvtOrderPlaced.Subject(ids[0]))
	e.StartInventory(shoptest.InventoryConfig())
	s.AtRest(20 * time.Second)
	lost()
	s.AtRest(20 * time.Second)

	s.wantStock(sku, 5, 0)
	for _, id := range ids {
		if o := s.get(id); o.Status != subjects.OrderStatusCancelled || len(o.History) != 2 {
			t.Errorf("order %s after the late events: %s %v", id, o.Status, statuses(o))
		}
		// A hold given back, or for the lost order a tombstone that never held anything.
		if got := s.rows(`select status from inventory.reservations where order_id = '` + id + `'`); len(got) != 1 || got[0] != "released" {
			t.Errorf("reservation of order %s: %v, want released", id, got)
		}
		if got := s.rows(`select status from promo.redemptions where order_id = '` + id + `'`); len(got) != 1 || got[0] != "returned" {
			t.Errorf("redemption of order %s: %v, want returned", id, got)
		}
		if n := s.rows(`select count(*)::text from orders.outbox where subject = '` +
			subjects.EvtOrderCancelled.Subject(id) + `'`); n[0] != "1" {
			t.Errorf("order %s: %s order.cancelled events, want 1", id, n[0])
		}
	}
	if held := s.rows(`select count(*)::text from inventory.reservation_lines where order_id = '` + ids[0] + `'
		union all select count(*)::text from inventory.outbox where subject = '` +
		subjects.EvtInventoryReserved.Subject(ids[0]) + `'`); held[0] != "0" || held[1] != "0" {
		t.Errorf("the lost order.placed, late, held lines %s, events %s", held[0], held[1])
	}
	s.noDeadLetters()
	// Each order counted placed once and cancelled not_confirmed once, by the two instances
	// together: whichever swept an order counted it, the other found nothing to change.
	var placed, cancelled, notConfirmed float64
	for _, in := range instances {
		placed += in.Counter(t, "souk_orders_total", "status", "placed")
		cancelled += in.Counter(t, "souk_orders_total", "status", "cancelled")
		notConfirmed += in.Counter(t, "souk_orders_cancelled_total", "reason", subjects.ReasonNotConfirmed)
	}
	if placed != 3 || cancelled != 3 || notConfirmed != 3 {
		t.Errorf("placed %v, cancelled %v (not_confirmed %v) across the instances, want 3 each", placed, cancelled, notConfirmed)
	}
}
