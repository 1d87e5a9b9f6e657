package payment

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"golang.org/x/sync/errgroup"

	"github.com/souk/souk/platform/trace"
)

const (
	// workerBatch is the most payments (and refunds) one round of the worker claims.
	workerBatch = 64
	// workerParallel bounds the provider calls one worker makes at once.
	workerParallel = 8
	// maxBackoff caps the wait between two looks at one undecided payment.
	maxBackoff = time.Hour
	// keyLifetime is how long a provider honours an idempotency key (Stripe: 24 hours).
	// A payment still created after it is failed rather than sent again: a new call
	// could charge a second time if the first one did reach the provider.
	keyLifetime = 23 * time.Hour
	// noticeRetention is how long applied webhook event ids are kept: Stripe retries a
	// webhook for three days.
	noticeRetention = 30 * 24 * time.Hour
)

// worker finishes what was interrupted and reconciles what is undecided: payments still
// created (a crash before or during the provider call: sent again with the same key),
// payments processing or requiring action past their time (asked with Retrieve), and
// refunds the provider has not answered (sent again with the same key). Each look at a row
// pushes its next one back exponentially, so a row the provider never decides costs a call
// an hour at most. While the breaker is open it waits. The kit runs its rounds (see
// service.loops).
type worker struct {
	svc *service
}

// round advances one batch of due payments, one of due refunds and one of failed intents to
// cancel at the provider, and reports whether any batch was full. The provider is asked
// about each payment in parallel; the answers are recorded together, in one transaction.
// While the breaker is open it does nothing: the loop waits.
func (w *worker) round(ctx context.Context) (more bool) {
	s := w.svc
	if s.provider.open() {
		return false
	}
	payments, err := s.store.claimPayments(ctx, workerBatch)
	if err != nil && ctx.Err() == nil {
		s.log.Warn().Err(err).Msg("payment worker: claim payments")
	}
	refunds, err := s.store.claimRefunds(ctx, workerBatch)
	if err != nil && ctx.Err() == nil {
		s.log.Warn().Err(err).Msg("payment worker: claim refunds")
	}
	cancels, err := s.store.claimCancels(ctx, workerBatch)
	if err != nil && ctx.Err() == nil {
		s.log.Warn().Err(err).Msg("payment worker: claim cancellations")
	}
	words := make([]word, len(payments)+len(cancels))
	outs := make([]askOutcome, len(payments)+len(cancels))
	refundOuts := make([]askOutcome, len(refunds))
	var g errgroup.Group
	g.SetLimit(workerParallel)
	for i, p := range payments {
		g.Go(func() error {
			// The provider's time is the checkout's: a span of its trace.
			ctx, span := trace.Resume(ctx, p.TraceParent, "payment.ask")
			defer span.End()
			in, out := w.ask(ctx, p)
			words[i], outs[i] = word{id: p.ID, orderID: p.OrderID, in: in}, out
			return nil
		})
	}
	for i, c := range cancels {
		i += len(payments)
		g.Go(func() error {
			in, out := w.cancel(ctx, c)
			words[i], outs[i] = word{id: c.ID, orderID: c.OrderID, in: in}, out
			return nil
		})
	}
	for i, r := range refunds {
		g.Go(func() error { refundOuts[i] = w.refund(ctx, r); return nil })
	}
	_ = g.Wait()
	w.settle(ctx, payments, cancels, refunds, outs, refundOuts)
	answered := slices.DeleteFunc(words, func(w word) bool { return w.in.Status == "" })
	if len(answered) > 0 {
		w.recordAll(ctx, answered)
	}
	return len(payments) == workerBatch || len(refunds) == workerBatch || len(cancels) == workerBatch
}

// recordAll records the answers of a round (see RecordIntents); a transaction that meets a
// deadlock or a serialization failure is tried again at once, as such.
func (w *worker) recordAll(ctx context.Context, answered []word) {
	s := w.svc
	err := retryConflict(ctx, func() error {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
		defer cancel()
		eff, err := s.store.RecordIntents(rctx, answered)
		s.after(eff)
		return err
	})
	if err != nil {
		s.log.Warn().Err(err).Msg("payment worker: answers not recorded; asking again later")
	}
}

