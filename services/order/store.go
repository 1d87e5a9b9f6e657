package order

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/souk/souk/platform/outbox"
	"github.com/souk/souk/platform/page"
	"github.com/souk/souk/platform/pg"
	"github.com/souk/souk/platform/trace"
	"github.com/souk/souk/subjects"
)

// Store is the orders schema. Every change of an order adds its events to the outbox in the
// same transaction.
type Store struct {
	db *pgxpool.Pool
	// counts are the funnel's counters (metrics.go); nil counts nothing.
	counts *counts
	// placed, when set, is told the transaction id of each order stored, once it committed;
	// decided, of each change that decided an order (pending or reserved before, paid or
	// cancelled after). The checkout admission keeps them until a count of its holds them.
	placed, decided func(xid uint64)
}

// NewStore returns a Store over db.
func NewStore(db *pgxpool.Pool) *Store { return &Store{db: db} }

// Insert's refusals.
var (
	// errIdempotencyTaken is an insert that lost the race for its Idempotency-Key (or its
	// id, which derives from the key): the same placement stored it first.
	errIdempotencyTaken = errors.New("idempotency key taken")
	// errCartClaimed is an insert of a cart version another order claimed first.
	errCartClaimed = errors.New("cart version claimed")
)

const orderColumns = `id, user_id, status, coalesce(cancel_reason, ''), items, subtotal, discount, total, currency,
	coalesce(coupon, ''), shipping_address, coalesce(payment_method, ''), reserved_until, payment, shipment,
	coalesce(idempotency_key, ''), created_at, updated_at, coalesce(trace_parent, '')`

func scanOrder(row pgx.Row) (*Order, error) {
	var o Order
	err := row.Scan(&o.ID, &o.UserID, &o.Status, &o.CancelReason, &o.Items, &o.Subtotal, &o.Discount, &o.Total, &o.Currency,
		&o.Coupon, &o.ShippingAddress, &o.PaymentMethod, &o.ReservedUntil, &o.Payment, &o.Shipment,
		&o.IdempotencyKey, &o.CreatedAt, &o.UpdatedAt, &o.TraceParent)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	return &o, err
}

// Insert stores a new order, its first history entry and its events, in one round trip: a
// batch sent alone is one implicit transaction. A second order with the same user and
// Idempotency-Key (or id) fails with errIdempotencyTaken, one with the same user and cart
// claim with errCartClaimed; the unique indexes decide, so concurrent inserts agree.
func (s *Store) Insert(ctx context.Context, o *Order, events ...outbox.Event) error {
	b := &pgx.Batch{}
	b.Queue(pg.XactIDQuery)
	b.Queue(`insert into orders.orders (id, user_id, status, items, subtotal, discount, total, currency,
		coupon, shipping_address, payment_method, idempotency_key, cart_claim, created_at, updated_at, trace_parent)
		values ($1, $2, $3, $4, $5, $6, $7, $8, nullif($9, ''), $10, nullif($11, ''), nullif($12, ''), nullif($13, ''), $14, $14, nullif($15, ''))`,
		o.ID, o.UserID, o.Status, o.Items, o.Subtotal, o.Discount, o.Total, o.Currency, o.Coupon, o.ShippingAddress,
		o.PaymentMethod, o.IdempotencyKey, o.CartClaim, o.CreatedAt, trace.Parent(ctx))
	queueHistory(b, o.ID, 0, o.History)
	if err := outbox.Queue(ctx, b, Schema, events...); err != nil {
		return err
	}
	br := s.db.SendBatch(ctx, b)
	var xid string
	err := br.QueryRow().Scan(&xid)
	if closeErr := br.Close(); err == nil {
		err = closeErr
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == pg.UniqueViolation {
		switch pgErr.ConstraintName {
		case "orders_idempotency", "orders_pkey":
			return errIdempotencyTaken
		case "orders_cart_claim":
			return errCartClaimed
		}
	}
	if err != nil {
		return fmt.Errorf("insert order: %w", err)
	}
	s.counts.placed() // the batch was its own transaction: committed
	if id, err := pg.ParseXactID(xid); err == nil && s.placed != nil {
		s.placed(id)
	}
	return nil
}

// queueHistory queues the inserts of entries, the order's history from position from on.
func queueHistory(b *pgx.Batch, id uuid.UUID, from int, entries []subjects.OrderStatus) {
	for i, h := range entries {
		b.Queue(`insert into orders.history (order_id, seq, status, reason, at) values ($1, $2, $3, nullif($4, ''), $5)`,
			id, from+i, h.Status, h.Reason, h.At)
	}
}

// Get returns an order with its history.
func (s *Store) Get(ctx context.Context, id uuid.UUID) (*Order, error) {
	return load(ctx, s.db, id, false)
}

// ByIdempotencyKey returns the user's order placed with key, with its history, in one round
// trip on the unique index (user_id, idempotency_key): the replay of a placement. ErrNotFound
// when there is none.
func (s *Store) ByIdempotencyKey(ctx context.Context, user uuid.UUID, key string) (*Order, error) {
	o := &Order{}
	found := false
	b := &pgx.Batch{}
	b.Queue(`select `+orderColumns+` from orders.orders where user_id = $1 and idempotency_key = $2`, user, key).
		Query(func(rows pgx.Rows) error {
			for rows.Next() {
				got, err := scanOrder(rows)
				if err != nil {
					return err
				}
				*o, found = *got, true
			}
			return rows.Err()
		})
	b.Queue(`select `+historyColumns+` from orders.history
		where order_id = (select id from orders.orders where user_id = $1 and idempotency_key = $2) order by seq`, user, key).
		Query(func(rows pgx.Rows) error { return collectHistory(rows, map[uuid.UUID]*Order{o.ID: o}) })
	if err := s.db.SendBatch(ctx, b).Close(); err != nil {
		return nil, err
	}
	if !found {
		return nil, ErrNotFound
	}
	return o, nil
}

// ByCartClaim returns the id of the user's order that claimed the cart version claim.
func (s *Store) ByCartClaim(ctx context.Context, user uuid.UUID, claim string) (uuid.UUID, error) {
	var id uuid.UUID
	err := s.db.QueryRow(ctx, `select id from orders.orders where user_id = $1 and cart_claim = $2`, user, claim).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return uuid.Nil, ErrNotFound
	}
	return id, err
}

