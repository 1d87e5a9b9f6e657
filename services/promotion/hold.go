package promotion

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Coalescing bounds: a batch decides at most maxHoldBatch holds of one coupon in one
// transaction, which gets holdTxTimeout.
const (
	maxHoldBatch  = 128
	holdTxTimeout = 5 * time.Second
)

// holder coalesces the holds of one coupon in this instance: while a transaction holds the
// coupon's row lock, the holds that arrive queue up, and the next transaction decides them
// all under one lock, in arrival order, with one count and one commit. A hot code (a flash
// sale) then costs one lock round per batch rather than per order; see docs/performance.md.
// Instances still serialise on the row lock, so the limits stay exact across processes.
type holder struct {
	store *Store
	mu    sync.Mutex
	// queues holds the waiting holds by code; a code has an entry while its drain runs.
	queues map[string][]*pendingHold
}

// pendingHold is one caller waiting for its batch.
type pendingHold struct {
	ctx  context.Context
	req  HoldRequest
	done chan holdResult // buffered: the drain never blocks on a caller that gave up
}

type holdResult struct {
	held Held
	err  error
}

func newHolder(store *Store) *holder {
	return &holder{store: store, queues: make(map[string][]*pendingHold)}
}

// Hold takes a redemption for req (see Coupon.Decide), coalesced with the concurrent holds
// of the same code. A caller whose ctx ends first gets its error, and its hold may still be
// made: asking again for the order returns it.
func (h *holder) Hold(ctx context.Context, req HoldRequest) (Held, error) {
	p := &pendingHold{ctx: ctx, req: req, done: make(chan holdResult, 1)}
	h.mu.Lock()
	q, draining := h.queues[req.Code]
	h.queues[req.Code] = append(q, p)
	h.mu.Unlock()
	if !draining {
		go h.drain(req.Code)
	}
	select {
	case r := <-p.done:
		return r.held, r.err
	case <-ctx.Done():
		return Held{}, ctx.Err()
	}
}

// drain decides code's queue batch by batch until it is empty, then forgets the code.
func (h *holder) drain(code string) {
	for {
		h.mu.Lock()
		q := h.queues[code]
		if len(q) == 0 {
			delete(h.queues, code)
			h.mu.Unlock()
			return
		}
		n := min(len(q), maxHoldBatch)
		batch := q[:n:n]
		h.queues[code] = q[n:]
		h.mu.Unlock()

		live := batch[:0:0]
		for _, p := range batch {
			if err := p.ctx.Err(); err != nil {
				p.done <- holdResult{err: err} // gave up while queued: hold nothing for it
				continue
			}
			live = append(live, p)
		}
		if len(live) == 0 {
			continue
		}
		reqs := make([]HoldRequest, len(live))
		for i, p := range live {
			reqs[i] = p.req
		}
		ctx, cancel := context.WithTimeout(context.Background(), holdTxTimeout)
		results := h.store.holdBatch(ctx, code, reqs, time.Now().UTC().Truncate(time.Microsecond))
		cancel()
		for i, p := range live {
			p.done <- results[i]
		}
	}
}

// holdBatch decides reqs (all for code) in order in one transaction under the coupon's row
// lock and stores the new redemptions. Every result is its request's own answer; a failed
// transaction fails them all.
func (s *Store) holdBatch(ctx context.Context, code string, reqs []HoldRequest, now time.Time) []holdResult {
	out := make([]holdResult, len(reqs))
	var lost []int // new holds whose order got a hold of another code meanwhile
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		// The row lock serialises the holds of one coupon: the counts read below stay true
		// until this transaction commits its redemptions.
		c, err := scanCoupon(tx.QueryRow(ctx, `select `+couponColumns+` from promo.coupons where code = $1 for update`, code))
		if err != nil {
			return err
		}
		prev, t, err := readHoldState(ctx, tx, &c, reqs)
		if err != nil {
			return err
		}
		var rows []Redemption
		fresh := make(map[uuid.UUID]bool) // orders this batch holds anew
		for i, req := range reqs {
			r, isNew, err := c.Decide(req, prev[req.OrderID], &t, now)
			out[i] = holdResult{held: Held{Coupon: c, Redemption: r}, err: err}
			if isNew {
				rows = append(rows, r)
				prev[req.OrderID], fresh[req.OrderID] = &r, true // a second ask in this batch finds it
			}
		}
		inserted, err := insertHolds(ctx, tx, &c, rows)
		if err != nil {
			return err
		}
		for i, req := range reqs {
			if out[i].err == nil && fresh[req.OrderID] && !inserted[req.OrderID] {
				lost = append(lost, i)
			}
		}
		return nil
	})
	if err != nil {
		for i := range out {
			out[i] = holdResult{err: err}
		}
		return out
	}
	for _, i := range lost {
		out[i] = s.rehold(ctx, reqs[i])
	}
	return out
}

