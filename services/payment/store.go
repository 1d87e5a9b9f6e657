package payment

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/attribute"
	oteltrace "go.opentelemetry.io/otel/trace"

	"github.com/souk/souk/platform/outbox"
	"github.com/souk/souk/platform/pg"
	"github.com/souk/souk/platform/trace"
	"github.com/souk/souk/subjects"
)

// store is the payment service's PostgreSQL store.
//
// Lock order. Every transaction takes row locks in one order: an order's row (payments.orders),
// then that order's payment rows, then their refund rows. So the paths that meet on one
// order (an outcome, a cancellation, a refund, a payment request) serialise on the order's
// row. Across orders no single order can be imposed — the consumer of order events applies
// a batch in delivery order, whatever the order ids (issue 12 item 14: it deadlocked with
// the sorted batches of outcomes) — so no other transaction ever waits for a row while
// holding another order's:
//   - a transaction of one order (BeginPayment, RecordIntent, BeginRefund, RecordRefund, a
//     webhook) may wait: it holds nothing another order's transaction wants;
//   - a batch of several orders (the worker's answers, the sandbox's notices) takes each
//     order's row NOWAIT and leaves a busy one to a transaction of its own (lockedBatch);
//   - the worker's claims and bookkeeping take their rows SKIP LOCKED and never wait.
//
// A deadlock or serialization failure met anyway is retried as such (retryConflict).
type store struct {
	db       *pgxpool.Pool
	provider string
	// reconcileAfter is how long a payment (or refund) the provider has not decided waits
	// before the worker asks the provider about it.
	reconcileAfter time.Duration
	// actionTimeout is how long a payment may require its payer's action (Config).
	actionTimeout time.Duration
	// callTimeout bounds one provider call (Config.ProviderTimeout): a payment its request is
	// sending is not the worker's before that call could have ended.
	callTimeout time.Duration
}

// effect is what a committed transaction leaves to do: wake the worker for a refund it has
// to send. (Its events need nothing: the kit kicks the relay after a unit of work that wrote
// some, see outbox.Track.)
type effect struct {
	refundDue bool
	// alarms are what an operator must act on (logged as errors).
	alarms []string
	// captured, refunded and declined are what the transaction decided, for the business
	// counters (metrics.go): the amounts of payments captured and refunds confirmed, the
	// decline codes of payments that ended unpaid.
	captured, refunded []subjects.Money
	declined           []string
}

func (e *effect) add(o effect) {
	e.refundDue = e.refundDue || o.refundDue
	e.alarms = append(e.alarms, o.alarms...)
	e.captured = append(e.captured, o.captured...)
	e.refunded = append(e.refunded, o.refunded...)
	e.declined = append(e.declined, o.declined...)
}

// orderRank orders the copy's statuses: a status only moves up (cancelled ends it).
const orderRank = `case %s when 'placed' then 1 when 'reserved' then 2 when 'paid' then 3 else 4 end`

// liveStatuses are the statuses of a live payment: under way or captured. At most one
// payment of an order is live (the payments_one_live index).
const liveStatuses = `('created', 'processing', 'requires_action', 'succeeded')`

// upsertOrderSQL merges what an event (or the order service) says of an order ($1 id, $2
// user, $3 total, $4 currency, $5 status, $6 payment method, $7 trace parent; see orderArgs) into the copy,
// never moving its status back, and returns the copy, locked until the transaction ends.
var upsertOrderSQL = `insert into payments.orders as o (id, user_id, total_amount, currency, status, payment_method, trace_parent)
	values ($1, $2, $3, $4, $5, $6, nullif($7, ''))
	on conflict (id) do update set
		trace_parent = coalesce(o.trace_parent, excluded.trace_parent),
		user_id = case when o.user_id = '' then excluded.user_id else o.user_id end,
		total_amount = coalesce(o.total_amount, excluded.total_amount),
		currency = coalesce(o.currency, excluded.currency),
		status = case when ` + fmt.Sprintf(orderRank, "excluded.status") + ` > ` + fmt.Sprintf(orderRank, "o.status") + `
			then excluded.status else o.status end,
		payment_method = case when excluded.payment_method <> '' then excluded.payment_method else o.payment_method end,
		updated_at = now()
	returning ` + orderCols

func orderArgs(o Order) []any {
	var total *int64
	var currency *string
	if o.Total.Currency != "" { // an unknown total stays unknown
		total, currency = &o.Total.Amount, &o.Total.Currency
	}
	return []any{o.ID, o.UserID, total, currency, o.Status, o.PaymentMethod, o.TraceParent}
}