// load reads order id and its history in one round trip; lock takes the order's row lock
// first (inside a transaction). ErrNotFound when there is no such order.
func load(ctx context.Context, q pg.Batcher, id uuid.UUID, lock bool) (*Order, error) {
	byID, err := read(ctx, q, []uuid.UUID{id}, lock)
	if err != nil {
		return nil, err
	}
	o := byID[id]
	if o == nil {
		return nil, ErrNotFound
	}
	return o, nil
}

// read reads the orders ids with their histories in one round trip, by id; an id without
// an order is not in the map. lock takes their row locks (inside a transaction) in the
// order of the ids.
func read(ctx context.Context, q pg.Batcher, ids []uuid.UUID, lock bool) (map[uuid.UUID]*Order, error) {
	sql := `select ` + orderColumns + ` from orders.orders where id = any($1) order by id`
	if lock {
		sql += ` for update`
	}
	byID := make(map[uuid.UUID]*Order, len(ids))
	b := &pgx.Batch{}
	b.Queue(sql, ids).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			o, err := scanOrder(rows)
			if err != nil {
				return err
			}
			byID[o.ID] = o
		}
		return rows.Err()
	})
	b.Queue(`select `+historyColumns+` from orders.history where order_id = any($1) order by order_id, seq`, ids).
		Query(func(rows pgx.Rows) error { return collectHistory(rows, byID) })
	if err := q.SendBatch(ctx, b).Close(); err != nil {
		return nil, err
	}
	return byID, nil
}

// lockAll reads the orders ids with their histories in one round trip, under their row
// locks, taken in the order of the ids (sorted, so that two transactions locking
// overlapping sets cannot deadlock), and returns a context from which Update takes each of
// them once instead of reading it again. An id without an order is left out: its Update
// reads it and finds none.
func lockAll(ctx context.Context, tx pgx.Tx, ids []uuid.UUID) (context.Context, error) {
	slices.SortFunc(ids, func(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) })
	byID, err := read(ctx, tx, slices.Compact(ids), true)
	if err != nil {
		return ctx, err
	}
	return context.WithValue(ctx, lockedKey{}, byID), nil
}

// lockedKey holds, in a consumer batch's context, the orders lockAll read and locked.
type lockedKey struct{}

// takeLocked returns order id as lockAll read it and forgets it: the first Update of an
// order in the batch gets it, a later one (its second event in the batch, or the same event
// again after a savepoint was rolled back) reads it again and sees what was written since.
// The handlers of a batch run one after another, so the map needs no lock.
func takeLocked(ctx context.Context, id uuid.UUID) *Order {
	byID, _ := ctx.Value(lockedKey{}).(map[uuid.UUID]*Order)
	o := byID[id]
	if o != nil {
		delete(byID, id)
	}
	return o
}

