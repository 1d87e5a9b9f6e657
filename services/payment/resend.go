package payment

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/souk/souk/platform/pg"
	"github.com/souk/souk/subjects"
)

// searchLag is how long after a create whose answer was lost the worker trusts a search that
// finds no intent: Stripe's search index follows writes by up to a minute.
const searchLag = time.Minute

// maxConflictRetries bounds the immediate retries of a transaction that met a deadlock or a
// serialization failure.
const maxConflictRetries = 3

// askOutcome is what became of one provider call of the worker, for its row's bookkeeping.
type askOutcome int

const (
	// asked: the provider answered, or failed in a way the row's back-off paces.
	asked askOutcome = iota
	// refused: the breaker refused the call, which never left: the claim is given back, so
	// an outage spends none of the row's back-off.
	refused
	// unsure: a create's answer was lost (a 5xx or a network error): the intent may exist,
	// and Stripe would replay a stored 500 for its key.
	unsure
	// cancelled: a failed payment's intent is cancelled at the provider (or cannot be).
	cancelled
)

// claimedPayment is a due payment as the worker claims it.
type claimedPayment struct {
	Payment
	// attempt is the create's idempotency-key attempt (IntentRequest.Attempt).
	attempt int
	// unsureAt is when a create's answer was last lost; nil when none was.
	unsureAt *time.Time
	// orderCancelled: the order was cancelled when the payment was claimed.
	orderCancelled bool
}

// sends reports whether the worker's next call for p is a create: the provider has not
// (knowingly) answered it yet.
func (p claimedPayment) sends() bool { return p.Status == statusCreated || p.ProviderRef == "" }

// backoffSQL is the wait before the next look at a row of alias after this one, by how many
// looks it has had: reconcileAfter ($2 seconds) doubling up to maxBackoff ($3 seconds).
func backoffSQL(alias string) string {
	return `make_interval(secs => least($3::float8, $2::float8 * power(2, least(` + alias + `attempts, 20))))`
}

// claimPaymentsSQL claims due undecided payments ($1 limit, $4 provider) and schedules their
// next look; a payment requiring action is looked at again no later than its deadline ($5
// seconds after its creation). A payment still created whose order is cancelled is never
// sent: it is canceled here, under its order's lock, and not returned (one that is unsure
// is returned, to be looked up first: it may have reached the provider). Rows are taken
// SKIP LOCKED, the order's row with its payment's, so a claim never waits: a payment whose
// order is busy is taken in a later round.
var claimPaymentsSQL = `with due as (
		select p.id, o.status = 'cancelled' as order_cancelled,
			p.status = 'created' and o.status = 'cancelled' and p.unsure_at is null as unsent
		from payments.payments p join payments.orders o on o.id = p.order_id
		where p.status in ('created', 'processing', 'requires_action') and p.next_attempt_at <= now() and p.provider = $4
		order by p.next_attempt_at limit $1
		for update of p, o skip locked),
	dropped as (
		update payments.payments p set status = 'canceled', decline_code = '` + declineOrderCancelled + `', updated_at = now()
		from due where p.id = due.id and due.unsent)
	update payments.payments p set attempts = p.attempts + 1,
		next_attempt_at = case when p.status = 'requires_action' and p.created_at + make_interval(secs => $5) > now()
			then least(now() + ` + backoffSQL("p.") + `, p.created_at + make_interval(secs => $5))
			else now() + ` + backoffSQL("p.") + ` end
	from due where p.id = due.id and not due.unsent
	returning ` + columns(paymentCols, "p.") + `, p.create_attempt, p.unsure_at, due.order_cancelled`

// claimPayments takes up to limit due, undecided payments of this provider (see
// claimPaymentsSQL), in one short transaction; SKIP LOCKED lets instances share the work.
func (s *store) claimPayments(ctx context.Context, limit int) ([]claimedPayment, error) {
	rows, err := s.db.Query(ctx, claimPaymentsSQL, limit, s.reconcileAfter.Seconds(), maxBackoff.Seconds(), s.provider,
		s.actionTimeout.Seconds())
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (claimedPayment, error) {
		var c claimedPayment
		err := r.Scan(&c.ID, &c.OrderID, &c.UserID, &c.Amount.Amount, &c.Amount.Currency, &c.Method, &c.Provider,
			&c.ProviderRef, &c.Status, &c.DeclineCode, &c.CreatedAt, &c.TraceParent, &c.attempt, &c.unsureAt, &c.orderCancelled)
		return c, err
	})
}

