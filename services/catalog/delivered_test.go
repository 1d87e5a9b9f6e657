package catalog_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/services/catalog"
	"github.com/souk/souk/subjects"
)

// A delivered order is a purchase for the review rules: its order.delivered alone lets the
// buyer review, and with its order.paid (and the fulfilling and shipped events between) it
// is still one purchase.
func TestADeliveredOrderCountsAsAPurchase(t *testing.T) {
	e := newEnv(t)
	e.start(catalog.Config{})
	_, p := headphones(e)
	fulfilment := func(evt subjects.Event[subjects.OrderFulfilment], user, order string) {
		ev := subjects.OrderFulfilment{EventID: uuid.Must(uuid.NewV7()).String(), OccurredAt: time.Now().UTC(), OrderID: order, UserID: user,
			Status: evt.Kind[len(subjects.EvtOrder.Kind)+1:], Shipment: subjects.OrderShipment{ID: "s1", Status: "delivered", TrackingNumber: "1Z"},
			Lines: []subjects.OrderLine{{ProductID: p.ID, SKU: "x", Quantity: 1, UnitPrice: eur(100)}}}
		e.publish(evt.Subject(order), ev.EventID, ev)
	}

	delivered := uuid.Must(uuid.NewV7()).String() // its order.paid never reached the catalog
	fulfilment(subjects.EvtOrderDelivered, e.customerID, delivered)
	expect.Within(t, 10*time.Second, func() error {
		_, err := subjects.ReviewCreate.Call(e.customer, e.nc, subjects.ReviewCreateRequest{ProductID: p.ID, Rating: 5, Title: "Arrived"})
		return err
	})

	both := uuid.Must(uuid.NewV7()).String()
	e.paid(e.otherID, both, p.ID)
	for _, kind := range []subjects.Event[subjects.OrderFulfilment]{subjects.EvtOrderFulfilling, subjects.EvtOrderShipped, subjects.EvtOrderDelivered} {
		fulfilment(kind, e.otherID, both)
	}
	marker := uuid.Must(uuid.NewV7()).String() // once it counts, the events before it are applied
	fulfilment(subjects.EvtOrderDelivered, e.otherID, marker)
	expect.Within(t, 10*time.Second, func() error {
		var n int
		if err := e.db.QueryRow(e.ctx, `select count(*) from catalog.purchases where order_id = $1`, marker).Scan(&n); err != nil || n != 1 {
			return fmt.Errorf("marker purchase not recorded yet (%v)", err)
		}
		return nil
	})
	var n int
	if err := e.db.QueryRow(e.ctx, `select count(*) from catalog.purchases where order_id = $1`, both).Scan(&n); err != nil || n != 1 {
		t.Fatalf("a paid and delivered order is %d purchases (%v)", n, err)
	}
}
