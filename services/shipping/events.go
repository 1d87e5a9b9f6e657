package shipping

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/souk/souk/platform/consumer"
	"github.com/souk/souk/platform/metrics"
	"github.com/souk/souk/platform/trace"
	"github.com/souk/souk/subjects"
)

// What the shipping service consumes: order.paid creates the order's shipment,
// order.cancelled cancels it (routes). It publishes on SHIPPING, through the outbox
// (store.go).

func now() time.Time { return time.Now().UTC() }

// orders applies the order events of the consumer shipping-orders.
type orders struct {
	store   *Store
	carrier string // the carrier new shipments start with
	log     zerolog.Logger
	// cancelledAfterLeft counts order.cancelled events that found the parcel gone: an order
	// cancelled (and refunded) whose goods shipped, each one an operator's case.
	cancelledAfterLeft prometheus.Counter
}

// newOrders returns the handler of the order events, its alarm registered on reg (none when
// nil).
func newOrders(store *Store, carrier string, log zerolog.Logger, reg prometheus.Registerer) *orders {
	return &orders{store: store, carrier: carrier, log: log,
		cancelledAfterLeft: metrics.Register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "souk_shipping_cancelled_after_left_total",
			Help: "Orders cancelled after their shipment had left (shipped, not cancelled): goods gone for an order that is refunded, for an operator.",
		}))}
}

// routes are the routes of the consumer shipping-orders. Both events are idempotent: a
// second order.paid finds the shipment (unique per order) and a second order.cancelled finds
// it cancelled; an order.cancelled applied before its order.paid leaves a mark that keeps
// the shipment from being created at all. So the consumer keeps no processed rows
// (Idempotent).
func (o *orders) routes() []consumer.Route {
	return []consumer.Route{consumer.On(subjects.EvtOrderPaid, o.paid), consumer.On(subjects.EvtOrderCancelled, o.cancelled)}
}

// paid creates the order's shipment, pending, with the default carrier.
func (o *orders) paid(ctx context.Context, tx pgx.Tx, ev subjects.OrderPaid) error {
	order, oerr := uuid.Parse(ev.OrderID)
	user, uerr := uuid.Parse(ev.UserID)
	if err := errors.Join(oerr, uerr); err != nil {
		return consumer.Permanent(fmt.Errorf("order.paid %s: %w", ev.OrderID, err))
	}
	at := now()
	_, err := o.store.Create(ctx, tx, &Shipment{ID: uuid.Must(uuid.NewV7()), OrderID: order, UserID: user,
		Status: subjects.ShipmentPending, Carrier: o.carrier, Lines: ev.Lines, ShippingAddress: ev.ShippingAddress,
		History: []subjects.ShipmentStatus{{Status: subjects.ShipmentPending, At: at}}, CreatedAt: at, UpdatedAt: at})
	return err
}

// cancelled cancels the order's shipment, unless it has left.
func (o *orders) cancelled(ctx context.Context, tx pgx.Tx, ev subjects.OrderCancelled) error {
	order, err := consumer.ID("order_id", ev.OrderID)
	if err != nil {
		return err
	}
	err = o.store.CancelOrder(ctx, tx, order, ev.Reason)
	if errors.Is(err, ErrLeft) {
		// The order service cancels no order whose shipment has left (its cancel handler asks
		// this service first, see ShipmentCancel), so this is a cancel that raced past that
		// check, or the saga's own (a late out_of_stock) that staff's move to shipped beat.
		// The parcel is on its way: an operator must look at it. Retrying changes nothing.
		o.cancelledAfterLeft.Inc()
		trace.Log(ctx, &o.log).Error().Str("order", ev.OrderID).Str("reason", ev.Reason).Str("alarm", "cancelled_after_left").
			Msg("shipping: order cancelled after its shipment left; the shipment is not cancelled")
		return nil
	}
	return err
}
