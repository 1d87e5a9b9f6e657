package payment_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/subjects"
)

// paymentOf returns the id, status and decline code of the order's latest payment.
func (e *env) paymentOf(orderID string) (id, status, code string) {
	e.t.Helper()
	err := e.db.QueryRow(e.ctx, `select id::text, status, decline_code from payments.payments where order_id = $1
		order by created_at desc limit 1`, orderID).Scan(&id, &status, &code)
	if err != nil {
		e.t.Fatalf("payment of %s: %v", orderID, err)
	}
	return id, status, code
}

// TestProviderOutageLongerThanTheHoldChargesNoCancelledOrder: the provider is unreachable
// while orders wait for their payments, longer than the reservation hold, so the order
// service cancels them; when the provider comes back, a cancelled order's payment is never
// sent (no create reaches the provider, nothing is captured or refunded, no payment.failed
// misleads anyone), while the order that is still open is charged. Every order ends.
func TestProviderOutageLongerThanTheHoldChargesNoCancelledOrder(t *testing.T) {
	t.Parallel()
	d := newStripeDouble(t, stripeMockURL(t))
	e := newEnv(t)
	cfg := stripeConfig(d.URL(), "sk_test_souk")
	cfg.ReconcileAfter, cfg.BreakerFailures, cfg.BreakerOpenFor = 50*time.Millisecond, 3, 100*time.Millisecond
	d.down()
	e.start(cfg, nil)
	// The checkout's own path: the payment method comes with order.reserved, the consumer
	// writes the payment, the worker sends it.
	kept := e.order(e.customerID, 1500, "pm_card_visa")
	cancelled := []string{e.order(e.customerID, 1600, "pm_card_visa"), e.order(e.customerID, 1700, "pm_card_mastercard")}
	expect.Within(t, 20*time.Second, func() error {
		if n := e.count(`select count(*) from payments.payments where attempts > 0`); n == 0 {
			return fmt.Errorf("the worker has not tried the provider yet")
		}
		return nil
	})
	for _, id := range cancelled { // the hold ran out: the order service cancels
		e.cancel(id, e.customerID, newEventID())
		e.waitOrder(id, "cancelled")
	}
	d.up()

	expect.Within(t, 30*time.Second, func() error {
		if _, status, _ := e.paymentOf(kept); status != subjects.PaymentStatusRequiresAction {
			return fmt.Errorf("the open order's payment is %s", status) // stripe-mock's answer
		}
		for _, id := range cancelled {
			if _, status, code := e.paymentOf(id); status != subjects.PaymentStatusCanceled || code != "order_cancelled" {
				return fmt.Errorf("the cancelled order's payment is %s (%s)", status, code)
			}
		}
		return nil
	})
	for _, id := range cancelled {
		paymentID, _, _ := e.paymentOf(id)
		if n := d.creates(paymentID); n != 0 {
			t.Fatalf("%d creates of cancelled order %s's payment reached the provider", n, id)
		}
		e.wantEvents(subjects.EvtPaymentFailed.EventKind, id, 0)
	}
	keptID, _, _ := e.paymentOf(kept)
	if d.creates(keptID) == 0 {
		t.Fatal("the open order's payment never reached the provider")
	}
	// The open order's payer finishes; every order is terminal, nothing was refunded.
	if err := e.webhook(webhookSecret, "evt_outage_ok", "payment_intent.succeeded", intent(e.ref(keptID), keptID, "succeeded", nil)); err != nil {
		t.Fatal(err)
	}
	e.waitPayment(kept, subjects.PaymentStatusSucceeded)
	e.wantRows(0, `select count(*) from payments.payments where status not in ('succeeded', 'failed', 'canceled')`)
	e.wantRows(0, `select count(*) from payments.refunds`)
	e.wantEvents(subjects.EvtPaymentSucceeded.EventKind, kept, 1)
}

