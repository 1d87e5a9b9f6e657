package payment

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/souk/souk/platform/outbox"
	"github.com/souk/souk/subjects"
)

const refundCols = `@id, @payment_id, @order_id, @amount, @currency, @status, @reason, coalesce(@provider_ref, ''), @created_at`

func scanRefund(row pgx.Row) (Refund, error) {
	var r Refund
	err := row.Scan(&r.ID, &r.PaymentID, &r.OrderID, &r.Amount.Amount, &r.Amount.Currency, &r.Status, &r.Reason,
		&r.ProviderRef, &r.CreatedAt)
	return r, err
}

// capturedPayment returns the order's captured payment, locked by tx: the lock that
// serialises every refund of it.
func capturedPayment(ctx context.Context, tx pgx.Tx, orderID uuid.UUID) (Payment, bool, error) {
	p, err := scanPayment(tx.QueryRow(ctx, `select `+columns(paymentCols, "")+` from payments.payments
		where order_id = $1 and status = 'succeeded' for update`, orderID))
	if errors.Is(err, pgx.ErrNoRows) {
		return p, false, nil
	}
	return p, err == nil, err
}

// remaining is what of payment p is neither refunded nor being refunded; p is locked.
func remaining(ctx context.Context, tx pgx.Tx, p Payment) (int64, error) {
	var held int64
	err := tx.QueryRow(ctx, `select coalesce(sum(amount), 0) from payments.refunds
		where payment_id = $1 and status <> 'failed'`, p.ID).Scan(&held)
	return p.Amount.Amount - held, err
}

// BeginRefund writes a refund of the order's captured payment — amount, or all that remains
// when nil — requested by user by, and commits it; the caller then calls the provider. The
// same key for the same order returns the first refund (fresh false). gate may refuse
// writing a new one. paymentRef is the provider's id of the payment to refund.
func (s *store) BeginRefund(ctx context.Context, orderID uuid.UUID, amount *int64, key, by string, gate func() error) (r Refund, paymentRef string, fresh bool, err error) {
	err = pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		// The order's lock first (the house order, see store), although a refund changes
		// nothing of it: the refund's foreign key takes a share of it after the payment's
		// lock, which would wait in a circle with a path that holds the order and wants the
		// payment.
		if err := tx.QueryRow(ctx, `select id from payments.orders where id = $1 for update`, orderID).Scan(&orderID); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return ErrOrderNotFound
			}
			return err
		}
		p, ok, err := capturedPayment(ctx, tx, orderID)
		if err != nil {
			return err
		}
		if !ok {
			return ErrNothingCaptured
		}
		paymentRef = p.ProviderRef
		if key != "" { // under the payment's lock, so a racing twin has committed or not begun
			r, err = scanRefund(tx.QueryRow(ctx, `select `+columns(refundCols, "")+` from payments.refunds
				where order_id = $1 and idempotency_key = $2`, orderID, key))
			if err == nil || !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
		}
		left, err := remaining(ctx, tx, p)
		switch {
		case err != nil:
			return err
		case left <= 0:
			return ErrFullyRefunded
		case amount != nil && *amount > left:
			return ErrExceedsCaptured
		case amount != nil:
			left = *amount
		}
		if err := gate(); err != nil {
			return err
		}
		r, fresh = newRefund(p, left, reasonRequested), true
		return insertRefund(ctx, tx, r, key, by, time.Now().Add(s.reconcileAfter))
	})
	return r, paymentRef, fresh, err
}

func newRefund(p Payment, amount int64, reason string) Refund {
	return Refund{ID: newID(), PaymentID: p.ID, OrderID: p.OrderID, Status: refundPending, Reason: reason,
		Amount: subjects.Money{Amount: amount, Currency: p.Amount.Currency}, CreatedAt: time.Now()}
}