// historyColumns are the columns collectHistory reads.
const historyColumns = `order_id, status, coalesce(reason, ''), at`

// collectHistory appends each history row (historyColumns, in order) to its order in byID.
func collectHistory(rows pgx.Rows, byID map[uuid.UUID]*Order) error {
	var id uuid.UUID
	var h subjects.OrderStatus
	_, err := pgx.ForEachRow(rows, []any{&id, &h.Status, &h.Reason, &h.At}, func() error {
		h.At = h.At.UTC()
		if o := byID[id]; o != nil {
			o.History = append(o.History, h)
		}
		return nil
	})
	return err
}

// Change is what an update of an order decides: the events to publish with it. Returning
// nil events and a nil error with no change made is fine: nothing is written.
type Change func(o *Order) ([]outbox.Event, error)

// Update applies fn to the order under its row lock, inside tx, and writes what changed: the
// row, the new history entries, the events. ErrNotFound when there is no such order. It
// takes two round trips: the order with its history, then every write in one batch (an
// order's change runs in the saga's consumers once per event, the busiest path of a
// checkout); one when its consumer's batch read and locked the order already (lockAll).
func (s *Store) Update(ctx context.Context, tx pgx.Tx, id uuid.UUID, fn Change) (*Order, error) {
	o := takeLocked(ctx, id)
	if o == nil {
		var err error
		if o, err = load(ctx, tx, id, true); err != nil {
			return nil, err
		}
	}
	before, seen := *o, len(o.History)
	events, err := fn(o)
	if err != nil {
		return nil, err
	}
	if len(o.History) == seen && len(events) == 0 && same(&before, o) {
		return o, nil
	}
	decided := s.decided != nil && undecided(before.Status) && !undecided(o.Status)
	b := &pgx.Batch{}
	if decided {
		b.Queue(pg.XactIDQuery) // first, so that its row is the batch's first result
	}
	b.Queue(`update orders.orders set status = $2, cancel_reason = nullif($3, ''), reserved_until = $4,
		payment = $5, shipment = $6, updated_at = now() where id = $1`,
		id, o.Status, o.CancelReason, o.ReservedUntil, o.Payment, o.Shipment)
	queueHistory(b, id, seen, o.History[seen:])
	if err := outbox.Queue(ctx, b, Schema, events...); err != nil {
		return nil, err
	}
	var xid string
	if entered := o.History[seen:]; len(entered) > 0 {
		// Counted once tx commits: whoever began it runs the deferred work (the consumer,
		// UpdateNow, the sweeper), and a rolled-back or repeated change counts nothing.
		pg.AfterCommit(ctx, func() {
			s.counts.moved(entered)
			if !decided {
				return
			}
			if id, err := pg.ParseXactID(xid); err == nil {
				s.decided(id)
			}
		})
	}
	br := tx.SendBatch(ctx, b)
	if decided {
		if err := br.QueryRow().Scan(&xid); err != nil {
			br.Close()
			return nil, err
		}
	}
	return o, br.Close()
}

func same(a, b *Order) bool {
	pa, _ := json.Marshal(a.Payment)
	pb, _ := json.Marshal(b.Payment)
	sa, _ := json.Marshal(a.Shipment)
	sb, _ := json.Marshal(b.Shipment)
	return a.Status == b.Status && string(pa) == string(pb) && string(sa) == string(sb) && sameTime(a.ReservedUntil, b.ReservedUntil)
}

func sameTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}

// UpdateNow is Update in a transaction of its own, waking the relay after the commit.
func (s *Store) UpdateNow(ctx context.Context, id uuid.UUID, fn Change) (*Order, error) {
	var o *Order
	err := pg.InTx(ctx, func(ctx context.Context) error {
		return pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
			var err error
			o, err = s.Update(ctx, tx, id, fn)
			return err
		})
	})
	if err != nil {
		return nil, err
	}
	return o, nil
}

