package payment

import (
	"context"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/sync/errgroup"

	"github.com/souk/souk/subjects"
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
// an hour at most. While the breaker is open it waits.
type worker struct {
	svc  *service
	poll time.Duration
	kick chan struct{}
}

func newWorker(svc *service, reconcileAfter time.Duration) *worker {
	return &worker{svc: svc, kick: make(chan struct{}, 1), poll: max(20*time.Millisecond, min(reconcileAfter/2, time.Second))}
}

// Kick wakes the worker now. Never blocks.
func (w *worker) Kick() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// run works until ctx ends.
func (w *worker) run(ctx context.Context) {
	prune := time.NewTicker(time.Hour + rand.N(5*time.Minute))
	defer prune.Stop()
	for ctx.Err() == nil {
		if !w.svc.provider.open() && w.round(ctx) {
			continue // a full batch: more may be waiting
		}
		select {
		case <-ctx.Done():
		case <-w.kick:
		case <-time.After(w.poll):
		case <-prune.C:
			w.svc.store.pruneNotices(ctx)
		}
	}
}

// round advances one batch of due payments and one of due refunds, and reports whether
// either batch was full. The provider is asked about each payment in parallel; the answers
// are recorded together, in one transaction.
func (w *worker) round(ctx context.Context) bool {
	s := w.svc
	payments, err := s.store.claimPayments(ctx, workerBatch)
	if err != nil && ctx.Err() == nil {
		s.log.Warn().Err(err).Msg("payment worker: claim payments")
	}
	refunds, err := s.store.claimRefunds(ctx, workerBatch)
	if err != nil && ctx.Err() == nil {
		s.log.Warn().Err(err).Msg("payment worker: claim refunds")
	}
	words := make([]word, len(payments))
	var g errgroup.Group
	g.SetLimit(workerParallel)
	for i, p := range payments {
		g.Go(func() error { words[i] = word{id: p.ID, orderID: p.OrderID, in: w.ask(ctx, p)}; return nil })
	}
	for _, r := range refunds {
		g.Go(func() error {
			var err error
			if time.Since(r.CreatedAt) > keyLifetime { // as for payments: never a second refund
				_, err = s.settleRefund(ctx, r.Refund, RefundResult{Status: refundFailed, FailureReason: "provider_unreachable"})
			} else {
				_, err = s.sendRefund(ctx, r.Refund, r.paymentRef)
			}
			if err != nil && ctx.Err() == nil {
				s.log.Warn().Err(err).Str("refund_id", r.ID.String()).Msg("payment worker: refund not sent; retrying later")
			}
			return nil
		})
	}
	_ = g.Wait()
	answered := slices.DeleteFunc(words, func(w word) bool { return w.in.Status == "" })
	if len(answered) > 0 {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
		eff, err := s.store.RecordIntents(rctx, answered)
		cancel()
		s.after(eff)
		if err != nil {
			s.log.Warn().Err(err).Msg("payment worker: answers not recorded; asking again later")
		}
	}
	return len(payments) == workerBatch || len(refunds) == workerBatch
}

// ask asks the provider about one due payment: a created one is sent again with its key
// (or failed, past the key's lifetime), an undecided one is retrieved. A zero Intent means
// no answer; the payment's next look is already scheduled by its claim.
func (w *worker) ask(ctx context.Context, p Payment) Intent {
	s := w.svc
	var in Intent
	var err error
	switch {
	case p.Status == statusCreated && time.Since(p.CreatedAt) > keyLifetime:
		return Intent{Status: subjects.PaymentStatusFailed, DeclineCode: "provider_unreachable"}
	case p.Status == statusCreated || p.ProviderRef == "":
		in, err = s.create(ctx, p)
	default:
		in, err = s.provider.Retrieve(ctx, p.ProviderRef)
	}
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn().Err(err).Str("payment_id", p.ID.String()).Str("status", p.Status).Msg("payment worker: payment not advanced; retrying later")
		}
		return Intent{}
	}
	return in
}

// backoffSQL is the wait before the next look at a row of alias after this one, by how many
// looks it has had: reconcileAfter ($2 seconds) doubling up to maxBackoff ($3 seconds).
func backoffSQL(alias string) string {
	return `make_interval(secs => least($3::float8, $2::float8 * power(2, least(` + alias + `attempts, 20))))`
}

// claimPayments takes up to limit due, undecided payments of this provider and schedules
// their next look, in one short transaction; SKIP LOCKED lets instances share the work.
func (s *store) claimPayments(ctx context.Context, limit int) ([]Payment, error) {
	rows, err := s.db.Query(ctx, `with due as (
			select id from payments.payments
			where status in ('created', 'processing', 'requires_action') and next_attempt_at <= now() and provider = $4
			order by next_attempt_at limit $1 for update skip locked)
		update payments.payments p set attempts = p.attempts + 1, next_attempt_at = now() + `+backoffSQL("p.")+`
		from due where p.id = due.id
		returning `+columns(paymentCols, "p."), limit, s.reconcileAfter.Seconds(), maxBackoff.Seconds(), s.provider)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Payment, error) { return scanPayment(r) })
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

// pruneNotices forgets applied webhook event ids older than noticeRetention, a bounded
// chunk at a time.
func (s *store) pruneNotices(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	_, _ = s.db.Exec(ctx, `delete from payments.webhook_events where id in (
		select id from payments.webhook_events where received_at < now() - make_interval(secs => $1) limit 10000)`,
		noticeRetention.Seconds())
}