// TestLateSuccessAfterFailureIsRefundedOnce: Stripe declined an intent (recorded failed),
// then the payer confirmed it again with another card and it succeeded. The money goes back
// once, however often the success is told; the payment stays failed, so the order never
// counts it as paid.
func TestLateSuccessAfterFailureIsRefundedOnce(t *testing.T) {
	t.Parallel()
	e, id, paymentID := undecided(t)
	declined := map[string]any{"type": "card_error", "code": "card_declined", "decline_code": "insufficient_funds"}
	if err := e.webhook(webhookSecret, "evt_late_f", "payment_intent.payment_failed", intent("pi_late", paymentID, "requires_payment_method", declined)); err != nil {
		t.Fatal(err)
	}
	e.waitPayment(id, subjects.PaymentStatusFailed)
	for _, ev := range []string{"evt_late_s1", "evt_late_s1", "evt_late_s2"} {
		if err := e.webhook(webhookSecret, ev, "payment_intent.succeeded", intent("pi_late", paymentID, "succeeded", nil)); err != nil {
			t.Fatal(err)
		}
	}
	expect.Within(t, 10*time.Second, func() error {
		if e.count(`select count(*) from payments.refunds where payment_id = $1 and status = 'succeeded'`, paymentID) == 0 {
			return fmt.Errorf("the late success is not refunded yet")
		}
		return nil
	})
	e.wantRows(1, `select count(*) from payments.refunds where payment_id = $1 and amount = 1999`, paymentID)
	e.wantEvents(subjects.EvtPaymentRefunded.EventKind, id, 1)
	e.wantEvents(subjects.EvtPaymentSucceeded.EventKind, id, 0)
	e.wantRows(1, `select count(*) from payments.payments where id = $1 and status = 'failed'`, paymentID)
}

// TestFailedIntentIsCancelledAtStripe: a payment recorded failed has its intent cancelled at
// Stripe (stripe-mock checks the request), so the payer cannot confirm it any more.
func TestFailedIntentIsCancelledAtStripe(t *testing.T) {
	t.Parallel()
	d := newStripeDouble(t, stripeMockURL(t))
	e := newEnv(t)
	cfg := stripeConfig(d.URL(), "sk_test_souk")
	e.start(cfg, nil)
	id := e.order(e.customerID, 1999, "")
	p := e.pay(e.customer, id, "pm_card_visa")
	ref := e.ref(p.ID)
	declined := map[string]any{"type": "card_error", "code": "card_declined", "decline_code": "generic_decline"}
	if err := e.webhook(webhookSecret, "evt_cancel_f", "payment_intent.payment_failed", intent(ref, p.ID, "requires_payment_method", declined)); err != nil {
		t.Fatal(err)
	}
	e.waitPayment(id, subjects.PaymentStatusFailed)
	expect.Within(t, 10*time.Second, func() error {
		if d.count(http.MethodPost, cancelPath(ref), "") == 0 {
			return fmt.Errorf("intent %s not cancelled at Stripe", ref)
		}
		if e.count(`select count(*) from payments.payments where id = $1 and cancel_due`, p.ID) != 0 {
			return fmt.Errorf("the cancellation is still due")
		}
		return nil
	})
	if n := d.count(http.MethodPost, cancelPath(ref), ""); n != 1 {
		t.Fatalf("%d cancellations of %s, want 1", n, ref)
	}
	e.wantEvents(subjects.EvtPaymentFailed.EventKind, id, 1)
}

// TestRequiresActionPastItsDeadlineIsCancelled: a payer who never finishes 3-D Secure leaves
// the intent requires_action. After ActionTimeout the intent is cancelled at Stripe and the
// payment fails action_timeout, which the order service turns into a cancelled order with
// its stock released.
func TestRequiresActionPastItsDeadlineIsCancelled(t *testing.T) {
	t.Parallel()
	d := newStripeDouble(t, stripeMockURL(t))
	e := newEnv(t)
	cfg := stripeConfig(d.URL(), "sk_test_souk")
	cfg.ReconcileAfter, cfg.ActionTimeout = 100*time.Millisecond, time.Second
	e.start(cfg, nil)
	id := e.order(e.customerID, 2100, "")
	p := e.pay(e.customer, id, "pm_card_visa")
	if p.Status != subjects.PaymentStatusRequiresAction {
		t.Fatalf("payment: %+v", p)
	}
	ref := e.ref(p.ID)
	if _, code := e.waitPayment(id, subjects.PaymentStatusFailed); code != "action_timeout" {
		t.Fatalf("decline code %q, want action_timeout", code)
	}
	if n := d.count(http.MethodPost, cancelPath(ref), ""); n != 1 {
		t.Fatalf("%d cancellations of %s at Stripe, want 1", n, ref)
	}
	var ev struct{ Reason string }
	if err := json.Unmarshal(e.wantEvents(subjects.EvtPaymentFailed.EventKind, id, 1)[0], &ev); err != nil || ev.Reason != "action_timeout" {
		t.Fatalf("payment.failed: %+v (%v)", ev, err)
	}
}