// List returns up to r.Limit+1 of the user's orders, newest first, after r.After: the
// caller cuts the page with page.Next.
func (s *Store) List(ctx context.Context, user uuid.UUID, r page.Request) ([]*Order, error) {
	var after *time.Time
	var id uuid.UUID
	if r.After != nil {
		after, id = &r.After.At, r.After.ID
	}
	rows, err := s.db.Query(ctx, `select `+orderColumns+` from orders.orders where user_id = $1
		and ($2::timestamptz is null or (created_at, id) < ($2, $3)) order by created_at desc, id desc limit $4`,
		user, after, id, r.Limit+1)
	if err != nil {
		return nil, err
	}
	orders, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*Order, error) { return scanOrder(r) })
	if err != nil || len(orders) == 0 {
		return orders, err
	}
	byID := make(map[uuid.UUID]*Order, len(orders))
	ids := make([]uuid.UUID, len(orders))
	for i, o := range orders {
		byID[o.ID], ids[i] = o, o.ID
	}
	rows, err = s.db.Query(ctx, `select `+historyColumns+` from orders.history where order_id = any($1) order by order_id, seq`, ids)
	if err != nil {
		return nil, err
	}
	if err := collectHistory(rows, byID); err != nil {
		return nil, err
	}
	return orders, nil
}

// summaryColumns are the columns scanSummary reads: what staff's list shows of an order.
const summaryColumns = `id, user_id, status, coalesce(cancel_reason, ''), total, currency, shipment, created_at, updated_at`

func scanSummary(row pgx.CollectableRow) (*Order, error) {
	var o Order
	err := row.Scan(&o.ID, &o.UserID, &o.Status, &o.CancelReason, &o.Total, &o.Currency, &o.Shipment, &o.CreatedAt, &o.UpdatedAt)
	return &o, err
}

// AdminList returns up to r.Limit+1 orders that f keeps, newest first, after r.After: the
// caller cuts the page with page.Next.
func (s *Store) AdminList(ctx context.Context, f AdminFilter, r page.Request) ([]*Order, error) {
	sql, args := adminQuery(f, r)
	rows, err := s.db.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("list orders: %w", err)
	}
	return pgx.CollectRows(rows, scanSummary)
}

// adminQuery is the statement of AdminList. It holds only the conditions f sets (a
// condition "$n is null or …" would make a generic plan that no index serves), each value a
// bound parameter, and reads in the order of an index: orders_by_created for every order,
// orders_by_user for a customer's (few enough to filter by status). Statuses are read as
// one newest-first scan of orders_by_status per status (a lateral join over the set), each
// stopping after a page, and merged: status = any(…) would read every order of those
// statuses to sort them. Each scan is ordered by status first and matches it with
// any(array[…]): an order only orders_by_status gives, which the planner does not drop as
// it drops one on a column held equal. Without it the planner, blind to how rare the
// status of the outer row is, filters orders_by_created instead (1 300 rows read for a page
// of a 1 % status in 40 000 orders; 21 this way: admin_plan_internal_test.go).
func adminQuery(f AdminFilter, r page.Request) (string, []any) {
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if f.User != uuid.Nil {
		where = append(where, "user_id = "+arg(f.User))
	}
	if f.From != nil {
		where = append(where, "created_at >= "+arg(*f.From))
	}
	if f.To != nil {
		where = append(where, "created_at < "+arg(*f.To))
	}
	if r.After != nil {
		where = append(where, "(created_at, id) < ("+arg(r.After.At)+", "+arg(r.After.ID)+")")
	}
	limit := " limit " + arg(r.Limit+1)
	const newest = " order by created_at desc, id desc"
	switch {
	case len(f.Statuses) == 0:
		return "select " + summaryColumns + " from orders.orders" + conditions(where) + newest + limit, args
	case f.User != uuid.Nil:
		where = append(where, "status = any("+arg(f.Statuses)+"::text[])")
		return "select " + summaryColumns + " from orders.orders" + conditions(where) + newest + limit, args
	}
	where = append(where, "status = any(array[wanted.st])")
	return "select " + summaryColumns + " from unnest(" + arg(f.Statuses) + "::text[]) as wanted (st)" +
		" cross join lateral (select id, user_id, status, cancel_reason, total, currency, shipment, created_at, updated_at" +
		" from orders.orders" + conditions(where) + " order by status, created_at desc, id desc" + limit + ") as o" +
		newest + limit, args
}

// conditions is the where clause of all of where, or "" for none.
func conditions(where []string) string {
	if len(where) == 0 {
		return ""
	}
	return " where " + strings.Join(where, " and ")
}

// undecided reports whether an order in status is a checkout in progress: placed, and neither
// paid nor cancelled yet.
func undecided(status string) bool {
	return status == subjects.OrderStatusPending || status == subjects.OrderStatusReserved
}