// refund sends one due refund (or fails it, past the key's lifetime: never a second refund).
func (w *worker) refund(ctx context.Context, r claimedRefund) askOutcome {
	s := w.svc
	var err error
	if time.Since(r.CreatedAt) > keyLifetime {
		_, err = s.settleRefund(ctx, r.Refund, RefundResult{Status: refundFailed, FailureReason: "provider_unreachable"})
	} else {
		_, err = s.sendRefund(ctx, r.Refund, r.paymentRef)
	}
	if errors.Is(err, errUnavailable) {
		return refused
	}
	if err != nil && ctx.Err() == nil {
		s.log.Warn().Err(err).Str("refund_id", r.ID.String()).Msg("payment worker: refund not sent; retrying later")
	}
	return asked
}

// settle does the rows' bookkeeping after a round's calls, in one round trip: the claims of
// calls the breaker refused are given back, and payments whose create went unanswered are
// marked unsure (their next look searches before it sends).
func (w *worker) settle(ctx context.Context, payments []claimedPayment, cancels []claimedCancel, refunds []claimedRefund, outs, refundOuts []askOutcome) {
	var back, unsureIDs, done, refundsBack []uuid.UUID
	for i, p := range payments {
		switch outs[i] {
		case refused:
			back = append(back, p.ID)
		case unsure:
			unsureIDs = append(unsureIDs, p.ID)
		}
	}
	for i, c := range cancels {
		switch outs[len(payments)+i] {
		case refused:
			back = append(back, c.ID)
		case cancelled:
			done = append(done, c.ID)
		}
	}
	for i, r := range refunds {
		if refundOuts[i] == refused {
			refundsBack = append(refundsBack, r.ID)
		}
	}
	if len(back)+len(unsureIDs)+len(done)+len(refundsBack) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	if err := w.svc.store.settleClaims(ctx, back, unsureIDs, done, refundsBack); err != nil {
		w.svc.log.Warn().Err(err).Msg("payment worker: claims not given back; their rows wait their back-off")
	}
}

// claimedRefund is a refund to send, with the provider's id of its payment.
type claimedRefund struct {
	Refund
	paymentRef string
}

// claimRefunds takes up to limit due refunds that the provider has not answered yet. A
// refund it answered pending is settled by its webhook (refund.updated), not sent again.
func (s *store) claimRefunds(ctx context.Context, limit int) ([]claimedRefund, error) {
	rows, err := s.db.Query(ctx, `with due as (
			select r.id from payments.refunds r join payments.payments p on p.id = r.payment_id
			where r.status = 'pending' and r.provider_ref is null and r.next_attempt_at <= now() and p.provider = $4
			order by r.next_attempt_at limit $1 for update of r skip locked)
		update payments.refunds r set attempts = r.attempts + 1, next_attempt_at = now() + `+backoffSQL("r.")+`
		from due, payments.payments p where r.id = due.id and p.id = r.payment_id
		returning `+columns(refundCols, "r.")+`, coalesce(p.provider_ref, '')`,
		limit, s.reconcileAfter.Seconds(), maxBackoff.Seconds(), s.provider)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (claimedRefund, error) {
		var c claimedRefund
		err := row.Scan(&c.ID, &c.PaymentID, &c.OrderID, &c.Amount.Amount, &c.Amount.Currency, &c.Status, &c.Reason,
			&c.ProviderRef, &c.CreatedAt, &c.paymentRef)
		return c, err
	})
}

// pruneChunk bounds the webhook event ids one prune deletes.
const pruneChunk = 10000

// pruneNotices forgets applied webhook event ids older than noticeRetention, a bounded
// chunk at a time, and reports whether it deleted a full chunk (more may be waiting). A
// failure is tried again at the next round.
func (s *store) pruneNotices(ctx context.Context) (more bool) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	tag, err := s.db.Exec(ctx, `delete from payments.webhook_events where id in (
		select id from payments.webhook_events where received_at < now() - make_interval(secs => $1) limit $2)`,
		noticeRetention.Seconds(), pruneChunk)
	return err == nil && tag.RowsAffected() == pruneChunk
}