// upsertOrder merges o into the copy (see upsertOrderSQL) and returns the copy.
func (s *store) upsertOrder(ctx context.Context, tx pgx.Tx, o Order) (Order, error) {
	return scanOrder(tx.QueryRow(ctx, upsertOrderSQL, orderArgs(o)...))
}

// reserveOrder merges the reserved order o into the copy and starts its payment p in the
// same statement, unless the order is not payable or has a live payment already: payable's
// checks, in SQL. It is the checkout's hot path, so it costs one round trip per event.
// written reports whether p was stored, as it is returned.
func (s *store) reserveOrder(ctx context.Context, tx pgx.Tx, o Order, p Payment) (rec Payment, written bool, err error) {
	q := `with o as (` + upsertOrderSQL + `)
		insert into payments.payments (id, order_id, user_id, amount, currency, method, provider, status, decline_code, trace_parent)
		select $8, o.id, o.user_id, o.total_amount, o.currency, $9, $10, $11, $12, nullif($13, '') from o
		where o.status in ('placed', 'reserved') and o.total_amount > 0 and o.currency <> ''
			and not exists (select 1 from payments.payments x where x.order_id = o.id and x.status in ` + liveStatuses + `)
		on conflict (order_id) where status in ` + liveStatuses + ` do nothing
		returning ` + columns(paymentCols, "")
	rec, err = scanPayment(tx.QueryRow(ctx, q, append(orderArgs(o), p.ID, p.Method, p.Provider, p.Status, p.DeclineCode, trace.Parent(ctx))...))
	if errors.Is(err, pgx.ErrNoRows) {
		return rec, false, nil
	}
	return rec, err == nil, err
}

const orderCols = `id, user_id, coalesce(total_amount, 0) as total_amount, coalesce(currency, '') as currency, status, payment_method,
	coalesce(trace_parent, '') as trace_parent`

func scanOrder(row pgx.Row) (Order, error) {
	var o Order
	err := row.Scan(&o.ID, &o.UserID, &o.Total.Amount, &o.Total.Currency, &o.Status, &o.PaymentMethod, &o.TraceParent)
	if errors.Is(err, pgx.ErrNoRows) {
		return o, ErrOrderNotFound
	}
	return o, err
}

// Order returns the copy of order id; ErrOrderNotFound when no event about it has arrived.
func (s *store) Order(ctx context.Context, id uuid.UUID) (Order, error) {
	return scanOrder(s.db.QueryRow(ctx, `select `+orderCols+` from payments.orders where id = $1`, id))
}

// RememberOrder stores what the order service said of an order the events have not brought
// yet (they will, and merge into it).
func (s *store) RememberOrder(ctx context.Context, o Order) (Order, error) {
	var got Order
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) (err error) {
		got, err = s.upsertOrder(ctx, tx, o)
		return err
	})
	return got, err
}

// paymentCols are the columns scanPayment reads; @ stands for a table alias (see columns).
const paymentCols = `@id, @order_id, @user_id, @amount, @currency, @method, @provider, coalesce(@provider_ref, ''), @status, @decline_code, @created_at, coalesce(@trace_parent, '')`

// columns is cols with @ replaced by alias ("p." or "").
func columns(cols, alias string) string { return strings.ReplaceAll(cols, "@", alias) }

func scanPayment(row pgx.Row) (Payment, error) {
	var p Payment
	err := row.Scan(&p.ID, &p.OrderID, &p.UserID, &p.Amount.Amount, &p.Amount.Currency, &p.Method, &p.Provider,
		&p.ProviderRef, &p.Status, &p.DeclineCode, &p.CreatedAt, &p.TraceParent)
	return p, err
}

// livePayment returns the order's live payment (under way or captured), locked by tx.
func livePayment(ctx context.Context, tx pgx.Tx, orderID uuid.UUID) (Payment, bool, error) {
	p, err := scanPayment(tx.QueryRow(ctx, `select `+columns(paymentCols, "")+` from payments.payments
		where order_id = $1 and status in `+liveStatuses+` for update`, orderID))
	if errors.Is(err, pgx.ErrNoRows) {
		return p, false, nil
	}
	return p, err == nil, err
}

