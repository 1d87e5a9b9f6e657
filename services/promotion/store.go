package promotion

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/souk/souk/platform/outbox"
	"github.com/souk/souk/platform/page"
	"github.com/souk/souk/platform/pg"
	"github.com/souk/souk/subjects"
)

// Store is the promo schema. Every change that others must learn of adds its event to the
// outbox in its own transaction (the kit wakes the relay once the unit of work is done).
type Store struct {
	db *pgxpool.Pool
}

// NewStore returns a Store over db.
func NewStore(db *pgxpool.Pool) *Store { return &Store{db: db} }

const couponColumns = `id, code, kind, value, coalesce(currency, ''), min_subtotal, starts_at, ends_at,
	max_redemptions, per_customer_limit, created_at`

func scanCoupon(row pgx.Row, extra ...any) (Coupon, error) {
	var c Coupon
	dest := append([]any{&c.ID, &c.Code, &c.Kind, &c.Value, &c.Currency, &c.MinSubtotal, &c.StartsAt, &c.EndsAt,
		&c.MaxRedemptions, &c.PerCustomerLimit, &c.CreatedAt}, extra...)
	err := row.Scan(dest...)
	if errors.Is(err, pgx.ErrNoRows) {
		return Coupon{}, ErrUnknown
	}
	if err != nil {
		return Coupon{}, fmt.Errorf("coupon: %w", err)
	}
	c.CreatedAt = c.CreatedAt.UTC()
	c.StartsAt, c.EndsAt = dbTime(c.StartsAt), dbTime(c.EndsAt)
	return c, nil
}

// CreateCoupon stores c; a taken code is ErrCodeTaken.
func (s *Store) CreateCoupon(ctx context.Context, c *Coupon) error {
	_, err := s.db.Exec(ctx, `insert into promo.coupons (id, code, kind, value, currency, min_subtotal, starts_at, ends_at,
			max_redemptions, per_customer_limit, created_at)
		values ($1, $2, $3, $4, nullif($5, ''), $6, $7, $8, $9, $10, $11)`,
		c.ID, c.Code, c.Kind, c.Value, c.Currency, c.MinSubtotal, c.StartsAt, c.EndsAt, c.MaxRedemptions, c.PerCustomerLimit, c.CreatedAt)
	if pg.Code(err) == pg.UniqueViolation {
		return ErrCodeTaken
	}
	if err != nil {
		return fmt.Errorf("create coupon: %w", err)
	}
	return nil
}

// listed is a coupon as the list shows it, with its active redemptions.
type listed struct {
	Coupon
	Redeemed int
}

// Coupons returns up to r.Limit+1 coupons, newest first, after r.After (the caller cuts the
// page with page.Next), each with its active redemptions: one backward range scan of the
// primary key (ids are UUIDv7, so id order is creation order).
func (s *Store) Coupons(ctx context.Context, r page.Request) ([]listed, error) {
	before := uuid.Max
	if r.After != nil {
		before = r.After.ID
	}
	rows, err := s.db.Query(ctx, `select `+couponColumns+`,
			(select count(*) from promo.redemptions r where r.coupon_id = c.id and r.status <> 'returned')
		from promo.coupons c where c.id < $1
		order by c.id desc limit $2`, before, r.Limit+1)
	if err != nil {
		return nil, fmt.Errorf("coupon page: %w", err)
	}
	defer rows.Close()
	var out []listed
	for rows.Next() {
		var l listed
		if l.Coupon, err = scanCoupon(rows, &l.Redeemed); err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("coupon page: %w", err)
	}
	return out, nil
}

// Quote checks code for user and subtotal at now, limits included, and returns the coupon
// and its discount. It holds nothing: a later hold may still find the coupon used up.
func (s *Store) Quote(ctx context.Context, user, code string, subtotal subjects.Money, now time.Time) (Coupon, int64, error) {
	c, err := scanCoupon(s.db.QueryRow(ctx, `select `+couponColumns+` from promo.coupons where code = $1`, code))
	if err != nil {
		return Coupon{}, 0, err
	}
	t := Tally{Mine: make(map[string]int, 1)}
	b := &pgx.Batch{}
	queueTally(b, &c, []string{user}, &t)
	if b.Len() > 0 {
		if err := s.db.SendBatch(ctx, b).Close(); err != nil {
			return Coupon{}, 0, fmt.Errorf("coupon usage: %w", err)
		}
	}
	r, _, err := c.Decide(HoldRequest{UserID: user, Code: c.Code, Subtotal: subtotal}, nil, &t, now)
	return c, r.Discount.Amount, err
}

