package payment_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/subjects"
)

// undecided starts an instance whose sandbox never decides within the test, and returns a
// processing payment's order and id: outcomes then come only from webhooks.
func undecided(t *testing.T) (e *env, orderID, paymentID string) {
	e = newEnv(t)
	cfg := sandbox()
	cfg.SandboxDelay, cfg.ReconcileAfter = time.Hour, time.Hour
	e.start(cfg, nil)
	orderID = e.order(e.customerID, 1999, "")
	return e, orderID, e.pay(e.customer, orderID, "pm_card_visa").ID
}

func TestWebhookSucceededIsAppliedOnce(t *testing.T) {
	t.Parallel()
	e, id, paymentID := undecided(t)
	if err := e.webhook(webhookSecret, "evt_1", "payment_intent.succeeded", intent("pi_1", paymentID, "succeeded", nil)); err != nil {
		t.Fatal(err)
	}
	e.waitPayment(id, subjects.PaymentStatusSucceeded)
	// A replay, and another event saying the same: nothing more happens.
	for _, ev := range []string{"evt_1", "evt_2"} {
		if err := e.webhook(webhookSecret, ev, "payment_intent.succeeded", intent("pi_1", paymentID, "succeeded", nil)); err != nil {
			t.Fatal(err)
		}
	}
	e.wantEvents(subjects.EvtPaymentSucceeded.EventKind, id, 1)
	e.wantRows(2, `select count(*) from payments.webhook_events`)
	// The intent's id is the one first recorded; a webhook naming another does not change it.
	if ref := e.ref(paymentID); !strings.HasPrefix(ref, "pi_sbx_") {
		t.Fatalf("provider_ref %q", ref)
	}
}

func TestWebhookPaymentFailedCarriesTheDeclineCode(t *testing.T) {
	t.Parallel()
	e, id, paymentID := undecided(t)
	declined := map[string]any{"type": "card_error", "code": "card_declined", "decline_code": "insufficient_funds"}
	if err := e.webhook(webhookSecret, "evt_f", "payment_intent.payment_failed", intent("pi_f", paymentID, "requires_payment_method", declined)); err != nil {
		t.Fatal(err)
	}
	if _, code := e.waitPayment(id, subjects.PaymentStatusFailed); code != "insufficient_funds" {
		t.Fatalf("decline code %q", code)
	}
	// A late success for a payment recorded failed changes nothing (and alarms an operator).
	if err := e.webhook(webhookSecret, "evt_s", "payment_intent.succeeded", intent("pi_f", paymentID, "succeeded", nil)); err != nil {
		t.Fatal(err)
	}
	e.wantRows(0, `select count(*) from payments.payments where status = 'succeeded'`)
	e.wantEvents(subjects.EvtPaymentFailed.EventKind, id, 1)
}

func TestWebhookWithABadSignatureChangesNothing(t *testing.T) {
	t.Parallel()
	e, id, paymentID := undecided(t)
	obj := intent("pi_1", paymentID, "succeeded", nil)
	err := e.webhook("whsec_forged", "evt_forged", "payment_intent.succeeded", obj)
	expect.Error(t, err, http.StatusBadRequest, "validation", "Stripe-Signature")
	_, err = subjects.PaymentStripeWebhook.Call(e.ctx, e.nc, subjects.StripeWebhook{Payload: []byte(`{"id":"evt_x"}`), Signature: "t=1,v1=00"})
	expect.Error(t, err, http.StatusBadRequest, "validation", "Stripe-Signature")
	_, err = subjects.PaymentStripeWebhook.Call(e.ctx, e.nc, subjects.StripeWebhook{Payload: []byte("\x00\xff"), Signature: "\x00"})
	expect.Error(t, err, http.StatusBadRequest, "validation", "Stripe-Signature")
	// Signed, but no event: a 400 on the payload.
	err = e.webhook(webhookSecret, "", "payment_intent.succeeded", obj)
	expect.Error(t, err, http.StatusBadRequest, "validation", "payload")
	err = e.webhook(webhookSecret, "evt_\x00", "payment_intent.succeeded", obj)
	expect.Error(t, err, http.StatusBadRequest, "validation", "payload")
	// Signed with the secret, but for an hour from now: stripe-go checks only that a
	// signature is not too old, so a captured far-future one would replay for ever.
	err = e.webhookAt(time.Now().Add(time.Hour), webhookSecret, "evt_future", "payment_intent.succeeded", obj)
	expect.Error(t, err, http.StatusBadRequest, "validation", "Stripe-Signature")

	e.wantRows(0, `select count(*) from payments.webhook_events`)
	e.wantRows(1, `select count(*) from payments.payments where order_id = $1 and status = 'processing'`, id)
}

func TestWebhookAboutSomethingElseIsAcknowledged(t *testing.T) {
	t.Parallel()
	e, _, _ := undecided(t)
	if err := e.webhook(webhookSecret, "evt_other", "customer.created", map[string]any{"id": "cus_1", "object": "customer"}); err != nil {
		t.Fatal(err)
	}
	if err := e.webhook(webhookSecret, "evt_stranger", "payment_intent.succeeded", intent("pi_stranger", "not-ours", "succeeded", nil)); err != nil {
		t.Fatal(err)
	}
	e.wantRows(0, `select count(*) from payments.payments where status = 'succeeded'`)
}

// Applied webhook ids older than their retention (30 days) are forgotten as an instance
// starts, in bounded chunks until none is left; younger ones are kept to recognise Stripe's
// retries.
func TestOldWebhookIdsArePrunedInChunksAtStart(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.start(sandbox(), nil) // migrates; its first prune finds nothing
	const old = 25000       // more than two chunks
	if _, err := e.db.Exec(e.ctx, `insert into payments.webhook_events (id, type, received_at)
		select 'evt_old_' || i, 'payment_intent.succeeded', now() - interval '31 days' from generate_series(1, $1) i`, old); err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.Exec(e.ctx, `insert into payments.webhook_events (id, type, received_at)
		values ('evt_recent', 'payment_intent.succeeded', now() - interval '29 days')`); err != nil {
		t.Fatal(err)
	}
	e.start(sandbox(), nil)
	expect.Within(t, 20*time.Second, func() error {
		if n := e.count(`select count(*) from payments.webhook_events where id like 'evt_old_%'`); n > 0 {
			return fmt.Errorf("%d old webhook ids left", n)
		}
		return nil
	})
	e.wantRows(1, `select count(*) from payments.webhook_events where id = 'evt_recent'`)
}