// BeginPayment writes a payment of the order's total with method for its owner userID, in
// status created, and commits it; the caller then calls the provider. When a payment is
// already under way it returns that one (fresh false). gate may refuse writing a new one.
// The worker leaves the new row alone while the caller's own provider call may still be under
// way (callTimeout, or reconcileAfter when that is longer): taken sooner, a slow create
// would be sent a second time. A call that ends without an answer marks the row unsure and
// due (markUnsure), so it is looked up at once.
func (s *store) BeginPayment(ctx context.Context, orderID uuid.UUID, userID, method string, gate func() error) (p Payment, fresh bool, err error) {
	err = pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		o, err := scanOrder(tx.QueryRow(ctx, `select `+orderCols+` from payments.orders where id = $1 for update`, orderID))
		if err != nil {
			return err
		}
		if o.UserID != userID {
			return ErrOrderNotFound
		}
		if p, err = payable(ctx, tx, o); err != nil || p.ID != uuid.Nil {
			return err
		}
		if err := gate(); err != nil {
			return err
		}
		p, fresh = newPayment(o, method, s.provider), true
		return insertPayment(ctx, tx, p, time.Now().Add(max(s.reconcileAfter, s.callTimeout)))
	})
	return p, fresh, err
}

// payable checks that order o (locked) may be paid now: the payment under way when there is
// one, an error when it is cancelled, paid or free, a zero Payment when it is to be paid.
func payable(ctx context.Context, tx pgx.Tx, o Order) (Payment, error) {
	if o.Status == orderCancelled {
		return Payment{}, ErrOrderCancelled
	}
	live, ok, err := livePayment(ctx, tx, o.ID)
	switch {
	case err != nil:
		return Payment{}, err
	case ok && live.Status == subjects.PaymentStatusSucceeded:
		return Payment{}, ErrAlreadyPaid
	case ok:
		return live, nil
	case o.Status == orderPaid:
		return Payment{}, ErrAlreadyPaid
	case o.Total.Currency == "" || o.Total.Amount <= 0:
		return Payment{}, ErrNothingToPay
	}
	return Payment{}, nil
}

func newPayment(o Order, method, provider string) Payment {
	return Payment{ID: newID(), OrderID: o.ID, UserID: o.UserID, Amount: o.Total, Method: method,
		Provider: provider, Status: statusCreated, CreatedAt: time.Now()}
}

func insertPayment(ctx context.Context, tx pgx.Tx, p Payment, due time.Time) error {
	_, err := tx.Exec(ctx, `insert into payments.payments
		(id, order_id, user_id, amount, currency, method, provider, status, decline_code, next_attempt_at, trace_parent)
		values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, nullif($11, ''))`,
		p.ID, p.OrderID, p.UserID, p.Amount.Amount, p.Amount.Currency, p.Method, p.Provider, p.Status, p.DeclineCode, due, trace.Parent(ctx))
	return err
}

// RecordIntent records the provider's word on payment id in its own transaction; see
// recordIntent.
func (s *store) RecordIntent(ctx context.Context, id uuid.UUID, in Intent) (Payment, effect, error) {
	var p Payment
	var eff effect
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) (err error) {
		p, eff, err = s.recordIntent(ctx, tx, id, in, lockWait)
		return err
	})
	if err != nil {
		return p, effect{}, err // rolled back: nothing to do, nothing to count
	}
	return p, eff, nil
}

