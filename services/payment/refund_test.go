package payment_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/subjects"
)

// paid places an order of the customer for total and pays it with pm_card_visa.
func (e *env) paid(total int64) (orderID, paymentID string) {
	e.t.Helper()
	orderID = e.order(e.customerID, total, "")
	e.pay(e.customer, orderID, "pm_card_visa")
	paymentID, _ = e.waitPayment(orderID, subjects.PaymentStatusSucceeded)
	return orderID, paymentID
}

// refund refunds amount (nil: the rest) of order id as admin with key.
func (e *env) refund(id string, amount *int64, key string) (subjects.Refund, error) {
	return subjects.PaymentRefund.Call(withKey(e.admin, key), e.nc, subjects.RefundRequest{OrderID: id, Amount: amount})
}

func ptr[T any](v T) *T { return &v }

func TestRefundPartialThenTheRest(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.start(sandbox(), nil)
	id, paymentID := e.paid(1999)

	r, err := e.refund(id, ptr[int64](500), "refund-1")
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != "succeeded" || r.Amount != eur(500) || r.OrderID != id || r.PaymentID != paymentID {
		t.Fatalf("partial refund: %+v", r)
	}
	_, err = e.refund(id, ptr[int64](1500), "refund-2")
	expect.Error(t, err, http.StatusUnprocessableEntity, "refund_exceeds_captured", "amount")

	rest, err := e.refund(id, nil, "refund-3")
	if err != nil {
		t.Fatal(err)
	}
	if rest.Amount != eur(1499) || rest.Status != "succeeded" {
		t.Fatalf("refund of the rest: %+v", rest)
	}
	_, err = e.refund(id, nil, "refund-4")
	expect.Error(t, err, http.StatusConflict, "fully_refunded", "")

	events := e.wantEvents(subjects.EvtPaymentRefunded.EventKind, id, 2)
	var last subjects.PaymentRefunded
	if err := json.Unmarshal(events[1], &last); err != nil {
		t.Fatal(err)
	}
	if last.RefundID != rest.ID || last.Amount != eur(1499) || last.TotalRefunded != eur(1999) || last.PaymentID != paymentID {
		t.Fatalf("last payment.refunded: %+v", last)
	}
}

func TestRefundSameKeyReturnsTheFirst(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.start(sandbox(), nil)
	id, _ := e.paid(1000)
	first, err := e.refund(id, ptr[int64](300), "same-key")
	if err != nil {
		t.Fatal(err)
	}
	// The same key, even with another amount, is the same refund.
	again, err := e.refund(id, ptr[int64](700), "same-key")
	if err != nil {
		t.Fatal(err)
	}
	if again.ID != first.ID || again.Amount != eur(300) {
		t.Fatalf("second call: %+v, first: %+v", again, first)
	}
	e.wantRows(1, `select count(*) from payments.refunds where order_id = $1`, id)
	e.wantEvents(subjects.EvtPaymentRefunded.EventKind, id, 1)
}

func TestRefundRaceForTheLastAmountHasOneWinner(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.start(sandbox(), nil)
	id, _ := e.paid(1000)
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { _, errs[i] = e.refund(id, ptr[int64](1000), fmt.Sprintf("racer-%d", i)) })
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, subjects.ErrConflict):
			t.Fatalf("a loser got %v, want 409", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d refunds of the whole amount went through, want 1", won)
	}
	e.wantRows(1000, `select coalesce(sum(amount), 0) from payments.refunds where order_id = $1`, id)
}

func TestRefundRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.start(sandbox(), nil)
	id, _ := e.paid(1000)
	for _, c := range []struct {
		order  string
		amount *int64
		key    string
		field  string
	}{
		{id, ptr[int64](0), "k", "amount"},
		{id, ptr[int64](-5), "k", "amount"},
		{"nope", nil, "k", "order_id"},
		{id, nil, "bad\x00key", "Idempotency-Key"},
		{id, nil, string([]byte{0xff, 0xfe}), "Idempotency-Key"},
		{id, nil, string(make([]byte, 300)), "Idempotency-Key"},
	} {
		_, err := e.refund(c.order, c.amount, c.key)
		expect.Error(t, err, http.StatusBadRequest, "validation", c.field)
	}
	_, err := e.refund(id, ptr[int64](1<<62), "absurd")
	expect.Error(t, err, http.StatusUnprocessableEntity, "refund_exceeds_captured", "amount")
	_, err = subjects.PaymentRefund.Call(e.customer, e.nc, subjects.RefundRequest{OrderID: id})
	expect.Error(t, err, http.StatusForbidden, "", "")
	_, err = e.refund(uuid.Must(uuid.NewV7()).String(), nil, "unknown")
	expect.Error(t, err, http.StatusNotFound, "order_not_found", "")

	declined := e.order(e.customerID, 1000, "")
	e.pay(e.customer, declined, "pm_card_chargeDeclined")
	e.waitPayment(declined, subjects.PaymentStatusFailed)
	_, err = e.refund(declined, nil, "nothing")
	expect.Error(t, err, http.StatusConflict, "nothing_captured", "")
	e.wantRows(0, `select count(*) from payments.refunds`)
}

// cancellationRefunds waits until order id has a settled cancellation refund and every
// event is published, and returns how many refunds and payment.refunded events it has.
func (e *env) cancellationRefunds(id string) (refunds, events int) {
	e.t.Helper()
	expect.Within(e.t, 10*time.Second, func() error {
		if e.count(`select count(*) from payments.refunds where order_id = $1 and status = 'succeeded'`, id) == 0 {
			return fmt.Errorf("order %s: no refund succeeded yet", id)
		}
		return nil
	})
	return e.count(`select count(*) from payments.refunds where order_id = $1`, id),
		len(e.published(subjects.EvtPaymentRefunded.EventKind, id))
}

func TestCancelAfterSuccessRefundsOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.start(sandbox(), nil)
	id, _ := e.paid(2500)
	e.cancel(id, e.customerID, newEventID())
	e.cancel(id, e.customerID, newEventID()) // the saga may say it twice
	if refunds, events := e.cancellationRefunds(id); refunds != 1 || events != 1 {
		t.Fatalf("%d refunds, %d payment.refunded events, want 1 and 1", refunds, events)
	}
	var amount int64
	if err := e.db.QueryRow(e.ctx, `select amount from payments.refunds where order_id = $1`, id).Scan(&amount); err != nil || amount != 2500 {
		t.Fatalf("refunded %d (%v), want 2500", amount, err)
	}
}

func TestSuccessAfterCancelRefundsOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cfg := sandbox()
	cfg.SandboxDelay = time.Hour // the outcome comes by webhook, after the cancellation
	e.start(cfg, nil)
	id := e.order(e.customerID, 2500, "")
	p := e.pay(e.customer, id, "pm_card_visa")
	e.cancel(id, e.customerID, newEventID())
	e.waitOrder(id, "cancelled")
	e.wantRows(0, `select count(*) from payments.refunds`)
	for _, ev := range []string{"evt_success_1", "evt_success_1", "evt_success_2"} {
		if err := e.webhook(webhookSecret, ev, "payment_intent.succeeded", intent(e.ref(p.ID), p.ID, "succeeded", nil)); err != nil {
			t.Fatal(err)
		}
	}
	e.cancel(id, e.customerID, newEventID())
	if refunds, events := e.cancellationRefunds(id); refunds != 1 || events != 1 {
		t.Fatalf("%d refunds, %d payment.refunded events, want 1 and 1", refunds, events)
	}
}

func TestCancelRacingSuccessRefundsEachOrderOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cfg := sandbox()
	cfg.SandboxDelay = 5 * time.Millisecond
	e.start(cfg, nil)
	const n = 12
	ids := make([]string, n)
	for i := range ids {
		ids[i] = e.order(e.customerID, 1000+int64(i), "")
	}
	// Each cancellation lands around its payment's decision: before it or after it.
	for _, id := range ids {
		e.pay(e.customer, id, "pm_card_visa")
		e.cancel(id, e.customerID, newEventID())
	}
	for _, id := range ids {
		if refunds, events := e.cancellationRefunds(id); refunds != 1 || events != 1 {
			t.Fatalf("order %s: %d refunds, %d payment.refunded events, want 1 and 1", id, refunds, events)
		}
	}
}
