package order

import (
	"errors"
	"testing"

	"github.com/souk/souk/subjects"
)

// An out-of-stock verdict cancels every order that has not shipped, fulfilling ones
// included, with one order.cancelled; a cancelled order stays as it is; a shipped or
// delivered one is errShippedWithoutStock and unchanged.
func TestOutOfStockCancelsWhatHasNotShipped(t *testing.T) {
	for _, c := range []struct {
		from, want string
		events     int
		err        error
	}{
		{subjects.OrderStatusPending, subjects.OrderStatusCancelled, 1, nil},
		{subjects.OrderStatusReserved, subjects.OrderStatusCancelled, 1, nil},
		{subjects.OrderStatusPaid, subjects.OrderStatusCancelled, 1, nil},
		{subjects.OrderStatusFulfilling, subjects.OrderStatusCancelled, 1, nil},
		{subjects.OrderStatusCancelled, subjects.OrderStatusCancelled, 0, nil},
		{subjects.OrderStatusShipped, subjects.OrderStatusShipped, 0, errShippedWithoutStock},
		{subjects.OrderStatusDelivered, subjects.OrderStatusDelivered, 0, errShippedWithoutStock},
	} {
		o := &Order{Status: c.from, Currency: "EUR"}
		events, err := outOfStock(subjects.ReservationEvent{})(o)
		if o.Status != c.want || len(events) != c.events || !errors.Is(err, c.err) {
			t.Errorf("from %s: %s, %d events, %v; want %s, %d, %v", c.from, o.Status, len(events), err, c.want, c.events, c.err)
		}
		if c.events == 1 && (o.CancelReason != subjects.ReasonOutOfStock || events[0].Subject != subjects.EvtOrderCancelled.Subject(o.ID.String())) {
			t.Errorf("from %s: reason %q, event %s", c.from, o.CancelReason, events[0].Subject)
		}
	}
}