// recordIntent is the one place an outcome is applied, whichever way it came: the answer
// to Create, a webhook, a sandbox notice, reconciliation. A decided payment never changes
// again, so a second word on it is a no-op. Success and failure are published through the
// outbox in this transaction; a success for an order cancelled meanwhile refunds it.
//
// lock is lockWait, or lockNoWait in a batch of several orders (see lockedBatch).
func (s *store) recordIntent(ctx context.Context, tx pgx.Tx, id uuid.UUID, in Intent, lock string) (Payment, effect, error) {
	// One round trip, the locks in the house order: the payment's order, then the payment.
	var orderStatus string
	var p Payment
	b := &pgx.Batch{}
	b.Queue(`select status from payments.orders where id = (select order_id from payments.payments where id = $1) for update`+lock, id).
		QueryRow(func(row pgx.Row) error { return row.Scan(&orderStatus) })
	b.Queue(`select `+columns(paymentCols, "")+` from payments.payments where id = $1 for update`, id).
		QueryRow(func(row pgx.Row) (err error) {
			p, err = scanPayment(row)
			return err
		})
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return p, effect{}, fmt.Errorf("payment %s: %w", id, err)
	}
	// Whatever brought the word (a worker's call, a webhook, a notice), it is a step of the
	// checkout that started the payment: recorded in its trace, and its event carries it on.
	ctx, span := trace.Resume(ctx, p.TraceParent, "payment.record", oteltrace.WithAttributes(
		attribute.String("payment.status", in.Status), attribute.String("payment.id", id.String())))
	defer span.End()
	if decided(p.Status) {
		if in.Status != subjects.PaymentStatusSucceeded || p.Status == in.Status {
			return p, effect{}, nil
		}
		// Captured after it was recorded failed or canceled (the payer confirmed a
		// declined intent again, an unsure create went through after all): the money goes
		// back, and the payment stays as recorded, so the order never counts it.
		// Captured all the same: counted as revenue once (the refund's first insert), and its
		// refund as a refund when the provider confirms it.
		due, err := refundLateSuccess(ctx, tx, p, in.Ref)
		eff := effect{refundDue: due}
		if due {
			eff.captured = []subjects.Money{p.Amount}
		}
		return p, eff, err
	}
	if p.ProviderRef != "" || in.Ref == "" {
		in.Ref = p.ProviderRef // an intent's id never changes: the first one recorded stays
	}
	if !decided(in.Status) {
		// Undecided: the first answer to a created row sets the reconciliation clock; later
		// words (webhooks, retrieves) leave the worker's back-off alone.
		_, err := tx.Exec(ctx, `update payments.payments set status = $2, provider_ref = nullif($3, ''), unsure_at = null,
			updated_at = now(),
			next_attempt_at = case when status = 'created' then now() + make_interval(secs => $4) else next_attempt_at end
			where id = $1`, p.ID, in.Status, in.Ref, s.reconcileAfter.Seconds())
		p.Status, p.ProviderRef = in.Status, in.Ref
		return p, effect{}, err
	}
	p.Status, p.ProviderRef, p.DeclineCode = in.Status, in.Ref, in.DeclineCode
	// A failed intent stays confirmable at Stripe (requires_payment_method): the worker
	// cancels it there, so a payer cannot pay an order that already moved on.
	cancelDue := p.Status == subjects.PaymentStatusFailed && p.ProviderRef != "" && !in.final
	b = &pgx.Batch{}
	b.Queue(`update payments.payments set status = $2, provider_ref = nullif($3, ''), decline_code = $4, unsure_at = null,
		cancel_due = $5, next_attempt_at = case when $5 then now() else next_attempt_at end, attempts = case when $5 then 0 else attempts end,
		updated_at = now() where id = $1`, p.ID, p.Status, p.ProviderRef, p.DeclineCode, cancelDue)
	// A cancelled order needs no word of a payment that ended unpaid: it is cancelled
	// already, and payment.failed would only tell the customer of a decline that no longer
	// matters.
	if p.Status == subjects.PaymentStatusSucceeded || orderStatus != orderCancelled {
		if err := outbox.Queue(ctx, b, Schema, outcomeEvent(p)); err != nil {
			return p, effect{}, err
		}
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return p, effect{}, err
	}
	eff := outcome(p)
	if p.Status == subjects.PaymentStatusSucceeded && orderStatus == orderCancelled {
		due, err := refundCancelled(ctx, tx, p)
		eff.refundDue = due
		return p, eff, err
	}
	return p, eff, nil
}

// outcomeEvent is the event a decided payment publishes.
func outcomeEvent(p Payment) outbox.Event {
	id := outbox.NewID()
	now := time.Now().UTC()
	if p.Status == subjects.PaymentStatusSucceeded {
		return outbox.Event{ID: id, Subject: subjects.EvtPaymentSucceeded.Subject(p.OrderID.String()),
			Payload: subjects.PaymentSucceeded{EventID: id.String(), OccurredAt: now, OrderID: p.OrderID.String(),
				UserID: p.UserID, PaymentID: p.ID.String(), Amount: p.Amount, Provider: p.Provider}}
	}
	return outbox.Event{ID: id, Subject: subjects.EvtPaymentFailed.Subject(p.OrderID.String()),
		Payload: subjects.PaymentFailedEvent{EventID: id.String(), OccurredAt: now, OrderID: p.OrderID.String(),
			UserID: p.UserID, PaymentID: p.ID.String(), Amount: p.Amount, Provider: p.Provider, Reason: p.DeclineCode}}
}

// word is a provider's word on one payment of an order.
type word struct {
	id, orderID uuid.UUID
	in          Intent
}

