package promotion

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/souk/souk/platform/consumer"
	"github.com/souk/souk/platform/pg"
	"github.com/souk/souk/subjects"
)

// What the promotion service consumes: order.placed, paid and cancelled, with the durable
// consumer promotion-orders. It publishes promotion.redeemed, returned and refused, each
// through the outbox in the transaction of the change (store.go).

// orderRoutes routes the order events that move a redemption: placed confirms the hold, paid
// makes it final, cancelled returns it. Every transition names the statuses it leaves, so a
// repeated or late event changes nothing, and the consumer keeps no processed rows
// (Idempotent). A redemption made final counts in redeemed once its transaction
// committed. An order placed or paid without a coupon has no redemption to move: its events
// are passed over without a statement (four per checkout, most checkouts have none). A hold
// an earlier attempt of its placement made with a coupon the order did not keep then stays
// held until the sweeper returns it, rather than counting a use of the coupon for an order
// that got no discount.
func orderRoutes(redeemed prometheus.Counter) []consumer.Route {
	return []consumer.Route{
		consumer.On(subjects.EvtOrderPlaced, func(ctx context.Context, tx pgx.Tx, ev subjects.OrderPlaced) error {
			if ev.Coupon == "" {
				return nil
			}
			_, err := advance(ctx, tx, ev.OrderID, StatusConfirmed, subjects.EventKind{}, `update promo.redemptions r
				set status = 'confirmed', updated_at = $2 where r.order_id = $1 and r.status = 'held'`)
			return err
		}),
		consumer.On(subjects.EvtOrderPaid, func(ctx context.Context, tx pgx.Tx, ev subjects.OrderPaid) error {
			if ev.Coupon == "" {
				return nil
			}
			moved, err := advance(ctx, tx, ev.OrderID, StatusRedeemed, subjects.EvtCouponRedeemed.EventKind, `update promo.redemptions r
				set status = 'redeemed', updated_at = $2 where r.order_id = $1 and r.status in ('held', 'confirmed')`)
			if moved {
				pg.AfterCommit(ctx, redeemed.Inc)
			}
			return err
		}),
		consumer.On(subjects.EvtOrderCancelled, func(ctx context.Context, tx pgx.Tx, ev subjects.OrderCancelled) error {
			order, err := orderID(ev.OrderID)
			if err != nil {
				return err
			}
			return cancel(ctx, tx, order, ev.UserID, ev.Coupon, time.Now().UTC())
		}),
	}
}

// orderID reads the order id of an order event; one that is no UUID is permanent.
func orderID(s string) (uuid.UUID, error) {
	return consumer.ID("order_id", s)
}

// errHoldRacing is a cancellation that met a hold of its order being committed: a retry
// finds the hold and returns it.
var errHoldRacing = errors.New("a hold of the cancelled order committed meanwhile")

// advance moves the redemption of the order id to status with stmt (its $1 the order, $2 the
// time), with an event of kind for it (none when kind is zero). With nothing to move, it
// revives a hold the sweeper returned. It reports whether the redemption moved to status.
func advance(ctx context.Context, tx pgx.Tx, id, status string, kind subjects.EventKind, stmt string) (bool, error) {
	order, err := orderID(id)
	if err != nil {
		return false, err
	}
	now := time.Now().UTC()
	n, err := transition(ctx, tx, kind, now, stmt, order, now)
	if err != nil || n > 0 {
		return err == nil, err
	}
	return revive(ctx, tx, order, status, now)
}

// revive answers a late order.placed or order.paid of an order whose hold the sweeper
// returned (reason expired): the order exists after all, priced with the discount. Under the
// coupon's row lock, as a hold is decided, the redemption counts again (becoming status) if
// the limits allow one more; otherwise it stays returned with reason refused, and
// promotion.refused tells the order service, which cancels the order rather than let the
// coupon be used more often than it allows. Nothing to revive is no change. It reports
// whether the redemption counts again (moved to status).
func revive(ctx context.Context, tx pgx.Tx, order uuid.UUID, status string, now time.Time) (bool, error) {
	var coupon uuid.UUID
	var user string
	err := tx.QueryRow(ctx, `select coupon_id, user_id from promo.redemptions
		where order_id = $1 and status = 'returned' and reason = 'expired'`, order).Scan(&coupon, &user)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("revive: %w", err)
	}
	c, err := scanCoupon(tx.QueryRow(ctx, `select `+couponColumns+` from promo.coupons where id = $1 for update`, coupon))
	if err != nil {
		return false, err
	}
	t := Tally{Mine: make(map[string]int, 1)}
	b := &pgx.Batch{}
	queueTally(b, &c, []string{user}, &t)
	if err := pg.Send(ctx, tx, b); err != nil {
		return false, fmt.Errorf("revive: %w", err)
	}
	const expired = ` where r.order_id = $1 and r.status = 'returned' and r.reason = 'expired'`
	if c.Allow(t.Used, t.Mine[user]) != nil {
		_, err = transition(ctx, tx, subjects.EvtCouponRefused.EventKind, now,
			`update promo.redemptions r set reason = 'refused', updated_at = $2`+expired, order, now)
		return false, err
	}
	var kind subjects.EventKind
	if status == StatusRedeemed {
		kind = subjects.EvtCouponRedeemed.EventKind
	}
	n, err := transition(ctx, tx, kind, now, `update promo.redemptions r set status = $3, reason = null, updated_at = $2`+expired, order, now, status)
	return err == nil && n > 0, err
}

// cancel returns the order's redemption and publishes promotion.returned. With nothing to
// return it leaves a returned row behind (reason cancelled), so that neither a late
// order.placed or order.paid brings a swept hold back, nor a hold arriving after the
// cancellation takes a slot: CouponHold answers it 409.
func cancel(ctx context.Context, tx pgx.Tx, order uuid.UUID, user, coupon string, now time.Time) error {
	n, err := transition(ctx, tx, subjects.EvtCouponReturned.EventKind, now, `update promo.redemptions r
		set status = 'returned', reason = 'cancelled', updated_at = $2
		where r.order_id = $1 and r.status <> 'returned'`, order, now)
	if err != nil || n > 0 {
		return err
	}
	if coupon == "" { // no coupon: at most a swept hold to mark
		_, err = tx.Exec(ctx, `update promo.redemptions set reason = 'cancelled', updated_at = $2
			where order_id = $1 and status = 'returned'`, order, now)
		return err
	}
	code, _ := NormalizeCode(coupon) // informational only: a tombstone prices nothing
	tag, err := tx.Exec(ctx, `insert into promo.redemptions
			(order_id, coupon_id, user_id, code, status, reason, discount, currency, held_at, updated_at)
		values ($1, null, $2, $3, 'returned', 'cancelled', 0, '', $4, $4)
		on conflict (order_id) do update set reason = 'cancelled', updated_at = excluded.updated_at
		where redemptions.status = 'returned'`, order, user, code, now)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return errHoldRacing // a live hold appeared after the update above: retry returns it
	}
	return nil
}
