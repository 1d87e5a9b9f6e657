package order_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/internal/shoptest"
	"github.com/souk/souk/services/order"
	"github.com/souk/souk/subjects"
)

// The race of issue 12 item 7, with the shipment still in the warehouse: a hold runs out
// unpaid while the order service is down, another buyer holds the last unit, the payment
// comes late and the order is paid and fulfilling (shipping.created applied) before the
// inventory service, back, rejects its order.paid out of stock. The order ends cancelled
// out_of_stock, its payment refunded in full exactly once, its shipment cancelled; the other
// buyer's hold stands, the stock adds up and nothing is dead-lettered.
func TestALateOutOfStockCancelsAFulfillingOrder(t *testing.T) {
	r := lateOutOfStock(t, false)
	s, id := r.saga, r.order
	o := s.waitFor(id, subjects.OrderStatusCancelled, subjects.ReasonOutOfStock)
	if got := strings.Join(statuses(o), ">"); got != "pending>reserved>paid>fulfilling>cancelled" {
		t.Fatalf("order went %s", got)
	}
	expect.Within(t, 20*time.Second, func() error {
		if o = s.get(id); o.Payment == nil || o.Payment.Refunded != o.Total || o.Total.Amount != 1500 {
			return fmt.Errorf("refund of %v not recorded yet: %+v", o.Total, o.Payment)
		}
		return nil
	})
	s.shipped(id, subjects.ShipmentCancelled)
	s.AtRest(20 * time.Second)
	if refunds := s.rows(`select concat_ws(' ', amount, currency) from payments.refunds where order_id = '` + id + `'`); len(refunds) != 1 || refunds[0] != "1500 EUR" {
		t.Fatalf("refunds of the order: %v, want one of 1500 EUR", refunds)
	}
	sh, err := subjects.ShipmentGet.Call(s.Staff, s.NC, subjects.ShipmentOrderRequest{OrderID: id})
	if err != nil || sh.Status != subjects.ShipmentCancelled {
		t.Fatalf("shipment of the cancelled order: %+v %v", sh, err)
	}
	r.settled(t)
}

// The same race when staff shipped the parcel before the rejection arrived: nothing can be
// undone, so the order stays shipped and its payment kept, and the order service raises the
// operator's alarm (souk_order_shipped_without_stock_total) instead of cancelling.
func TestALateOutOfStockAfterTheParcelLeftRaisesTheAlarm(t *testing.T) {
	r := lateOutOfStock(t, true)
	s, id := r.saga, r.order
	expect.Within(t, 20*time.Second, func() error {
		if n := r.orders.Counter(t, "souk_order_shipped_without_stock_total"); n != 1 {
			return fmt.Errorf("alarm raised %v times, want once", n)
		}
		return nil
	})
	s.AtRest(20 * time.Second)
	o := s.get(id)
	if o.Status != subjects.OrderStatusShipped || o.Payment == nil || o.Payment.Refunded.Amount != 0 {
		t.Fatalf("shipped order after the late rejection: %s %+v", o.Status, o.Payment)
	}
	r.settled(t)
}

// race is the shop after lateOutOfStock: the order id and the order instance.
type race struct {
	saga   *saga
	order  string
	orders *shoptest.Instance
	sku    string
}

