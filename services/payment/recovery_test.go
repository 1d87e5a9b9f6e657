package payment_test

import (
	"testing"
	"time"

	"github.com/souk/souk/services/payment"
	"github.com/souk/souk/subjects"
)

// TestCrashBeforeTheProviderCallIsFinishedByTheWorker: an instance committed a payment and
// died before calling the provider. The next instance's worker sends it with the same
// idempotency key and the payment completes as any other.
func TestCrashBeforeTheProviderCallIsFinishedByTheWorker(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	stop := e.start(sandbox(), nil)
	id := e.order(e.customerID, 1234, "")
	stop()

	paymentID := e.insertCrashed(id, e.customerID, "pm_card_visa", 1234)
	e.start(sandbox(), nil)
	if got, _ := e.waitPayment(id, subjects.PaymentStatusSucceeded); got != paymentID {
		t.Fatalf("payment %s succeeded, want the crashed %s", got, paymentID)
	}
	e.wantEvents(subjects.EvtPaymentSucceeded.EventKind, id, 1)
}

// TestCrashBeforeTheDecisionIsReconciled: the instance that created the intent stopped
// before the provider's outcome reached it. The next one asks the provider (Retrieve) once
// the payment has waited ReconcileAfter.
func TestCrashBeforeTheDecisionIsReconciled(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// The sandbox never decides in time: only Retrieve can. The payments wait ReconcileAfter
	// from their creation; the first instance is gone long before.
	slow := payment.Config{SandboxDelay: time.Hour, ReconcileAfter: time.Second}
	stop := e.start(slow, nil)
	declined := e.order(e.customerID, 800, "")
	visa := e.order(e.customerID, 900, "")
	e.pay(e.customer, declined, "pm_card_chargeDeclinedIncorrectCvc")
	e.pay(e.customer, visa, "pm_card_visa")
	stop() // the sandbox's notices die with it

	e.start(slow, nil)
	if _, code := e.waitPayment(declined, subjects.PaymentStatusFailed); code != "incorrect_cvc" {
		t.Fatalf("decline code %q", code)
	}
	e.waitPayment(visa, subjects.PaymentStatusSucceeded)
	e.wantEvents(subjects.EvtPaymentSucceeded.EventKind, visa, 1)
	e.wantEvents(subjects.EvtPaymentFailed.EventKind, declined, 1)
}