// TestBreakerRefusalsSpendNoBackoff: the provider is down and the breaker opens after the
// first failure; the payments whose calls it then refuses were never sent, so they keep
// their back-off (no look counted, due at once), and are sent as soon as it lets calls
// through.
func TestBreakerRefusalsSpendNoBackoff(t *testing.T) {
	t.Parallel()
	d := newStripeDouble(t, stripeMockURL(t))
	e := newEnv(t)
	stop := e.start(sandbox(), nil)
	const n = 20
	orders := make([]string, n)
	for i := range orders {
		orders[i] = e.order(e.customerID, 1000+int64(i), "")
	}
	stop()
	for _, id := range orders { // all due at once, in one claim
		e.insertCrashedWith("stripe", id, e.customerID, "pm_card_visa", 1000)
	}
	d.down()
	cfg := stripeConfig(d.URL(), "sk_test_souk")
	cfg.ReconcileAfter, cfg.BreakerFailures, cfg.BreakerOpenFor = time.Hour, 1, time.Hour
	e.start(cfg, nil)
	expect.Within(t, 20*time.Second, func() error {
		tried := e.count(`select count(*) from payments.payments where attempts > 0`)
		due := e.count(`select count(*) from payments.payments where attempts = 0 and next_attempt_at <= now()`)
		// At most workerParallel (8) calls were in flight when the breaker opened.
		if tried == 0 || tried > 8 || tried+due != n {
			return fmt.Errorf("%d payments tried, %d due untried, of %d: the refused ones lost their back-off", tried, due, n)
		}
		return nil
	})
}

// TestLostCreateAnswerIsLookedUpNotResent: Stripe made the intent but its answer was a 500,
// which it replays for the same idempotency key for 24 hours. The worker looks the intent
// up (search by the payment id in its metadata) instead of sending the create again, and
// records it. The search's answer comes from the double (stripe-mock is stateless); the
// create and its wire format are stripe-mock's.
func TestLostCreateAnswerIsLookedUpNotResent(t *testing.T) {
	t.Parallel()
	d := newStripeDouble(t, stripeMockURL(t))
	e := newEnv(t)
	cfg := stripeConfig(d.URL(), "sk_test_souk")
	cfg.ReconcileAfter = 100 * time.Millisecond
	e.start(cfg, nil)
	id := e.order(e.customerID, 2500, "")
	d.loseNextCreate()
	p := e.pay(e.customer, id, "pm_card_visa")
	if p.Status != subjects.PaymentStatusProcessing {
		t.Fatalf("payment after a lost answer: %+v", p)
	}
	e.waitPayment(id, subjects.PaymentStatusRequiresAction)
	if ref := e.ref(p.ID); !strings.HasPrefix(ref, "pi_") {
		t.Fatalf("provider_ref %q", ref)
	}
	if n := d.creates(p.ID); n != 1 {
		t.Fatalf("%d creates of payment %s reached Stripe, want 1", n, p.ID)
	}
	if d.count(http.MethodGet, `^/v1/payment_intents/search$`, "") == 0 {
		t.Fatal("the intent was not looked up")
	}
}

// TestRefundWithoutKeyIsRefused: a refund without an Idempotency-Key cannot tell a retry
// from a second refund, so it is refused (400 naming the header) and changes nothing; the
// same key twice is one refund.
func TestRefundWithoutKeyIsRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.start(sandbox(), nil)
	id, _ := e.paid(1000)
	for range 2 {
		_, err := subjects.PaymentRefund.Call(e.admin, e.nc, subjects.RefundRequest{OrderID: id})
		expect.Error(t, err, http.StatusBadRequest, "validation", subjects.HeaderIdempotencyKey)
	}
	e.wantRows(0, `select count(*) from payments.refunds`)
	for range 2 {
		if _, err := e.refund(id, ptr[int64](400), "one-refund"); err != nil {
			t.Fatal(err)
		}
	}
	e.wantRows(1, `select count(*) from payments.refunds where order_id = $1`, id)
	e.wantEvents(subjects.EvtPaymentRefunded.EventKind, id, 1)
}
