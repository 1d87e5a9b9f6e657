package order

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/souk/souk/platform/consumer"
	"github.com/souk/souk/platform/metrics"
	"github.com/souk/souk/subjects"
)

// What the order service consumes. It publishes on ORDERS: order.placed, reserved, paid,
// cancelled, fulfilling, shipped and delivered (see saga.go), each through the outbox in the
// transaction of the change.
var (
	// inventorySubjects: the stock was held, could not be held, or the hold ran out unpaid.
	inventorySubjects = []string{subjects.EvtInventoryReserved.Filter(), subjects.EvtInventoryRejected.Filter(), subjects.EvtInventoryExpired.Filter()}
	// paymentSubjects: the provider's verdicts and the refunds.
	paymentSubjects = []string{subjects.EvtPaymentSucceeded.Filter(), subjects.EvtPaymentFailed.Filter(), subjects.EvtPaymentRefunded.Filter()}
	// shippingSubjects: every status the order's shipment reaches; the order follows it.
	shippingSubjects = []string{subjects.EvtShipping.Filter()}
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
	{subjects.EvtInventoryReserved.Kind, decodeAs(reserved, reservationOrder)},
	{subjects.EvtInventoryRejected.Kind, decodeAs(outOfStock, reservationOrder)},
	{subjects.EvtInventoryExpired.Kind, decodeAs(func(subjects.ReservationEvent) Change {
		return cancelIfOpen(subjects.ReasonPaymentTimeout, subjects.OrderStatusReserved)
	}, reservationOrder)},
	{subjects.EvtPaymentSucceeded.Kind, decodeAs(paymentSucceeded, func(ev subjects.PaymentSucceeded) string { return ev.OrderID })},
	{subjects.EvtPaymentFailed.Kind, decodeAs(paymentFailed, func(ev subjects.PaymentFailedEvent) string { return ev.OrderID })},
	{subjects.EvtPaymentRefunded.Kind, decodeAs(paymentRefunded, func(ev subjects.PaymentRefunded) string { return ev.OrderID })},
	{subjects.EvtShipping.Kind, decodeAs(shipmentChanged, func(ev subjects.ShipmentEvent) string { return ev.OrderID })},
}

// saga is the handler of the consumers: it applies each event to its order, and raises the
// alarms of what it cannot put right.
type saga struct {
	store *Store
	log   zerolog.Logger
	// shippedWithoutStock counts orders whose stock was found missing after their parcel
	// left (errShippedWithoutStock): each one is an operator's case.
	shippedWithoutStock prometheus.Counter
}

// newSaga returns the consumers' handler over store, its alarm registered on reg.
func newSaga(store *Store, log zerolog.Logger, reg prometheus.Registerer) *saga {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	return &saga{store: store, log: log, shippedWithoutStock: metrics.Register(reg, prometheus.NewCounter(prometheus.CounterOpts{
		Name: "souk_order_shipped_without_stock_total",
		Help: "Orders whose stock the inventory rejected after their parcel had left: paid and shipped without stock, for an operator.",
	}))}
}

// apply finds the transition of the event's kind and applies it to the order under its row
// lock. An event about an order this service does not have (a reservation made directly at
// the inventory service) is not its business. A shipped order found out of stock changes
// nothing and is not retried (nothing can be undone): it is logged and counted for an
// operator.
func (s *saga) apply(ctx context.Context, tx pgx.Tx, m consumer.Msg) error {
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
		_, err = s.store.Update(ctx, tx, id, change)
		switch {
		case errors.Is(err, errShippedWithoutStock):
			s.shippedWithoutStock.Inc()
			s.log.Error().Str("order", orderID).Str("alarm", "shipped_without_stock").
				Msg("order: inventory rejected the stock of an order that has already shipped; not cancelled, not refunded: an operator must settle it")
			return nil
		case err != nil && !errors.Is(err, ErrNotFound):
			return fmt.Errorf("%s: %w", m.Subject, err)
		}
		return nil
	}
	return nil
}