// lateOutOfStock sets up the race up to the inventory's rejection (see
// TestALateOutOfStockCancelsAFulfillingOrder); with ship, staff ships the parcel first.
func lateOutOfStock(t *testing.T, ship bool) *race {
	t.Helper()
	e := shoptest.NewEnv(t)
	e.StartCatalog(shoptest.CatalogConfig())
	e.StartCart(shoptest.CartConfig())
	fast := shoptest.InventoryConfig()
	fast.SweepEvery = 50 * time.Millisecond
	inv := e.StartInventory(fast)
	e.StartPromotion(shoptest.PromotionConfig())
	orders := e.StartOrder(order.Config{})
	e.StartShipping(shoptest.ShippingConfig())
	s := &saga{Env: e}
	const sku = "LATE-1"
	p := s.stocked(sku, 1, 1500)

	// No payment service yet: the order waits reserved.
	placed, _ := s.checkout(p.ID, 1, visa, "")
	s.waitFor(placed.ID, subjects.OrderStatusReserved, "")
	if err := orders.Stop(); err != nil {
		t.Fatal(err)
	}
	// The hold runs out (its deadline moved into the past) while the order service is down.
	if _, err := s.DB.Exec(s.Ctx, `update inventory.reservations set expires_at = now() - interval '1 second' where order_id = $1`, placed.ID); err != nil {
		t.Fatal(err)
	}
	s.wantStock(sku, 1, 0)
	other := shoptest.NewID()
	if _, err := subjects.InventoryReserve.Call(s.Staff, s.NC, subjects.ReserveRequest{OrderID: other,
		Lines: []subjects.ReserveLine{{SKU: sku, Quantity: 1}}}); err != nil {
		t.Fatalf("another buyer holds the last unit: %v", err)
	}
	if err := inv.Stop(); err != nil {
		t.Fatal(err)
	}
	// inventory.expired comes late: held back until the order is fulfilling.
	expired := s.holdBack("INVENTORY", subjects.EvtInventoryExpired.Subject(placed.ID))

	e.StartPayment(shoptest.PaymentConfig())
	orders = e.StartOrder(order.Config{})
	o := s.waitFor(placed.ID, subjects.OrderStatusFulfilling, "")
	if ship {
		if err := s.move(o.Shipment.ID, subjects.ShipmentShipped, "1Z999AA10123456784"); err != nil {
			t.Fatal(err)
		}
		s.waitFor(placed.ID, subjects.OrderStatusShipped, "")
	}
	e.StartInventory(fast)
	expired()
	return &race{saga: s, order: placed.ID, orders: orders, sku: sku}
}

// settled checks what every outcome of the race shares: the order's reservation rejected
// out of stock, the other buyer's hold standing (on hand 1, reserved 1), nothing
// dead-lettered.
func (r *race) settled(t *testing.T) {
	t.Helper()
	r.saga.wantStock(r.sku, 1, 1)
	if st := r.saga.rows(`select status || ' ' || reason from inventory.reservations where order_id = '` + r.order + `'`); len(st) != 1 || st[0] != "rejected out_of_stock" {
		t.Fatalf("the order's reservation: %v", st)
	}
	r.saga.noDeadLetters()
}

// holdBack deletes the last message on subject from stream, as if it were still on its way,
// and returns the function that delivers it (a copy, under a new id).
func (s *saga) holdBack(stream, subject string) (deliver func()) {
	s.T.Helper()
	str, err := s.JS.Stream(s.Ctx, stream)
	if err != nil {
		s.T.Fatal(err)
	}
	var m *jetstream.RawStreamMsg
	expect.Within(s.T, 20*time.Second, func() error { // the relay publishes it after the commit
		m, err = str.GetLastMsgForSubject(s.Ctx, subject)
		return err
	})
	if err := str.DeleteMsg(s.Ctx, m.Sequence); err != nil {
		s.T.Fatalf("hold back %s: %v", subject, err)
	}
	return func() {
		s.T.Helper()
		if _, err := s.JS.Publish(s.Ctx, subject, m.Data); err != nil {
			s.T.Fatalf("deliver %s late: %v", subject, err)
		}
	}
}

// noDeadLetters fails the test if the dead-letter stream holds anything.
func (s *saga) noDeadLetters() {
	s.T.Helper()
	str, err := s.JS.Stream(s.Ctx, "DLQ")
	if err != nil {
		s.T.Fatal(err)
	}
	info, err := str.Info(s.Ctx)
	if err != nil {
		s.T.Fatal(err)
	}
	if info.State.Msgs != 0 {
		for _, m := range s.Messages("DLQ") {
			s.T.Errorf("dead letter %s: %v %s", m.Subject(), m.Headers(), m.Data())
		}
		s.T.Fatalf("%d dead letters", info.State.Msgs)
	}
}
