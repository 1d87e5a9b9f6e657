package inventory

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/souk/souk/platform/consumer"
	"github.com/souk/souk/platform/pg"
	"github.com/souk/souk/subjects"
)

// orderEvents routes the order events of the checkout saga that move stock (the consumer
// inventory-orders): placed holds the order's lines, paid commits them, cancelled gives them
// back. Every transition is keyed by the order id and its reservation's status, so an event
// applied twice (a republished one, another event id for the same order) changes nothing the
// second time, and so the consumer keeps no processed rows (Idempotent).
func (s *Store) orderEvents() []consumer.Route {
	return []consumer.Route{
		consumer.On(subjects.EvtOrderPlaced, s.placed),
		byOrder(subjects.EvtOrderPaid, func(ev subjects.OrderPaid) string { return ev.OrderID }, s.commitOrder),
		byOrder(subjects.EvtOrderCancelled, func(ev subjects.OrderCancelled) string { return ev.OrderID }, releaseOrder),
	}
}

// byOrder routes the events of evt to apply, given the order id orderID reads from each. An
// id that does not parse is permanent: the order service never publishes one.
func byOrder[E any](evt subjects.Event[E], orderID func(E) string, apply func(ctx context.Context, tx pgx.Tx, id uuid.UUID) error) consumer.Route {
	return consumer.On(evt, func(ctx context.Context, tx pgx.Tx, ev E) error {
		id, err := consumer.ID("order_id", orderID(ev))
		if err != nil {
			return err
		}
		return apply(ctx, tx, id)
	})
}

// placed holds a new order's lines: the Reserver's decision, for one order, in the consumer's
// transaction. An event that does not pass the same checks as a request is permanent: the
// order service checks its lines before it publishes, so it is a bug for the dead letters.
func (s *Store) placed(ctx context.Context, tx pgx.Tx, ev subjects.OrderPlaced) error {
	lines := make([]subjects.ReserveLine, len(ev.Lines))
	for i, l := range ev.Lines {
		lines[i] = subjects.ReserveLine{SKU: l.SKU, Quantity: l.Quantity}
	}
	id, parsed, err := ParseReserve(subjects.ReserveRequest{OrderID: ev.OrderID, Lines: lines})
	if err != nil {
		return consumer.Permanent(fmt.Errorf("%s: %w", subjects.EvtOrderPlaced.Kind, err))
	}
	return s.reserve(ctx, tx, []*request{{orderID: id, lines: parsed}}, nil, false)
}

// commitOrder turns a paid order's hold into goods gone. A hold that had expired (the payment
// came late) is taken again from what is available, if there is enough; else the
// reservation is rejected out_of_stock, so that the order service cancels and the payment is
// refunded. A committed, released or rejected reservation stays as it is.
func (s *Store) commitOrder(ctx context.Context, tx pgx.Tx, id uuid.UUID) error {
	r, ls, err := lockReservation(ctx, tx, id)
	if err != nil {
		return err
	}
	if r == nil {
		// The order is paid after inventory.reserved, which this service published from
		// order.placed: that event is on its way. Fail, and be redelivered after it.
		return fmt.Errorf("order.paid %s: no reservation yet", id)
	}
	if change := onPaid[r.Status]; change != nil {
		if err := move(ctx, tx, r, ls, change); err != nil {
			return err
		}
		if r.Status == subjects.ReservationRejected { // the expired hold could not be taken again
			pg.AfterCommit(ctx, func() { s.counts.stockout(1) })
		}
	}
	return nil
}

// releaseOrder gives a cancelled order's units back: a hold's to available, a committed
// order's to on_hand (the goods never left). An order not heard of yet gets a released
// reservation without lines, so that its late order.placed holds nothing. An expired,
// rejected or released reservation has nothing to give back and stays as it is.
func releaseOrder(ctx context.Context, tx pgx.Tx, id uuid.UUID) error {
	r, ls, err := lockReservation(ctx, tx, id)
	if err != nil {
		return err
	}
	if r == nil {
		tomb := &Reservation{OrderID: id, Status: subjects.ReservationReleased}
		var inserted []uuid.UUID
		b := &pgx.Batch{}
		queueInsertReservations(b, []*Reservation{tomb}, &inserted)
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		if len(inserted) == 1 {
			return record(ctx, tx, nil, nil, []*Reservation{tomb})
		}
		// order.placed was recorded meanwhile (the insert waited for it): release that.
		if r, ls, err = lockReservation(ctx, tx, id); err != nil {
			return err
		}
		if r == nil {
			return fmt.Errorf("order.cancelled %s: reservation neither inserted nor found", id)
		}
	}
	if change := onCancelled[r.Status]; change != nil {
		return move(ctx, tx, r, ls, change)
	}
	return nil
}

// What a payment and a cancellation do to a reservation, by its status: move its units and
// set its new status. A status without an entry stays as it is.
var (
	onPaid = map[string]func(ls Levels, r *Reservation){
		subjects.ReservationHeld: func(ls Levels, r *Reservation) {
			ls.Commit(r.Lines)
			r.Status = subjects.ReservationCommitted
		},
		// The payment came after the hold expired: take the units again if they are there.
		subjects.ReservationExpired: func(ls Levels, r *Reservation) {
			r.Status = subjects.ReservationCommitted
			if short := ls.Take(r.Lines); len(short) > 0 {
				r.Status, r.Reason, r.Short = subjects.ReservationRejected, ReasonOutOfStock, short
			}
		},
	}
	onCancelled = map[string]func(ls Levels, r *Reservation){
		subjects.ReservationHeld: func(ls Levels, r *Reservation) {
			ls.Release(r.Lines)
			r.Status = subjects.ReservationReleased
		},
		subjects.ReservationCommitted: func(ls Levels, r *Reservation) {
			ls.Restore(r.Lines)
			r.Status = subjects.ReservationReleased
		},
	}
)

// move lets change move units of ls (the stock rows of r's lines) and set r's new status,
// and records both with their events. The caller locked r and ls (lockReservation).
func move(ctx context.Context, tx pgx.Tx, r *Reservation, ls Levels, change func(ls Levels, r *Reservation)) error {
	change(ls, r)
	rs := []*Reservation{r}
	return record(ctx, tx, ls, rs, rs)
}
