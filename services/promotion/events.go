package promotion

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/souk/souk/platform/consumer"
	"github.com/souk/souk/platform/pg"
	"github.com/souk/souk/subjects"
)

// orderSubjects are the order events that move a redemption: placed confirms the hold, paid
// makes it final, cancelled returns it.
var orderSubjects = []string{subjects.EvtOrderPlaced.Filter(), subjects.EvtOrderPaid.Filter(), subjects.EvtOrderCancelled.Filter()}

// orderEvent holds what order.placed, order.paid and order.cancelled share and a redemption
// needs (subjects.OrderPlaced, OrderPaid and OrderCancelled all carry these fields).
type orderEvent struct {
	OrderID string `json:"order_id"`
	UserID  string `json:"user_id"`
	Coupon  string `json:"coupon"`
}

// errHoldRacing is a cancellation that met a hold of its order being committed: a retry
// finds the hold and returns it.
var errHoldRacing = errors.New("a hold of the cancelled order committed meanwhile")

// applyOrderEvent moves the order's redemption, if it has one. Every transition names the
// statuses it leaves, so a repeated or late event changes nothing; the consumer's processed
// table keeps a redelivered one from even trying. An event it cannot read is permanent.
func applyOrderEvent(ctx context.Context, tx pgx.Tx, m consumer.Msg) error {
	var ev orderEvent
	if err := json.Unmarshal(m.Data, &ev); err != nil {
		return consumer.Permanent(fmt.Errorf("%s: unreadable payload: %w", m.Subject, err))
	}
	order, err := uuid.Parse(ev.OrderID)
	if err != nil {
		return consumer.Permanent(fmt.Errorf("%s: order_id: %w", m.Subject, err))
	}
	now := time.Now().UTC()
	var n int
	switch {
	case strings.HasPrefix(m.Subject, subjects.EvtOrderPlaced.Kind+"."):
		n, err = transition(ctx, tx, "", now, `update promo.redemptions r
			set status = 'confirmed', updated_at = $2 where r.order_id = $1 and r.status = 'held'`, order, now)
		if err == nil && n == 0 {
			err = revive(ctx, tx, order, StatusConfirmed, now)
		}
	case strings.HasPrefix(m.Subject, subjects.EvtOrderPaid.Kind+"."):
		n, err = transition(ctx, tx, subjects.EvtCouponRedeemed.Kind, now, `update promo.redemptions r
			set status = 'redeemed', updated_at = $2 where r.order_id = $1 and r.status in ('held', 'confirmed')`, order, now)
		if err == nil && n == 0 {
			err = revive(ctx, tx, order, StatusRedeemed, now)
		}
	case strings.HasPrefix(m.Subject, subjects.EvtOrderCancelled.Kind+"."):
		err = cancel(ctx, tx, order, ev, now)
	}
	return err
}

// revive answers a late order.placed or order.paid of an order whose hold the sweeper
// returned (reason expired): the order exists after all, priced with the discount. Under the
// coupon's row lock, as a hold is decided, the redemption counts again (becoming status) if
// the limits allow one more; otherwise it stays returned with reason refused, and
// promotion.refused tells the order service, which cancels the order rather than let the
// coupon be used more often than it allows. Nothing to revive is no change.
func revive(ctx context.Context, tx pgx.Tx, order uuid.UUID, status string, now time.Time) error {
	var coupon uuid.UUID
	var user string
	err := tx.QueryRow(ctx, `select coupon_id, user_id from promo.redemptions
		where order_id = $1 and status = 'returned' and reason = 'expired'`, order).Scan(&coupon, &user)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("revive: %w", err)
	}
	c, err := scanCoupon(tx.QueryRow(ctx, `select `+couponColumns+` from promo.coupons where id = $1 for update`, coupon))
	if err != nil {
		return err
	}
	t := Tally{Mine: make(map[string]int, 1)}
	b := &pgx.Batch{}
	queueTally(b, &c, []string{user}, &t)
	if err := pg.Send(ctx, tx, b); err != nil {
		return fmt.Errorf("revive: %w", err)
	}
	const expired = ` where r.order_id = $1 and r.status = 'returned' and r.reason = 'expired'`
	if c.Allow(t.Used, t.Mine[user]) != nil {
		_, err = transition(ctx, tx, subjects.EvtCouponRefused.Kind, now,
			`update promo.redemptions r set reason = 'refused', updated_at = $2`+expired, order, now)
		return err
	}
	kind := ""
	if status == StatusRedeemed {
		kind = subjects.EvtCouponRedeemed.Kind
	}
	_, err = transition(ctx, tx, kind, now, `update promo.redemptions r set status = $3, reason = null, updated_at = $2`+expired, order, now, status)
	return err
}

// cancel returns the order's redemption and publishes promotion.returned. With nothing to
// return it leaves a returned row behind (reason cancelled), so that neither a late
// order.placed or order.paid brings a swept hold back, nor a hold arriving after the
// cancellation takes a slot: CouponHold answers it 409.
func cancel(ctx context.Context, tx pgx.Tx, order uuid.UUID, ev orderEvent, now time.Time) error {
	n, err := transition(ctx, tx, subjects.EvtCouponReturned.Kind, now, `update promo.redemptions r
		set status = 'returned', reason = 'cancelled', updated_at = $2
		where r.order_id = $1 and r.status <> 'returned'`, order, now)
	if err != nil || n > 0 {
		return err
	}
	if ev.Coupon == "" { // no coupon: at most a swept hold to mark
		_, err = tx.Exec(ctx, `update promo.redemptions set reason = 'cancelled', updated_at = $2
			where order_id = $1 and status = 'returned'`, order, now)
		return err
	}
	code, _ := NormalizeCode(ev.Coupon) // informational only: a tombstone prices nothing
	tag, err := tx.Exec(ctx, `insert into promo.redemptions
			(order_id, coupon_id, user_id, code, status, reason, discount, currency, held_at, updated_at)
		values ($1, null, $2, $3, 'returned', 'cancelled', 0, '', $4, $4)
		on conflict (order_id) do update set reason = 'cancelled', updated_at = excluded.updated_at
		where redemptions.status = 'returned'`, order, ev.UserID, code, now)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return errHoldRacing // a live hold appeared after the update above: retry returns it
	}
	return nil
}

// Sweeper bounds: a tick returns at most sweepBatch × sweepBatches holds, so one tick
// cannot hold the database for long after an outage of the order service.
const (
	sweepBatch   = 100
	sweepBatches = 10
	sweepTimeout = 10 * time.Second
)

// sweeper returns holds that stayed held (no order.placed) longer than ttl.
type sweeper struct {
	store   *Store
	ttl     time.Duration
	every   time.Duration
	log     zerolog.Logger
	expired prometheus.Counter
}

// run sweeps at once (holds may have expired while no instance ran) and then every
// s.every, until ctx ends.
func (s *sweeper) run(ctx context.Context) {
	t := time.NewTicker(s.every)
	defer t.Stop()
	for {
		s.sweep(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// sweep returns expired holds in bounded batches until none is left or the bound is hit.
func (s *sweeper) sweep(ctx context.Context) {
	for range sweepBatches {
		now := time.Now().UTC()
		sctx, cancel := context.WithTimeout(ctx, sweepTimeout)
		n, err := s.store.Sweep(sctx, now.Add(-s.ttl), sweepBatch, now)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				s.log.Warn().Err(err).Msg("promotion: sweeping expired holds failed; next tick retries")
			}
			return
		}
		s.expired.Add(float64(n))
		if n < sweepBatch {
			return
		}
	}
}