// ask asks the provider about one due payment: a created one is sent again with its key (or
// failed, past the key's lifetime; or looked up first, when its last create went
// unanswered), one requiring action past its deadline (or of a cancelled order) is
// cancelled at the provider, any other undecided one is retrieved. A zero Intent means no
// answer; the payment's next look is already scheduled by its claim.
func (w *worker) ask(ctx context.Context, p claimedPayment) (Intent, askOutcome) {
	s := w.svc
	switch {
	case p.sends() && time.Since(p.CreatedAt) > keyLifetime:
		return Intent{Status: subjects.PaymentStatusFailed, DeclineCode: "provider_unreachable"}, asked
	case p.sends() && p.unsureAt != nil:
		return w.lookUp(ctx, p)
	case p.sends() && p.orderCancelled:
		return Intent{Status: subjects.PaymentStatusCanceled, DeclineCode: declineOrderCancelled, final: true}, asked
	case p.sends():
		in, err := s.create(ctx, p.Payment, p.attempt)
		return w.answer(p, in, err, unsure)
	case p.Status == subjects.PaymentStatusRequiresAction && (p.orderCancelled || time.Since(p.CreatedAt) >= s.cfg.ActionTimeout):
		return w.expire(ctx, p)
	}
	in, err := s.provider.Retrieve(ctx, p.ProviderRef)
	return w.answer(p, in, err, asked)
}

// answer is the worker's take on a provider call for p: its answer, or a logged failure
// whose outcome is failure (or refused, for the breaker's refusal, which is not logged).
func (w *worker) answer(p claimedPayment, in Intent, err error, failure askOutcome) (Intent, askOutcome) {
	switch {
	case errors.Is(err, errUnavailable):
		return Intent{}, refused
	case err != nil:
		if errors.Is(err, errNotReached) {
			failure = asked // it never left: the same key is safe to send again
		}
		w.svc.log.Warn().Err(err).Str("payment_id", p.ID.String()).Str("status", p.Status).Msg("payment worker: payment not advanced; retrying later")
		return Intent{}, failure
	}
	return in, asked
}

// lookUp finds the intent of a payment whose last create went unanswered instead of sending
// it again with the same key (Stripe replays a stored 500 for 24 h). Found, it is recorded
// as the provider has it. Not found, and the search index has had searchLag to catch up:
// a payment of a cancelled order is canceled unsent, any other is sent with a new key.
func (w *worker) lookUp(ctx context.Context, p claimedPayment) (Intent, askOutcome) {
	s := w.svc
	in, found, err := s.provider.Find(ctx, p.ID)
	switch {
	case err != nil:
		return w.answer(p, in, err, asked)
	case found:
		return in, asked
	case p.orderCancelled:
		return Intent{Status: subjects.PaymentStatusCanceled, DeclineCode: declineOrderCancelled, final: true}, asked
	case time.Since(*p.unsureAt) < searchLag:
		return Intent{}, asked
	}
	attempt, err := s.store.nextAttempt(ctx, p.ID)
	if err != nil {
		return w.answer(p, in, err, asked)
	}
	in, err = s.create(ctx, p.Payment, attempt)
	return w.answer(p, in, err, unsure)
}

// expire ends a payment whose payer did not act in time (or whose order is cancelled): its
// intent is cancelled at the provider and the payment fails. An intent that cannot be
// cancelled any more moved on (the payer acted after all): what it is now is recorded.
func (w *worker) expire(ctx context.Context, p claimedPayment) (Intent, askOutcome) {
	s := w.svc
	in, err := s.provider.Cancel(ctx, p.ProviderRef)
	var rej *rejectedError
	if errors.As(err, &rej) {
		in, err = s.provider.Retrieve(ctx, p.ProviderRef)
		return w.answer(p, in, err, asked)
	}
	if err != nil {
		return w.answer(p, in, err, asked)
	}
	code := declineActionTimeout
	if p.orderCancelled {
		code = declineOrderCancelled
	}
	return Intent{Ref: p.ProviderRef, Status: subjects.PaymentStatusFailed, DeclineCode: code, final: true}, asked
}

// claimedCancel is a failed payment whose intent is to be cancelled at the provider.
type claimedCancel struct {
	ID, OrderID uuid.UUID
	ref         string
}

