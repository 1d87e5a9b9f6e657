package order

import (
	"testing"

	"github.com/souk/souk/subjects"
)

// The order follows its shipment's events in any order and any number: never backwards,
// one event per status reached, and its copy of the shipment never older than the newest.
func TestAnOrderFollowsItsShipmentForwardOnly(t *testing.T) {
	ev := func(status string) subjects.ShipmentEvent {
		return subjects.ShipmentEvent{ShipmentID: "s1", OrderID: "o1", Status: status, Carrier: "manual", TrackingNumber: "1Z", Reason: subjects.ReasonCustomer}
	}
	cases := []struct {
		name     string
		from     string
		events   []string
		want     string
		copy     string
		produced int
	}{
		{"created", subjects.OrderStatusPaid, []string{"pending", "pending"}, subjects.OrderStatusFulfilling, "pending", 1},
		{"step by step", subjects.OrderStatusPaid, []string{"pending", "packed", "shipped", "in_transit", "delivered"}, subjects.OrderStatusDelivered, "delivered", 3},
		{"late and repeated", subjects.OrderStatusPaid, []string{"shipped", "pending", "delivered", "in_transit", "shipped"}, subjects.OrderStatusDelivered, "delivered", 2},
		{"in transit means shipped", subjects.OrderStatusFulfilling, []string{"in_transit"}, subjects.OrderStatusShipped, "in_transit", 1},
		{"cancelled shipment", subjects.OrderStatusFulfilling, []string{"packed", "cancelled", "cancelled"}, subjects.OrderStatusCancelled, "cancelled", 1},
		{"cancelled order", subjects.OrderStatusCancelled, []string{"pending", "cancelled"}, subjects.OrderStatusCancelled, "cancelled", 0},
	}
	for _, c := range cases {
		o := &Order{Status: c.from, Currency: "EUR"}
		produced := 0
		for _, s := range c.events {
			events, err := shipmentChanged(ev(s))(o)
			if err != nil {
				t.Fatalf("%s: %s: %v", c.name, s, err)
			}
			produced += len(events)
		}
		if o.Status != c.want || o.Shipment == nil || o.Shipment.Status != c.copy || produced != c.produced {
			t.Errorf("%s: status %s, copy %+v, %d events; want %s, %s, %d", c.name, o.Status, o.Shipment, produced, c.want, c.copy, c.produced)
		}
		if c.want == subjects.OrderStatusCancelled && c.from != subjects.OrderStatusCancelled && o.CancelReason != subjects.ReasonCustomer {
			t.Errorf("%s: cancel reason %q", c.name, o.CancelReason)
		}
	}
	o := &Order{Status: subjects.OrderStatusShipped}
	if events, err := shipmentChanged(ev(subjects.ShipmentCancelled))(o); len(events) != 0 || err != nil || o.Status != subjects.OrderStatusShipped {
		t.Fatalf("a shipped order followed a cancelled shipment: %s %v", o.Status, err)
	}
	o = &Order{Status: subjects.OrderStatusPaid}
	events, _ := shipmentChanged(ev(subjects.ShipmentDelivered))(o)
	if len(events) != 1 || events[0].Subject != subjects.EvtOrderDelivered.Kind+"."+o.ID.String() {
		t.Fatalf("delivered event: %+v", events)
	}
	if p, ok := events[0].Payload.(subjects.OrderFulfilment); !ok || p.Status != subjects.OrderStatusDelivered || p.Shipment.TrackingNumber != "1Z" {
		t.Fatalf("delivered payload: %+v", events[0].Payload)
	}
}
