package promotion_test

import (
	"testing"
	"time"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/services/promotion"
	"github.com/souk/souk/subjects"
)

// A hold whose order.placed comes later than its time to live is returned by the sweeper,
// and the slot may go to another order. When the late event arrives, the limits are
// checked again: with room left the redemption counts again; at the limit it is refused
// (promotion.refused, so the order service cancels the order), a later order.paid does not
// redeem it either, and the coupon never counts more redemptions than it allows.
func TestALatePlacedNeverExceedsTheLimits(t *testing.T) {
	e := newEnv(t)
	e.start(promotion.Config{HoldTTL: time.Second, SweepEvery: 50 * time.Millisecond})
	e.coupon(subjects.CouponCreateRequest{Code: "SOLO", Kind: subjects.CouponPercent, Value: 10, MaxRedemptions: ptr(1)})
	e.coupon(subjects.CouponCreateRequest{Code: "ROOMY", Kind: subjects.CouponPercent, Value: 10, MaxRedemptions: ptr(5)})

	late := newID()
	e.mustHold(e.customer, "SOLO", late, eur(1000))
	e.lastEvent(subjects.EvtCouponReturned.Subject(late)) // swept
	other, _ := e.shopper()
	winner := newID()
	e.mustHold(other, "SOLO", winner, eur(1000)) // the slot went to another order

	e.processed(e.orderEvent(subjects.EvtOrderPlaced.EventKind, late, e.customerID, "SOLO"))
	e.processed(e.orderEvent(subjects.EvtOrderPaid.EventKind, late, e.customerID, "SOLO"))
	if s := e.status(late); s != promotion.StatusReturned {
		t.Fatalf("the late order's redemption is %q, want returned", s)
	}
	if n := e.redemptions("SOLO"); n != 1 {
		t.Fatalf("SOLO allows 1 redemption and counts %d", n)
	}
	if ev := e.lastEvent(subjects.EvtCouponRefused.Subject(late)); ev.OrderID != late || ev.UserID != e.customerID || ev.Code != "SOLO" {
		t.Fatalf("promotion.refused: %+v", ev)
	}
	if n := e.promotionEvents(subjects.EvtCouponRedeemed.Subject(late)); n != 0 {
		t.Fatalf("%d promotion.redeemed events for a refused redemption", n)
	}
	if s := e.status(winner); s != promotion.StatusHeld {
		t.Fatalf("the winner's hold is %q", s)
	}

	// With room left, the late order gets its redemption back.
	roomy := newID()
	e.mustHold(e.customer, "ROOMY", roomy, eur(1000))
	e.lastEvent(subjects.EvtCouponReturned.Subject(roomy))
	e.processed(e.orderEvent(subjects.EvtOrderPlaced.EventKind, roomy, e.customerID, "ROOMY"))
	if s := e.status(roomy); s != promotion.StatusConfirmed {
		t.Fatalf("a late order.placed with room left: %q, want confirmed", s)
	}
	if n := e.promotionEvents(subjects.EvtCouponRefused.Subject(roomy)); n != 0 {
		t.Fatalf("refused with room left")
	}
}

// A placement retried with the same Idempotency-Key after its hold was swept (the first
// attempt failed, the customer came back later) is the same order: it takes a slot again
// when there is one, rather than being refused as a returned order for good.
func TestARetryAfterTheSweepHoldsAgain(t *testing.T) {
	e := newEnv(t)
	e.start(promotion.Config{HoldTTL: time.Second, SweepEvery: 50 * time.Millisecond})
	e.coupon(subjects.CouponCreateRequest{Code: "AGAIN", Kind: subjects.CouponPercent, Value: 10, PerCustomerLimit: ptr(1)})
	order := newID()
	e.mustHold(e.customer, "AGAIN", order, eur(1000))
	e.lastEvent(subjects.EvtCouponReturned.Subject(order))
	if d := e.mustHold(e.customer, "AGAIN", order, eur(2000)); d.Discount != eur(200) {
		t.Fatalf("the second hold: %+v", d)
	}
	if s := e.status(order); s != promotion.StatusHeld {
		t.Fatalf("the order's redemption is %q, want held", s)
	}
	_, err := e.hold(e.customer, "AGAIN", newID(), eur(1000))
	expect.Error(t, err, 422, "coupon_exhausted", "code")
	// A cancelled order's redemption stays returned.
	e.processed(e.orderEvent(subjects.EvtOrderCancelled.EventKind, order, e.customerID, "AGAIN"))
	_, err = e.hold(e.customer, "AGAIN", order, eur(1000))
	expect.Error(t, err, 409, "redemption_returned", "order_id")
}

// A hold released by the order service (its placement lost the cart to another order) frees
// the slot at once; a confirmed one is not released, nor another customer's.
func TestReleaseFreesAnUnconfirmedHold(t *testing.T) {
	e := newEnv(t)
	e.start(promotion.Config{})
	e.coupon(subjects.CouponCreateRequest{Code: "SINGLE", Kind: subjects.CouponPercent, Value: 10, MaxRedemptions: ptr(1)})
	lost := newID()
	e.mustHold(e.customer, "SINGLE", lost, eur(1000))
	other, _ := e.shopper()
	if _, err := subjects.CouponRelease.Call(other, e.nc, subjects.CouponReleaseRequest{OrderID: lost}); err != nil {
		t.Fatal(err)
	}
	if s := e.status(lost); s != promotion.StatusHeld {
		t.Fatalf("another customer released the hold: %q", s)
	}
	for range 2 {
		if _, err := subjects.CouponRelease.Call(e.customer, e.nc, subjects.CouponReleaseRequest{OrderID: lost}); err != nil {
			t.Fatal(err)
		}
	}
	kept := newID()
	e.mustHold(e.customer, "SINGLE", kept, eur(1000))
	e.processed(e.orderEvent(subjects.EvtOrderPlaced.EventKind, kept, e.customerID, "SINGLE"))
	if _, err := subjects.CouponRelease.Call(e.customer, e.nc, subjects.CouponReleaseRequest{OrderID: kept}); err != nil {
		t.Fatal(err)
	}
	if s := e.status(kept); s != promotion.StatusConfirmed {
		t.Fatalf("a confirmed redemption was released: %q", s)
	}
	_, err := subjects.CouponRelease.Call(e.customer, e.nc, subjects.CouponReleaseRequest{OrderID: "nope"})
	expect.Error(t, err, 400, "", "order_id")
}

// redemptions returns code's active redemptions as admins see them.
func (e *env) redemptions(code string) int {
	e.t.Helper()
	page, err := subjects.CouponList.Call(e.admin, e.nc, subjects.ListRequest{Limit: 100})
	if err != nil {
		e.t.Fatal(err)
	}
	for _, c := range page.Items {
		if c.Code == code {
			return c.Redemptions
		}
	}
	e.t.Fatalf("coupon %s not listed", code)
	return 0
}
