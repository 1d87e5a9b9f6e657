package order

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/souk/souk/platform/consumer"
	"github.com/souk/souk/platform/metrics"
	"github.com/souk/souk/platform/trace"
	"github.com/souk/souk/subjects"
)

// What the order service consumes: the saga's steps, one route per event kind. It publishes
// on ORDERS: order.placed, reserved, paid, cancelled, fulfilling, shipped and delivered (see
// saga.go), each through the outbox in the transaction of the change.

// inventory routes the reservation outcomes: the stock was held, could not be held, or the
// hold ran out unpaid.
func (s *saga) inventory() []consumer.Route {
	byOrder := func(ev subjects.ReservationEvent) string { return ev.OrderID }
	return []consumer.Route{
		step(s, subjects.EvtInventoryReserved, byOrder, reserved),
		step(s, subjects.EvtInventoryRejected, byOrder, outOfStock),
		step(s, subjects.EvtInventoryExpired, byOrder, func(subjects.ReservationEvent) Change {
			return cancelIfOpen(subjects.ReasonPaymentTimeout, subjects.OrderStatusReserved)
		}),
	}
}

// payments routes the provider's verdicts and the refunds.
func (s *saga) payments() []consumer.Route {
	return []consumer.Route{
		step(s, subjects.EvtPaymentSucceeded, func(ev subjects.PaymentSucceeded) string { return ev.OrderID }, paymentSucceeded),
		step(s, subjects.EvtPaymentFailed, func(ev subjects.PaymentFailedEvent) string { return ev.OrderID }, paymentFailed),
		step(s, subjects.EvtPaymentRefunded, func(ev subjects.PaymentRefunded) string { return ev.OrderID }, paymentRefunded),
	}
}

// shipping routes every status the order's shipment reaches; the order follows it.
func (s *saga) shipping() []consumer.Route {
	return []consumer.Route{step(s, subjects.EvtShipping, func(ev subjects.ShipmentEvent) string { return ev.OrderID }, shipmentChanged)}
}

// step routes events of evt to the order orderID names, changed by change.
func step[E any](s *saga, evt subjects.Event[E], orderID func(E) string, change func(E) Change) consumer.Route {
	return consumer.On(evt, func(ctx context.Context, tx pgx.Tx, ev E) error {
		return s.apply(ctx, tx, orderID(ev), change(ev))
	})
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
	return &saga{store: store, log: log, shippedWithoutStock: metrics.Register(reg, prometheus.NewCounter(prometheus.CounterOpts{
		Name: "souk_order_shipped_without_stock_total",
		Help: "Orders whose stock the inventory rejected after their parcel had left: paid and shipped without stock, for an operator.",
	}))}
}

// prepare reads and locks, in one round trip, the orders a consumer batch's events are
// about (lockAll): the saga's Updates then take them instead of reading each one. A batch
// about one order gains nothing from it, and an event it cannot read is left to its handler.
func (s *saga) prepare(ctx context.Context, tx pgx.Tx, batch []consumer.Msg) (context.Context, error) {
	if len(batch) < 2 {
		return ctx, nil
	}
	ids := make([]uuid.UUID, 0, len(batch))
	for _, m := range batch {
		var ev struct {
			OrderID string `json:"order_id"`
		}
		if json.Unmarshal(m.Data, &ev) != nil {
			continue
		}
		if id, err := uuid.Parse(ev.OrderID); err == nil {
			ids = append(ids, id)
		}
	}
	if len(ids) < 2 {
		return ctx, nil
	}
	return lockAll(ctx, tx, ids)
}

// apply applies change to the order id under its row lock. An event about an order this
// service does not have (a reservation made directly at the inventory service) is not its
// business. A shipped order found out of stock changes nothing and is not retried (nothing
// can be undone): it is logged and counted for an operator.
func (s *saga) apply(ctx context.Context, tx pgx.Tx, orderID string, change Change) error {
	id, err := consumer.ID("order_id", orderID)
	if err != nil {
		return err
	}
	_, err = s.store.Update(ctx, tx, id, change)
	switch {
	case errors.Is(err, errShippedWithoutStock):
		s.shippedWithoutStock.Inc()
		trace.Log(ctx, &s.log).Error().Str("order", orderID).Str("alarm", "shipped_without_stock").
			Msg("order: inventory rejected the stock of an order that has already shipped; not cancelled, not refunded: an operator must settle it")
		return nil
	case err != nil && !errors.Is(err, ErrNotFound):
		return fmt.Errorf("order %s: %w", orderID, err)
	}
	return nil
}