// RecordIntents records the providers' words on several payments in one transaction (see
// recordIntent); one that fails is rolled back alone. See lockedBatch for its locks.
func (s *store) RecordIntents(ctx context.Context, words []word) (effect, error) {
	words = slices.SortedFunc(slices.Values(words), func(a, b word) int { return bytes.Compare(a.orderID[:], b.orderID[:]) })
	return s.lockedBatch(ctx, len(words), func(ctx context.Context, tx pgx.Tx, i int, lock string) (effect, error) {
		_, eff, err := s.recordIntent(ctx, tx, words[i].id, words[i].in, lock)
		return eff, err
	})
}

// Lock clauses of an order's row: a transaction that holds one order may wait for it; a
// batch of several orders may not (see the lock order at the top of this file).
const (
	lockWait   = ""
	lockNoWait = " nowait"
)

// lockedBatch runs apply for items 0..n-1 in one transaction, as inBatch does, each item
// taking its order's row NOWAIT (apply's lock argument): a batch that holds some orders
// never waits for another, so it cannot close a circle with the consumer's batch, which
// takes its orders in delivery order. An item whose order was busy (55P03) is rolled back
// and runs after the batch in a transaction of its own, which may wait: it holds one
// order. A batch of one waits at once.
func (s *store) lockedBatch(ctx context.Context, n int, apply func(ctx context.Context, tx pgx.Tx, i int, lock string) (effect, error)) (effect, error) {
	if n == 1 {
		return s.inBatch(ctx, 1, func(ctx context.Context, tx pgx.Tx, i int) (effect, error) { return apply(ctx, tx, i, lockWait) })
	}
	eff, errs, err := s.batchItems(ctx, n, func(ctx context.Context, tx pgx.Tx, i int) (effect, error) { return apply(ctx, tx, i, lockNoWait) })
	if err != nil {
		return effect{}, err
	}
	var failed error
	for i, err := range errs {
		if pg.Code(err) != lockNotAvailable {
			failed = errors.Join(failed, err)
			continue
		}
		e, err := s.inBatch(ctx, 1, func(ctx context.Context, tx pgx.Tx, _ int) (effect, error) { return apply(ctx, tx, i, lockWait) })
		eff.add(e)
		failed = errors.Join(failed, err)
	}
	return eff, failed
}

// lockNotAvailable is the SQLSTATE of a NOWAIT lock that was held.
const lockNotAvailable = "55P03"

// inBatch runs apply for items 0..n-1 in one transaction (one commit for them all): an
// item that fails is rolled back alone and its error joins the returned one, while the
// others commit. An error of the transaction itself fails them all.
func (s *store) inBatch(ctx context.Context, n int, apply func(ctx context.Context, tx pgx.Tx, i int) (effect, error)) (effect, error) {
	eff, errs, err := s.batchItems(ctx, n, apply)
	if err != nil {
		return effect{}, err
	}
	return eff, errors.Join(errs...)
}

// batchItems is inBatch with each item's error apart (nil for those that committed), and
// the transaction's own error.
//
// The items run first without a savepoint each (two round trips fewer per item; the
// sandbox's notices and the worker's answers pass here once per checkout each). When one
// fails, that transaction is rolled back and the batch runs again with a savepoint per item.
func (s *store) batchItems(ctx context.Context, n int, apply func(ctx context.Context, tx pgx.Tx, i int) (effect, error)) (effect, []error, error) {
	eff, errs, err := s.runBatch(ctx, n, apply, false)
	if errors.Is(err, errItemFailed) {
		return s.runBatch(ctx, n, apply, true)
	}
	return eff, errs, err
}

// errItemFailed ends an unguarded batch in which an item failed.
var errItemFailed = errors.New("an item of an unguarded batch failed")

// runBatch is one try of batchItems, guarded (a savepoint per item) or not.
func (s *store) runBatch(ctx context.Context, n int, apply func(ctx context.Context, tx pgx.Tx, i int) (effect, error), guarded bool) (effect, []error, error) {
	var eff effect
	errs := make([]error, n)
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		eff = effect{}
		clear(errs)
		for i := range n {
			if !guarded {
				e, err := apply(ctx, tx, i)
				if err != nil {
					return errItemFailed
				}
				eff.add(e)
				continue
			}
			sp, err := tx.Begin(ctx)
			if err != nil {
				return err
			}
			e, err := apply(ctx, sp, i)
			if err != nil {
				errs[i] = err
				if err := sp.Rollback(ctx); err != nil {
					return err
				}
				continue
			}
			if err := sp.Commit(ctx); err != nil {
				return err
			}
			eff.add(e)
		}
		return nil
	})
	if err != nil {
		return effect{}, nil, err
	}
	return eff, errs, nil
}