// claimCancels takes up to limit failed payments whose intents are due to be cancelled at
// the provider, and schedules their next try (the back-off of payments).
func (s *store) claimCancels(ctx context.Context, limit int) ([]claimedCancel, error) {
	rows, err := s.db.Query(ctx, `with due as (
			select id from payments.payments
			where cancel_due and next_attempt_at <= now() and provider = $4
			order by next_attempt_at limit $1 for update skip locked)
		update payments.payments p set attempts = p.attempts + 1, next_attempt_at = now() + `+backoffSQL("p.")+`
		from due where p.id = due.id
		returning p.id, p.order_id, coalesce(p.provider_ref, '')`, limit, s.reconcileAfter.Seconds(), maxBackoff.Seconds(), s.provider)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (claimedCancel, error) {
		var c claimedCancel
		return c, r.Scan(&c.ID, &c.OrderID, &c.ref)
	})
}

// cancel cancels the intent of failed payment c at the provider, so that its payer cannot
// confirm it any more. An intent that cannot be cancelled is retrieved: if the payer paid
// it meanwhile, recording that success refunds it (recordIntent).
func (w *worker) cancel(ctx context.Context, c claimedCancel) (Intent, askOutcome) {
	s := w.svc
	_, err := s.provider.Cancel(ctx, c.ref)
	var rej *rejectedError
	switch {
	case err == nil:
		return Intent{}, cancelled
	case errors.Is(err, errUnavailable):
		return Intent{}, refused
	case errors.As(err, &rej):
		in, err := s.provider.Retrieve(ctx, c.ref)
		if err == nil {
			return in, cancelled
		}
	}
	s.log.Warn().Err(err).Str("payment_id", c.ID.String()).Msg("payment worker: failed intent not cancelled at the provider; retrying later")
	return Intent{}, asked
}

// nextAttempt moves payment id to its next idempotency-key attempt and returns it; the move
// is committed before the create that uses it, so no key is ever used for two creates.
func (s *store) nextAttempt(ctx context.Context, id uuid.UUID) (int, error) {
	var n int
	err := s.db.QueryRow(ctx, `update payments.payments set create_attempt = create_attempt + 1, unsure_at = null
		where id = $1 returning create_attempt`, id).Scan(&n)
	return n, err
}

// markUnsure records that a create of payment id went unanswered (see lookUp).
func (s *store) markUnsure(ctx context.Context, id uuid.UUID) error {
	_, err := s.db.Exec(ctx, `update payments.payments set unsure_at = now(),
		next_attempt_at = least(next_attempt_at, now() + make_interval(secs => $2)) where id = $1 and provider_ref is null`,
		id, s.reconcileAfter.Seconds())
	return err
}

// settleClaims does a round's bookkeeping in one round trip: back (payments) and refundsBack
// were refused by the breaker and get their claim back (due now, the look not counted);
// unsure payments' creates went unanswered; done payments' intents are cancelled at the
// provider. Rows are taken SKIP LOCKED, so this never waits while holding others: a row
// that is busy keeps its claim's back-off, which costs a wait, never an effect.
func (s *store) settleClaims(ctx context.Context, back, unsure, done, refundsBack []uuid.UUID) error {
	b := &pgx.Batch{}
	b.Queue(`update payments.payments set attempts = greatest(attempts - 1, 0), next_attempt_at = now()
		where id in (select id from payments.payments where id = any($1) for update skip locked)`, back)
	b.Queue(`update payments.payments set unsure_at = now()
		where id in (select id from payments.payments where id = any($1) and provider_ref is null for update skip locked)`, unsure)
	b.Queue(`update payments.payments set cancel_due = false
		where id in (select id from payments.payments where id = any($1) for update skip locked)`, done)
	b.Queue(`update payments.refunds set attempts = greatest(attempts - 1, 0), next_attempt_at = now()
		where id in (select id from payments.refunds where id = any($1) for update skip locked)`, refundsBack)
	return pg.Send(ctx, s.db, b)
}

// retryConflict runs fn, and again at once (up to maxConflictRetries times in all) while it
// fails with a deadlock or a serialization failure: those say nothing of the work, only of
// its timing.
func retryConflict(ctx context.Context, fn func() error) error {
	var err error
	for range maxConflictRetries {
		if err = fn(); !conflict(err) || ctx.Err() != nil {
			return err
		}
	}
	return err
}

// conflict reports whether err is a deadlock or a serialization failure.
func conflict(err error) bool {
	code := pg.Code(err)
	return code == pg.DeadlockDetected || code == pg.SerializationFailure
}
