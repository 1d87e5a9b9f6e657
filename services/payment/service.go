package payment

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/souk/souk/platform/outbox"
	"github.com/souk/souk/subjects"
)

// recordTimeout bounds recording a provider's answer. It is detached from the caller's
// context: an answer the provider gave must not be lost because the payer hung up.
const recordTimeout = 10 * time.Second

// service is the payment service: the store, the guarded provider, and what a committed
// change wakes (the outbox relay, the worker).
type service struct {
	cfg      Config
	log      zerolog.Logger
	nc       *nats.Conn
	store    *store
	provider *guarded
	relay    *outbox.Relay
	worker   *worker
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
		s.log.Warn().Err(err).Str("payment_id", p.ID.String()).Msg("payment: the provider refused the payment")
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
		s.log.Warn().Err(err).Str("refund_id", r.ID.String()).Msg("payment: the provider refused the refund")
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

// after does what a committed change left to do: publish its events now, send its refund
// now, tell an operator what needs a hand.
func (s *service) after(eff effect) {
	if eff.published {
		s.relay.Kick()
	}
	if eff.refundDue {
		s.worker.Kick()
	}
	for _, alarm := range eff.alarms {
		s.log.Error().Msg("payment: " + alarm)
	}
}
