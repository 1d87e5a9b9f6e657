package order_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/internal/shoptest"
	"github.com/souk/souk/subjects"
)

// newFulfilment is the checkout shop with the shipping service running too.
func newFulfilment(t *testing.T) *saga {
	s := newSaga(t)
	s.StartShipping(shoptest.ShippingConfig())
	return s
}

// shipped waits until the order's copy of its shipment has status and returns the order.
func (s *saga) shipped(id, status string) subjects.Order {
	s.T.Helper()
	var o subjects.Order
	expect.Within(s.T, 20*time.Second, func() error {
		if o = s.get(id); o.Shipment == nil || o.Shipment.Status != status {
			return fmt.Errorf("order %s: shipment %+v, want %s", id, o.Shipment, status)
		}
		return nil
	})
	return o
}

// move moves the order's shipment to status as staff.
func (s *saga) move(shipmentID, status, tracking string) error {
	_, err := subjects.ShipmentSetStatus.Call(s.Staff, s.NC, subjects.ShipmentStatusRequest{ID: shipmentID, Status: status, TrackingNumber: tracking})
	return err
}

// orderKinds returns the statuses of the ORDERS events about id, oldest first.
func (s *saga) orderKinds(id string) []string {
	s.T.Helper()
	var out []string
	for _, m := range s.Messages("ORDERS", "souk.evt.order.*."+id) {
		var ev struct {
			Status string `json:"status"`
		}
		if err := json.Unmarshal(m.Data(), &ev); err != nil {
			s.T.Fatal(err)
		}
		out = append(out, ev.Status)
	}
	return out
}

// A paid order follows its shipment to delivered: fulfilling when the shipment is created,
// shipped, then delivered (in_transit changes only its copy), each status once in its
// history and once on ORDERS, however often the shipping events arrive.
func TestAnOrderFollowsItsShipmentToDelivered(t *testing.T) {
	s := newFulfilment(t)
	p := s.stocked("SHIP-1", 5, 1500)
	placed, owner := s.checkout(p.ID, 1, "pm_card_visa", "")
	o := s.waitFor(placed.ID, subjects.OrderStatusFulfilling, "")
	sh := o.Shipment
	if sh == nil || sh.Status != subjects.ShipmentPending || sh.ID == "" {
		t.Fatalf("fulfilling order without its shipment: %+v", o.Shipment)
	}
	for _, step := range []struct{ status, tracking string }{
		{subjects.ShipmentPacked, ""}, {subjects.ShipmentShipped, "1Z999AA10123456784"}, {subjects.ShipmentInTransit, ""},
	} {
		if err := s.move(sh.ID, step.status, step.tracking); err != nil {
			t.Fatalf("move to %s: %v", step.status, err)
		}
	}
	o = s.shipped(placed.ID, subjects.ShipmentInTransit)
	if o.Status != subjects.OrderStatusShipped || o.Shipment.TrackingNumber != "1Z999AA10123456784" {
		t.Fatalf("order of a parcel in transit: %s %+v", o.Status, o.Shipment)
	}
	_, err := subjects.OrderCancel.Call(owner, s.NC, subjects.OrderIDRequest{ID: placed.ID})
	expect.Error(t, err, 409, "not_cancellable", "")

	if err := s.move(sh.ID, subjects.ShipmentDelivered, ""); err != nil {
		t.Fatal(err)
	}
	s.waitFor(placed.ID, subjects.OrderStatusDelivered, "")
	// Every shipping event once more, under new ids: the order changes no further.
	for _, m := range s.Messages("SHIPPING", "souk.evt.shipping.*."+placed.ID) {
		if _, err := s.JS.Publish(s.Ctx, m.Subject(), m.Data()); err != nil {
			t.Fatal(err)
		}
	}
	s.AtRest(15 * time.Second)
	want := []string{"pending", "reserved", "paid", "fulfilling", "shipped", "delivered"}
	o, err = subjects.OrderGet.Call(owner, s.NC, subjects.OrderIDRequest{ID: placed.ID})
	if err != nil || !slices.Equal(statuses(o), want) || o.Shipment.Status != subjects.ShipmentDelivered {
		t.Fatalf("delivered order: %v %+v (%v)", statuses(o), o.Shipment, err)
	}
	if kinds := s.orderKinds(placed.ID); !slices.Equal(kinds, want) {
		t.Fatalf("ORDERS events: %v, want %v", kinds, want)
	}
	// The funnel counted each step of the order once, the repeated shipping events none.
	for _, st := range []string{"placed", "reserved", "paid", "fulfilling", "shipped", "delivered"} {
		if n := s.order.Counter(t, "souk_orders_total", "status", st); n != 1 {
			t.Errorf("souk_orders_total{status=%q} = %v, want 1", st, n)
		}
	}
}

// Cancelling a fulfilling order stops its shipment first: the shipment is cancelled and can
// no longer ship, the order cancelled and refunded.
func TestCancellingAFulfillingOrderStopsItsShipment(t *testing.T) {
	s := newFulfilment(t)
	p := s.stocked("SHIP-2", 5, 1500)
	placed, owner := s.checkout(p.ID, 1, "pm_card_visa", "")
	o := s.waitFor(placed.ID, subjects.OrderStatusFulfilling, "")
	if err := s.move(o.Shipment.ID, subjects.ShipmentPacked, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := subjects.OrderCancel.Call(owner, s.NC, subjects.OrderIDRequest{ID: placed.ID}); err != nil {
		t.Fatalf("cancel a fulfilling order: %v", err)
	}
	sh, err := subjects.ShipmentGet.Call(owner, s.NC, subjects.ShipmentOrderRequest{OrderID: placed.ID})
	if err != nil || sh.Status != subjects.ShipmentCancelled {
		t.Fatalf("the shipment of a cancelled order: %+v %v", sh, err)
	}
	err = s.move(o.Shipment.ID, subjects.ShipmentShipped, "1Z999")
	expect.Error(t, err, 409, "illegal_move", "")
	s.shipped(placed.ID, subjects.ShipmentCancelled)
	o = s.waitFor(placed.ID, subjects.OrderStatusCancelled, subjects.ReasonCustomer)
	expect.Within(t, 20*time.Second, func() error {
		if o = s.get(placed.ID); o.Payment == nil || o.Payment.Refunded.Amount != 1500 {
			return fmt.Errorf("cancelled order not refunded yet: %+v", o.Payment)
		}
		return nil
	})
}
