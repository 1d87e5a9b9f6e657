package payment

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/souk/souk/platform/background"
	"github.com/souk/souk/platform/kit"
	"github.com/souk/souk/platform/trace"
	"github.com/souk/souk/subjects"
)

// recordTimeout bounds recording a provider's answer. It is detached from the caller's
// context: an answer the provider gave must not be lost because the payer hung up.
const recordTimeout = 10 * time.Second

// service is the payment service: the store, the guarded provider, and the worker's wake-up
// call for what a committed change left it to do.
type service struct {
	cfg      Config
	log      zerolog.Logger
	nc       *nats.Conn
	store    *store
	provider *guarded
	// sandbox is the provider when it is the sandbox (its notices are delivered by a loop),
	// else nil.
	sandbox *sandbox
	// wake wakes the worker: a payment was started, a refund is due.
	wake *background.Kicker
	// counts are the business counters (metrics.go).
	counts *counts
}

// newService wires the service of cfg (its defaults filled in) on deps; it does no I/O.
func newService(cfg Config, deps kit.Deps) *service {
	log := deps.Logger("payment")
	p, sb := newProvider(cfg)
	return &service{cfg: cfg, log: log, nc: deps.NC, sandbox: sb, wake: background.NewKicker(),
		store: &store{db: deps.DB, provider: p.Name(), reconcileAfter: cfg.ReconcileAfter, actionTimeout: cfg.ActionTimeout,
			callTimeout: cfg.ProviderTimeout},
		provider: newGuarded(p, cfg, deps.Live, deps.Registry, log), counts: newCounts(deps.Registry, cfg.Currency)}
}

// loops are the service's background loops: the worker (woken by s.wake, else polling at
// half ReconcileAfter, between 20 ms and 1 s), the pruner of applied webhook ids (hourly,
// spread over five minutes so that instances do not prune together) and, with the
// sandbox, its deliveries of notices.
func (s *service) loops() []kit.Loop {
	w := &worker{svc: s}
	loops := []kit.Loop{
		{Name: "worker", Round: w.round, Every: max(20*time.Millisecond, min(s.cfg.ReconcileAfter/2, time.Second)), Wake: s.wake},
		{Name: "webhook ids pruner", Round: s.store.pruneNotices, Every: time.Hour + rand.N(5*time.Minute)},
	}
	if s.sandbox != nil {
		loops = append(loops, kit.Loop{Name: "sandbox notices", Round: s.deliverSandbox, Every: time.Hour, Wake: s.sandbox.wake})
	}
	return loops
}

// start logs the configuration (its secrets redacted) as the service starts.
func (s *service) start(context.Context) error {
	s.log.Info().Object("config", s.cfg).Msg("payment: starting")
	return nil
}

// deliverSandbox is a round of the sandbox's deliveries (sandbox.round), its notices applied
// as webhooks are.
func (s *service) deliverSandbox(ctx context.Context) (more bool) {
	return s.sandbox.round(ctx, s.applyNotices, func(ns []notice, err error) {
		s.log.Warn().Err(err).Int("notices", len(ns)).Msg("payment: sandbox notices not applied; reconciliation will")
	})
}

// charge sends payment p to the provider (see create) and records its answer. An error
// leaves p as it is, for the worker: errNotSent when the provider was not reached or did
// not answer (the payment is marked unsure, to be looked up before it is sent again), else
// the recording's own error. clientSecret is the provider's, for a payer who must act; it
// is not stored.
func (s *service) charge(ctx context.Context, p Payment) (rec Payment, clientSecret string, err error) {
	in, err := s.create(ctx, p, 0)
	if err != nil {
		if !errors.Is(err, errUnavailable) && !errors.Is(err, errNotReached) {
			mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
			defer cancel()
			err = errors.Join(err, s.store.markUnsure(mctx, p.ID))
		}
		return p, "", fmt.Errorf("%w: %w", errNotSent, err)
	}
	rec, err = s.record(ctx, p.ID, in)
	return rec, in.ClientSecret, err
}

// errNotSent: the provider was not reached, or its answer was lost.
var errNotSent = errors.New("provider not reached or did not answer")

// create asks the provider to collect payment p (Create, the payment id and attempt as
// idempotency key). A method the provider does not know, or a request it refuses for good,
// decides the payment as failed; any other error means the provider did not answer.
func (s *service) create(ctx context.Context, p Payment, attempt int) (Intent, error) {
	in, err := s.provider.Create(ctx, IntentRequest{PaymentID: p.ID, OrderID: p.OrderID, Amount: p.Amount, Method: p.Method, Attempt: attempt})
	var rej *rejectedError
	switch {
	case errors.Is(err, errUnknownMethod):
		return Intent{Status: subjects.PaymentStatusFailed, DeclineCode: declineInvalidMethod}, nil
	case errors.As(err, &rej):
		trace.Log(ctx, &s.log).Warn().Err(err).Str("payment_id", p.ID.String()).Msg("payment: the provider refused the payment")
		return Intent{Status: subjects.PaymentStatusFailed, DeclineCode: declineRejected}, nil
	}
	return in, err
}

// record applies the provider's word on payment id (see store.recordIntent); a deadlock or
// serialization failure is tried again at once.
func (s *service) record(ctx context.Context, id uuid.UUID, in Intent) (Payment, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	var p Payment
	err := retryConflict(ctx, func() error {
		var eff effect
		var err error
		p, eff, err = s.store.RecordIntent(ctx, id, in)
		s.after(eff)
		return err
	})
	return p, err
}

// sendRefund sends refund r of the payment the provider knows as paymentRef (the refund id
// as idempotency key) and records the answer. A refusal for good fails the refund; any
// other error leaves it pending, for the worker.
func (s *service) sendRefund(ctx context.Context, r Refund, paymentRef string) (Refund, error) {
	res, err := s.provider.Refund(ctx, RefundRequest{RefundID: r.ID, PaymentID: r.PaymentID, PaymentRef: paymentRef, Amount: r.Amount})
	var rej *rejectedError
	switch {
	case errors.As(err, &rej):
		trace.Log(ctx, &s.log).Warn().Err(err).Str("refund_id", r.ID.String()).Msg("payment: the provider refused the refund")
		res = RefundResult{Status: refundFailed, FailureReason: declineRejected}
	case err != nil:
		return r, err
	}
	return s.settleRefund(ctx, r, res)
}

// settleRefund records the provider's word on refund r (see recordRefund).
func (s *service) settleRefund(ctx context.Context, r Refund, res RefundResult) (Refund, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	rec, eff, err := s.store.RecordRefund(ctx, r.ID, res)
	s.after(eff)
	return rec, err
}

// applyNotices applies providers' notices: the path of Stripe's webhooks and of the
// sandbox's decisions alike. A deadlock or serialization failure is tried again at once.
func (s *service) applyNotices(ctx context.Context, ns []notice) error {
	return retryConflict(ctx, func() error { // a replay of what committed changes nothing
		eff, err := s.store.ApplyNotices(ctx, ns)
		s.after(eff)
		return err
	})
}

// after does what a committed change left to do: send its refund now, tell an operator what
// needs a hand. (Its events are published at once too: the kit kicks the relay after the
// request or the round that wrote them.)
func (s *service) after(eff effect) {
	s.counts.count(eff)
	if eff.refundDue {
		s.wake.Kick()
	}
	for _, alarm := range eff.alarms {
		s.log.Error().Msg("payment: " + alarm)
	}
}