// insertRefund writes r with the admin's idempotency key (none when empty), due for the
// worker at due.
func insertRefund(ctx context.Context, tx pgx.Tx, r Refund, key, by string, due time.Time) error {
	var k *string
	if key != "" {
		k = &key
	}
	_, err := tx.Exec(ctx, `insert into payments.refunds
		(id, payment_id, order_id, amount, currency, status, reason, idempotency_key, requested_by, next_attempt_at)
		values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		r.ID, r.PaymentID, r.OrderID, r.Amount.Amount, r.Amount.Currency, r.Status, r.Reason, k, by, due)
	return err
}

// refundCancelled refunds what remains of captured payment p (locked) because its order was
// cancelled, and reports whether a refund is now due. The partial unique index on
// cancellation refunds makes it one per order, however the cancellation and the success
// interleave and however often either arrives.
func refundCancelled(ctx context.Context, tx pgx.Tx, p Payment) (bool, error) {
	left, err := remaining(ctx, tx, p)
	if err != nil || left <= 0 {
		return false, err
	}
	return insertDueRefund(ctx, tx, newRefund(p, left, reasonCancellation), `(order_id) where reason = 'cancellation'`)
}

// insertDueRefund writes the service's own refund r, due for the worker now, unless the
// partial unique index of target holds one already; it reports whether r was written.
func insertDueRefund(ctx context.Context, tx pgx.Tx, r Refund, target string) (bool, error) {
	tag, err := tx.Exec(ctx, `insert into payments.refunds
		(id, payment_id, order_id, amount, currency, status, reason, next_attempt_at)
		values ($1, $2, $3, $4, $5, $6, $7, now())
		on conflict `+target+` do nothing`,
		r.ID, r.PaymentID, r.OrderID, r.Amount.Amount, r.Amount.Currency, r.Status, r.Reason)
	return err == nil && tag.RowsAffected() == 1, err
}

// refundLateSuccess refunds payment p (locked, decided unpaid) in full because its provider
// captured it after all, and reports whether a refund is now due. ref is the provider's
// intent: kept when p has none yet, since the refund is sent against it. The partial unique
// index on late-success refunds makes it one per payment, however often the success is
// told.
func refundLateSuccess(ctx context.Context, tx pgx.Tx, p Payment, ref string) (bool, error) {
	if p.ProviderRef == "" && ref != "" {
		if _, err := tx.Exec(ctx, `update payments.payments set provider_ref = $2 where id = $1 and provider_ref is null`, p.ID, ref); err != nil {
			return false, err
		}
	}
	return insertDueRefund(ctx, tx, newRefund(p, p.Amount.Amount, reasonLateSuccess), `(payment_id) where reason = 'late_success'`)
}

// cancelOrder marks the copy of order o cancelled and refunds what was captured of it. A
// payment still under way is refunded when it succeeds (recordIntent sees the cancellation).
func (s *store) cancelOrder(ctx context.Context, tx pgx.Tx, o Order) (effect, error) {
	o.Status = orderCancelled
	if _, err := s.upsertOrder(ctx, tx, o); err != nil { // locks the order row first
		return effect{}, err
	}
	p, ok, err := capturedPayment(ctx, tx, o.ID)
	if err != nil || !ok {
		return effect{}, err
	}
	due, err := refundCancelled(ctx, tx, p)
	return effect{refundDue: due}, err
}

// RecordRefund records the provider's word on refund id in its own transaction; see
// recordRefund.
func (s *store) RecordRefund(ctx context.Context, id uuid.UUID, res RefundResult) (Refund, effect, error) {
	var r Refund
	var eff effect
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) (err error) {
		r, eff, err = recordRefund(ctx, tx, id, res, lockWait)
		return err
	})
	if err != nil {
		return r, effect{}, err // rolled back: nothing to do, nothing to count
	}
	return r, eff, nil
}

// recordRefund applies the provider's word on a refund, once: a decided refund never changes
// again. A success publishes payment.refunded with everything refunded of the payment so
// far; a failure releases the amount for another refund and raises an alarm.
//
// lock is lockWait, or lockNoWait in a batch of several orders (see lockedBatch).
func recordRefund(ctx context.Context, tx pgx.Tx, id uuid.UUID, res RefundResult, lock string) (Refund, effect, error) {
	// The locks in the house order: the order, the payment, the refund (one round trip).
	var p Payment
	var r Refund
	b := &pgx.Batch{}
	b.Queue(`select id from payments.orders where id = (select order_id from payments.refunds where id = $1) for update`+lock, id).
		QueryRow(func(row pgx.Row) error { var o uuid.UUID; return row.Scan(&o) })
	b.Queue(`select `+columns(paymentCols, "")+` from payments.payments
		where id = (select payment_id from payments.refunds where id = $1) for update`, id).
		QueryRow(func(row pgx.Row) (err error) { p, err = scanPayment(row); return err })
	b.Queue(`select `+columns(refundCols, "")+` from payments.refunds where id = $1 for update`, id).
		QueryRow(func(row pgx.Row) (err error) { r, err = scanRefund(row); return err })
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return r, effect{}, fmt.Errorf("refund %s: %w", id, err)
	}
	if r.Status != refundPending {
		return r, effect{}, nil
	}
	if r.ProviderRef != "" || res.Ref == "" {
		res.Ref = r.ProviderRef
	}
	r.Status, r.ProviderRef = res.Status, res.Ref
	if _, err := tx.Exec(ctx, `update payments.refunds set status = $2, provider_ref = nullif($3, ''), failure_reason = $4,
		updated_at = now() where id = $1`, r.ID, r.Status, r.ProviderRef, res.FailureReason); err != nil {
		return r, effect{}, err
	}
	switch r.Status {
	case refundFailed:
		return r, effect{alarms: []string{"the provider failed refund " + r.ID.String() + " (" + res.FailureReason + "): settle it by hand"}}, nil
	case refundSucceeded:
		var total int64
		if err := tx.QueryRow(ctx, `select coalesce(sum(amount), 0) from payments.refunds
			where payment_id = $1 and status = 'succeeded'`, p.ID).Scan(&total); err != nil {
			return r, effect{}, err
		}
		ev := outbox.NewID()
		err := outbox.Add(ctx, tx, Schema, outbox.Event{ID: ev, Subject: subjects.EvtPaymentRefunded.Subject(p.OrderID.String()),
			Payload: subjects.PaymentRefunded{EventID: ev.String(), OccurredAt: time.Now().UTC(), OrderID: p.OrderID.String(),
				UserID: p.UserID, PaymentID: p.ID.String(), RefundID: r.ID.String(), Amount: r.Amount,
				TotalRefunded: subjects.Money{Amount: total, Currency: p.Amount.Currency}}})
		return r, effect{refunded: []subjects.Money{r.Amount}}, err
	}
	return r, effect{}, nil
}
