package payment

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/souk/souk/platform/background"
	"github.com/souk/souk/subjects"
)

// sandboxMethods are Stripe's test payment methods and how Stripe decides them: "" succeeds,
// anything else is the decline code.
var sandboxMethods = map[string]string{
	"pm_card_visa":                            "",
	"pm_card_mastercard":                      "",
	"pm_card_amex":                            "",
	"pm_card_visa_debit":                      "",
	"pm_card_chargeDeclined":                  "card_declined",
	"pm_card_chargeDeclinedInsufficientFunds": "insufficient_funds",
	"pm_card_chargeDeclinedExpiredCard":       "expired_card",
	"pm_card_chargeDeclinedIncorrectCvc":      "incorrect_cvc",
	"pm_card_chargeDeclinedProcessingError":   "processing_error",
}

// sandboxPrefix starts the ref of a sandbox intent: pi_sbx_<payment id>_<method>.
const sandboxPrefix = "pi_sbx_"

// sandbox is the default provider: it decides as Stripe decides its test payment methods,
// and as Stripe does, asynchronously. Create answers processing; after delay the outcome
// reaches the service as a notice through the path a Stripe webhook takes (deliver, which
// is the service's applyNotices). Notices that fall due together are delivered together,
// in one transaction, as a busy webhook endpoint would want to.
//
// It keeps no state but the notices not yet delivered: an intent's ref names its payment
// and method, so Retrieve decides from the ref alone, on any instance and after any
// restart. Notices lost with a stopped process are recovered by reconciliation, as with
// Stripe.
type sandbox struct {
	delay time.Duration

	mu      sync.Mutex
	pending []dueNotice // in the order they fall due: the delay is the same for all
	// wake wakes the delivery loop when a notice is scheduled while none was pending.
	wake *background.Kicker
}

// dueNotice is a notice and when it is to be delivered.
type dueNotice struct {
	at time.Time
	n  notice
}

// sandboxBatch bounds the notices delivered in one transaction.
const sandboxBatch = 256

func newSandbox(delay time.Duration) *sandbox {
	return &sandbox{delay: delay, wake: background.NewKicker()}
}

// Name implements Provider.
func (s *sandbox) Name() string { return "sandbox" }

// CheckMethod implements Provider: only Stripe's test methods exist here.
func (s *sandbox) CheckMethod(method string) error {
	if _, ok := sandboxMethods[method]; !ok {
		return errUnknownMethod
	}
	return nil
}

// Create implements Provider. The same payment id makes the same intent (the idempotency of
// Stripe's keys); its notice is sent again, and the event id makes the copy a no-op.
func (s *sandbox) Create(_ context.Context, req IntentRequest) (Intent, error) {
	if err := s.CheckMethod(req.Method); err != nil {
		return Intent{}, err
	}
	in := Intent{Ref: sandboxPrefix + req.PaymentID.String() + "_" + req.Method, Status: subjects.PaymentStatusProcessing}
	decidedIn, _ := sandboxDecide(in.Ref)
	s.later(notice{EventID: "evt_sbx_" + req.PaymentID.String(), Type: "payment_intent.decided",
		PaymentID: req.PaymentID, OrderID: req.OrderID, Intent: &decidedIn})
	return in, nil
}

// Retrieve implements Provider: the decided outcome.
func (s *sandbox) Retrieve(_ context.Context, ref string) (Intent, error) {
	return sandboxDecide(ref)
}

// Find implements Provider. The sandbox always answers Create, so no create of it is ever
// unsure, and it keeps no intents to search: it finds none, and Create with another key
// makes the same intent (its ref is the payment's).
func (s *sandbox) Find(context.Context, uuid.UUID) (Intent, bool, error) {
	return Intent{}, false, nil
}

// Cancel implements Provider: an intent that succeeds cannot be cancelled (as at Stripe);
// any other is cancelled.
func (s *sandbox) Cancel(_ context.Context, ref string) (Intent, error) {
	in, err := sandboxDecide(ref)
	switch {
	case err != nil:
		return Intent{}, err
	case in.Status == subjects.PaymentStatusSucceeded:
		return Intent{}, &rejectedError{msg: "a succeeded sandbox payment cannot be canceled"}
	}
	return Intent{Ref: ref, Status: subjects.PaymentStatusCanceled, DeclineCode: in.DeclineCode}, nil
}

// Refund implements Provider: a sandbox refund succeeds at once.
func (s *sandbox) Refund(_ context.Context, req RefundRequest) (RefundResult, error) {
	if !strings.HasPrefix(req.PaymentRef, sandboxPrefix) {
		return RefundResult{}, &rejectedError{msg: "no such sandbox payment"}
	}
	return RefundResult{Ref: "re_sbx_" + req.RefundID.String(), Status: refundSucceeded}, nil
}

// sandboxDecide is the outcome of the intent ref.
func sandboxDecide(ref string) (Intent, error) {
	rest, ok := strings.CutPrefix(ref, sandboxPrefix)
	if !ok || len(rest) < 38 || rest[36] != '_' {
		return Intent{}, &rejectedError{msg: "no such sandbox payment"}
	}
	if _, err := uuid.Parse(rest[:36]); err != nil {
		return Intent{}, &rejectedError{msg: "no such sandbox payment"}
	}
	decline, ok := sandboxMethods[rest[37:]]
	if !ok {
		return Intent{}, fmt.Errorf("sandbox payment %s: %w", ref, errUnknownMethod)
	}
	if decline == "" {
		return Intent{Ref: ref, Status: subjects.PaymentStatusSucceeded}, nil
	}
	return Intent{Ref: ref, Status: subjects.PaymentStatusFailed, DeclineCode: decline}, nil
}

// later schedules n for delivery after the delay.
func (s *sandbox) later(n notice) {
	s.mu.Lock()
	s.pending = append(s.pending, dueNotice{at: time.Now().Add(s.delay), n: n})
	first := len(s.pending) == 1
	s.mu.Unlock()
	if first {
		s.wake.Kick()
	}
}

// round delivers the notices that are due, at most sandboxBatch of them together; when none
// is due yet but one is pending, it waits for that one first (notices only fall due in the
// order they were scheduled). It reports whether notices are pending still, so that the loop
// comes straight back; with none pending, the loop waits for later's kick. A batch that
// fails to apply is reported to failed and dropped, as are the notices not yet due when ctx
// ends: reconciliation decides their payments.
func (s *sandbox) round(ctx context.Context, deliver func(context.Context, []notice) error, failed func([]notice, error)) (more bool) {
	due, next := s.take(time.Now())
	if len(due) == 0 {
		if next.IsZero() {
			return false
		}
		t := time.NewTimer(time.Until(next))
		defer t.Stop()
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
		due, next = s.take(time.Now())
	}
	if len(due) > 0 {
		// Detached from ctx: notices taken are delivered whole, within their own deadline.
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if err := deliver(actx, due); err != nil {
			failed(due, err)
		}
	}
	return !next.IsZero()
}

// take removes and returns up to sandboxBatch notices due at now, and when the next one
// falls due (zero when none is pending).
func (s *sandbox) take(now time.Time) ([]notice, time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var due []notice
	for len(s.pending) > 0 && len(due) < sandboxBatch && !s.pending[0].at.After(now) {
		due = append(due, s.pending[0].n)
		s.pending[0] = dueNotice{}
		s.pending = s.pending[1:]
	}
	if len(s.pending) == 0 {
		s.pending = nil // let the backing array go
		return due, time.Time{}
	}
	return due, s.pending[0].at
}