// rehold answers a hold whose insert lost to a row of its order committed while the batch
// ran. That row is not a hold of this code (those queue for this coupon's lock and were read
// under it): it is a hold of another code, or the tombstone of a cancellation. The batch
// counted the lost hold, so a later hold in it may have been refused a slot that was free:
// conservative, and only when one order is held with two codes at once.
func (s *Store) rehold(ctx context.Context, req HoldRequest) holdResult {
	prev, err := s.redemptionsOf(ctx, []uuid.UUID{req.OrderID})
	if err != nil {
		return holdResult{err: err}
	}
	if r := prev[req.OrderID]; r != nil && r.Status == StatusReturned {
		return holdResult{err: ErrReturned}
	}
	return holdResult{err: ErrOrderConflict}
}

// readHoldState reads, in one round trip, the redemptions the batch's orders already have
// and c's active redemptions as its limits need them (queueTally).
func readHoldState(ctx context.Context, tx pgx.Tx, c *Coupon, reqs []HoldRequest) (map[uuid.UUID]*Redemption, Tally, error) {
	orders := make([]uuid.UUID, len(reqs))
	users := make([]string, len(reqs))
	for i, r := range reqs {
		orders[i], users[i] = r.OrderID, r.UserID
	}
	t := Tally{Mine: make(map[string]int)}
	b := &pgx.Batch{}
	queueTally(b, c, users, &t)
	prev := make(map[uuid.UUID]*Redemption, len(reqs))
	b.Queue(`select `+redemptionColumns+` from promo.redemptions where order_id = any($1)`, orders).
		Query(func(rows pgx.Rows) error { return collectRedemptions(rows, prev) })
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return nil, Tally{}, fmt.Errorf("hold state: %w", err)
	}
	return prev, t, nil
}

const redemptionColumns = `order_id, user_id, code, status, coalesce(reason, ''), discount, currency, held_at`

// collectRedemptions reads rows of redemptionColumns into m by order.
func collectRedemptions(rows pgx.Rows, m map[uuid.UUID]*Redemption) error {
	var r Redemption
	_, err := pgx.ForEachRow(rows, []any{&r.OrderID, &r.UserID, &r.Code, &r.Status, &r.Reason, &r.Discount.Amount, &r.Discount.Currency, &r.HeldAt},
		func() error { rc := r; m[r.OrderID] = &rc; return nil })
	return err
}

// redemptionsOf returns the redemptions of orders, by order.
func (s *Store) redemptionsOf(ctx context.Context, orders []uuid.UUID) (map[uuid.UUID]*Redemption, error) {
	m := make(map[uuid.UUID]*Redemption, len(orders))
	rows, err := s.db.Query(ctx, `select `+redemptionColumns+` from promo.redemptions where order_id = any($1)`, orders)
	if err == nil {
		err = collectRedemptions(rows, m)
	}
	if err != nil {
		return nil, fmt.Errorf("redemptions: %w", err)
	}
	return m, nil
}

// insertHolds stores new held redemptions of c in one statement and reports which orders
// got theirs; an order missing from the answer had a hold of another code committed meanwhile.
// A hold the sweeper returned (reason expired) of the same customer is held again in place:
// Decide has counted it as new.
func insertHolds(ctx context.Context, tx pgx.Tx, c *Coupon, rows []Redemption) (map[uuid.UUID]bool, error) {
	if len(rows) == 0 {
		return nil, nil
	}
	orders, users, amounts, currencies := make([]uuid.UUID, len(rows)), make([]string, len(rows)), make([]int64, len(rows)), make([]string, len(rows))
	for i, r := range rows {
		orders[i], users[i], amounts[i], currencies[i] = r.OrderID, r.UserID, r.Discount.Amount, r.Discount.Currency
	}
	res, err := tx.Query(ctx, `insert into promo.redemptions
			(order_id, coupon_id, user_id, code, status, discount, currency, held_at, updated_at)
		select o, $2, u, $3, 'held', d, cur, $4, $4 from unnest($1::uuid[], $5::text[], $6::bigint[], $7::text[]) as t(o, u, d, cur)
		on conflict (order_id) do update set coupon_id = excluded.coupon_id, code = excluded.code, status = 'held',
			reason = null, discount = excluded.discount, currency = excluded.currency, held_at = excluded.held_at,
			updated_at = excluded.updated_at
		where redemptions.status = 'returned' and redemptions.reason = 'expired' and redemptions.user_id = excluded.user_id
		returning order_id`,
		orders, c.ID, c.Code, rows[0].HeldAt, users, amounts, currencies)
	if err != nil {
		return nil, fmt.Errorf("insert holds: %w", err)
	}
	ids, err := pgx.CollectRows(res, pgx.RowTo[uuid.UUID])
	if err != nil {
		return nil, fmt.Errorf("insert holds: %w", err)
	}
	inserted := make(map[uuid.UUID]bool, len(ids))
	for _, id := range ids {
		inserted[id] = true
	}
	return inserted, nil
}
