package order

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/souk/souk/platform/consumer"
	"github.com/souk/souk/subjects"
)

// What the order service consumes. It publishes on ORDERS: order.placed, reserved, paid,
// cancelled, fulfilling, shipped and delivered (see saga.go), each through the outbox in the
// transaction of the change.
var (
	// inventorySubjects: the stock was held, could not be held, or the hold ran out unpaid.
	inventorySubjects = []string{subjects.EvtInventoryReserved + ".*", subjects.EvtInventoryRejected + ".*", subjects.EvtInventoryExpired + ".*"}
	// paymentSubjects: the provider's verdicts and the refunds.
	paymentSubjects = []string{subjects.EvtPaymentSucceeded + ".*", subjects.EvtPaymentFailed + ".*", subjects.EvtPaymentRefunded + ".*"}
	// shippingSubjects: every status the order's shipment reaches; the order follows it.
	shippingSubjects = []string{subjects.EvtShipping + ".>"}
)

// transition is one consumed event kind: how to read it and what it does to the order.
type transition struct {
	kind   string
	decode func(data []byte) (orderID string, c Change, err error)
}

func decodeAs[E any](apply func(E) Change, orderID func(E) string) func([]byte) (string, Change, error) {
	return func(data []byte) (string, Change, error) {
		var ev E
		if err := json.Unmarshal(data, &ev); err != nil {
			return "", nil, err
		}
		return orderID(ev), apply(ev), nil
	}
}

func reservationOrder(ev subjects.ReservationEvent) string { return ev.OrderID }

var transitions = []transition{
	{subjects.EvtInventoryReserved, decodeAs(reserved, reservationOrder)},
	{subjects.EvtInventoryRejected, decodeAs(func(subjects.ReservationEvent) Change {
		return cancelIfOpen(subjects.ReasonOutOfStock, subjects.OrderStatusPending, subjects.OrderStatusReserved, subjects.OrderStatusPaid)
	}, reservationOrder)},
	{subjects.EvtInventoryExpired, decodeAs(func(subjects.ReservationEvent) Change {
		return cancelIfOpen(subjects.ReasonPaymentTimeout, subjects.OrderStatusReserved)
	}, reservationOrder)},
	{subjects.EvtPaymentSucceeded, decodeAs(paymentSucceeded, func(ev subjects.PaymentSucceeded) string { return ev.OrderID })},
	{subjects.EvtPaymentFailed, decodeAs(paymentFailed, func(ev subjects.PaymentFailedEvent) string { return ev.OrderID })},
	{subjects.EvtPaymentRefunded, decodeAs(paymentRefunded, func(ev subjects.PaymentRefunded) string { return ev.OrderID })},
	{subjects.EvtShipping, decodeAs(shipmentChanged, func(ev subjects.ShipmentEvent) string { return ev.OrderID })},
}

// apply is the handler of the consumers: it finds the transition of the event's kind and
// applies it to the order under its row lock. An event about an order this service does not
// have (a reservation made directly at the inventory service) is not its business.
func (s *Store) apply(ctx context.Context, tx pgx.Tx, m consumer.Msg) error {
	for _, t := range transitions {
		if !strings.HasPrefix(m.Subject, t.kind+".") {
			continue
		}
		orderID, change, err := t.decode(m.Data)
		if err != nil {
			return consumer.Permanent(fmt.Errorf("%s: unreadable payload: %w", m.Subject, err))
		}
		id, err := uuid.Parse(orderID)
		if err != nil {
			return consumer.Permanent(fmt.Errorf("%s: order_id: %w", m.Subject, err))
		}
		if _, err := s.Update(ctx, tx, id, change); err != nil && !errors.Is(err, ErrNotFound) {
			return fmt.Errorf("%s: %w", m.Subject, err)
		}
		return nil
	}
	return nil
}