// queueTally queues on b the counts of c's active redemptions that its limits need, into t:
// by everyone when it has a global limit, by users when it has a per-customer one. An
// unlimited coupon costs no count. Counting rows rather than keeping a counter on the
// coupon keeps the order events' updates off the coupon's hot row (and out of lock cycles
// with the holds); a limited coupon's count is bounded by its limit.
func queueTally(b *pgx.Batch, c *Coupon, users []string, t *Tally) {
	if c.MaxRedemptions != nil {
		b.Queue(`select count(*) from promo.redemptions where coupon_id = $1 and status <> 'returned'`, c.ID).
			QueryRow(func(row pgx.Row) error { return row.Scan(&t.Used) })
	}
	if c.PerCustomerLimit != nil {
		b.Queue(`select user_id, count(*) from promo.redemptions
			where coupon_id = $1 and user_id = any($2) and status <> 'returned' group by user_id`, c.ID, users).
			Query(func(rows pgx.Rows) error {
				var user string
				var n int
				_, err := pgx.ForEachRow(rows, []any{&user, &n}, func() error { t.Mine[user] = n; return nil })
				return err
			})
	}
}

// returning is the tail of the statements passed to transition, which name the table
// "promo.redemptions r".
const returning = ` returning r.order_id, r.user_id, r.code, r.discount, r.currency`

func scanRedemption(row pgx.CollectableRow) (Redemption, error) {
	var r Redemption
	err := row.Scan(&r.OrderID, &r.UserID, &r.Code, &r.Discount.Amount, &r.Discount.Currency)
	return r, err
}

// couponEvent is the outbox event of kind (promotion.redeemed, returned or refused) about r.
func couponEvent(kind subjects.EventKind, r Redemption, at time.Time) outbox.Event {
	id := outbox.NewID()
	return outbox.Event{ID: id, Subject: kind.Subject(r.OrderID.String()), Payload: subjects.CouponEvent{
		EventID: id.String(), OccurredAt: at, OrderID: r.OrderID.String(), UserID: r.UserID, Code: r.Code, Discount: r.Discount,
	}}
}

// transition runs one redemption-changing statement in tx and adds an event of kind for each
// row it returns (the zero kind adds none). It reports how many rows changed.
func transition(ctx context.Context, tx pgx.Tx, kind subjects.EventKind, at time.Time, sql string, args ...any) (int, error) {
	rows, err := tx.Query(ctx, sql+returning, args...)
	if err != nil {
		return 0, err
	}
	changed, err := pgx.CollectRows(rows, scanRedemption)
	if err != nil || kind.Kind == "" {
		return len(changed), err
	}
	events := make([]outbox.Event, len(changed))
	for i, r := range changed {
		events[i] = couponEvent(kind, r, at)
	}
	return len(changed), outbox.Add(ctx, tx, Schema, events...)
}

// Sweep returns up to limit holds made before cutoff that no order.placed confirmed (the
// order was never stored), each with its promotion.returned event, and reports how many.
// SKIP LOCKED lets instances sweep side by side and never waits on a hold being confirmed.
func (s *Store) Sweep(ctx context.Context, cutoff time.Time, limit int, now time.Time) (int, error) {
	var n int
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		var err error
		n, err = transition(ctx, tx, subjects.EvtCouponReturned.EventKind, now, `with expired as (
				select order_id from promo.redemptions where status = 'held' and held_at < $1
				order by held_at limit $2 for update skip locked)
			update promo.redemptions r set status = 'returned', reason = 'expired', updated_at = $3
			from expired where r.order_id = expired.order_id`, cutoff, limit, now)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("sweep holds: %w", err)
	}
	return n, nil
}

// Release deletes the unconfirmed hold of user's order (the order service will never store
// that order: its placement lost the cart to another order), freeing its slot at once. A
// confirmed, redeemed or returned redemption, another customer's, or none, is left alone.
// The row goes rather than turning returned: the order never existed, and a later attempt
// with its id (the same Idempotency-Key on a changed cart) may hold afresh.
func (s *Store) Release(ctx context.Context, order uuid.UUID, user string) error {
	_, err := s.db.Exec(ctx, `delete from promo.redemptions where order_id = $1 and user_id = $2 and status = 'held'`, order, user)
	if err != nil {
		return fmt.Errorf("release hold: %w", err)
	}
	return nil
}
