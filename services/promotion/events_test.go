package promotion_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/platform/consumer"
	"github.com/souk/souk/services/promotion"
	"github.com/souk/souk/subjects"
)

func TestOrderEventsMoveRedemptions(t *testing.T) {
	e := newEnv(t)
	e.start(promotion.Config{})
	e.coupon(subjects.CouponCreateRequest{Code: "SOLO", Kind: subjects.CouponFixed, Value: 700, Currency: "EUR", MaxRedemptions: ptr(1)})
	e.coupon(subjects.CouponCreateRequest{Code: "PAYDAY", Kind: subjects.CouponPercent, Value: 10})

	t.Run("cancelled returns the slot", func(t *testing.T) {
		order := newID()
		e.mustHold(e.customer, "SOLO", order, eur(5000))
		second := newID()
		_, err := e.hold(e.customer, "SOLO", second, eur(5000))
		expect.Error(t, err, 422, "coupon_exhausted", "code")

		e.processed(e.orderEvent(subjects.EvtOrderPlaced.EventKind, order, e.customerID, "SOLO"))
		if s := e.status(order); s != promotion.StatusConfirmed {
			t.Fatalf("after order.placed the redemption is %q, want confirmed", s)
		}
		e.processed(e.orderEvent(subjects.EvtOrderCancelled.EventKind, order, e.customerID, "SOLO"))
		ev := e.lastEvent(subjects.EvtCouponReturned.Subject(order))
		if ev.OrderID != order || ev.UserID != e.customerID || ev.Code != "SOLO" || ev.Discount != eur(700) || ev.EventID == "" {
			t.Fatalf("promotion.returned: %+v", ev)
		}
		e.mustHold(e.customer, "SOLO", second, eur(5000)) // the slot is free again
		_, err = e.hold(e.customer, "SOLO", order, eur(5000))
		expect.Error(t, err, 409, "redemption_returned", "order_id")
	})

	t.Run("paid is redeemed once however often it arrives", func(t *testing.T) {
		order := newID()
		e.mustHold(e.customer, "PAYDAY", order, eur(2000))
		e.processed(e.orderEvent(subjects.EvtOrderPlaced.EventKind, order, e.customerID, "PAYDAY"))
		paid := subjects.OrderPaid{EventID: newID(), OccurredAt: time.Now().UTC(), OrderID: order, UserID: e.customerID,
			Status: subjects.OrderStatusPaid, Total: eur(1800), Coupon: "PAYDAY"}
		subject := subjects.EvtOrderPaid.Subject(order)
		e.publish(subject, paid.EventID, paid)
		e.publish(subject, paid.EventID, paid) // a relay's resend: the duplicate window drops it
		again := newID()
		e.publish(subject, again, paid) // a resend past the window: the consumer sees it
		e.processed(paid.EventID)
		e.processed(again)
		ev := e.lastEvent(subjects.EvtCouponRedeemed.Subject(order))
		if ev.OrderID != order || ev.Discount != eur(200) || ev.Code != "PAYDAY" {
			t.Fatalf("promotion.redeemed: %+v", ev)
		}
		if n := e.promotionEvents(subjects.EvtCouponRedeemed.Subject(order)); n != 1 {
			t.Fatalf("%d promotion.redeemed events, want 1", n)
		}
		if s := e.status(order); s != promotion.StatusRedeemed {
			t.Fatalf("redemption is %q, want redeemed", s)
		}
		// A late order.placed does not move a redeemed redemption back.
		e.processed(e.orderEvent(subjects.EvtOrderPlaced.EventKind, order, e.customerID, "PAYDAY"))
		if s := e.status(order); s != promotion.StatusRedeemed {
			t.Fatalf("after a late order.placed the redemption is %q, want redeemed", s)
		}
	})

	t.Run("a cancellation before the hold refuses the hold", func(t *testing.T) {
		order := newID()
		e.processed(e.orderEvent(subjects.EvtOrderCancelled.EventKind, order, e.customerID, "PAYDAY"))
		_, err := e.hold(e.customer, "PAYDAY", order, eur(2000))
		expect.Error(t, err, 409, "redemption_returned", "order_id")
		if n := e.promotionEvents(subjects.EvtCouponReturned.Subject(order)); n != 0 {
			t.Fatalf("%d promotion.returned events for an order that held nothing", n)
		}
	})

	t.Run("events of orders without a coupon change nothing", func(t *testing.T) {
		order := newID()
		for _, kind := range []subjects.EventKind{subjects.EvtOrderPlaced.EventKind, subjects.EvtOrderPaid.EventKind, subjects.EvtOrderCancelled.EventKind} {
			e.processed(e.orderEvent(kind, order, e.customerID, ""))
		}
		if s := e.status(order); s != "" {
			t.Fatalf("an order without a coupon has a redemption %q", s)
		}
	})

	// An attempt at placing the order held a coupon and failed; the placement that stored
	// the order (the same key, the same order id) no longer had the coupon in the cart, and
	// the order got no discount. Its events do not count a use of the coupon: the hold stays
	// until the sweeper returns it.
	t.Run("a hold the order did not keep is not redeemed", func(t *testing.T) {
		e.coupon(subjects.CouponCreateRequest{Code: "KEPT", Kind: subjects.CouponPercent, Value: 10})
		order := newID()
		e.mustHold(e.customer, "KEPT", order, eur(2000))
		for _, kind := range []subjects.EventKind{subjects.EvtOrderPlaced.EventKind, subjects.EvtOrderPaid.EventKind} {
			e.processed(e.orderEvent(kind, order, e.customerID, ""))
		}
		if s := e.status(order); s != promotion.StatusHeld {
			t.Fatalf("the redemption of a coupon the order did not keep is %q, want held", s)
		}
		if n := e.promotionEvents(subjects.EvtCouponRedeemed.Subject(order)); n != 0 {
			t.Fatalf("%d promotion.redeemed events for an order without the coupon", n)
		}
	})
}

func TestSweeperReturnsUnconfirmedHolds(t *testing.T) {
	e := newEnv(t)
	const ttl = time.Second
	e.start(promotion.Config{HoldTTL: ttl, SweepEvery: 50 * time.Millisecond})
	e.coupon(subjects.CouponCreateRequest{Code: "PAIR", Kind: subjects.CouponPercent, Value: 10, MaxRedemptions: ptr(2)})

	placed := newID()
	e.mustHold(e.customer, "PAIR", placed, eur(1000))
	e.processed(e.orderEvent(subjects.EvtOrderPlaced.EventKind, placed, e.customerID, "PAIR"))
	lost := newID() // the order service died before storing this order
	heldAt := time.Now()
	e.mustHold(e.customer, "PAIR", lost, eur(1000))
	_, err := e.hold(e.customer, "PAIR", newID(), eur(1000))
	expect.Error(t, err, 422, "coupon_exhausted", "code")

	ev := e.lastEvent(subjects.EvtCouponReturned.Subject(lost))
	if time.Since(heldAt) < ttl {
		t.Fatalf("the hold was returned after %s, before its TTL of %s", time.Since(heldAt), ttl)
	}
	if ev.OrderID != lost || ev.Discount != eur(100) {
		t.Fatalf("promotion.returned: %+v", ev)
	}
	if s := e.status(placed); s != promotion.StatusConfirmed {
		t.Fatalf("the confirmed hold is %q, want confirmed", s)
	}
	e.mustHold(e.customer, "PAIR", newID(), eur(1000)) // the slot is free again
	if n := e.promotionEvents(subjects.EvtCouponReturned.Subject(lost)); n != 1 {
		t.Fatalf("%d promotion.returned events, want 1", n)
	}

	// Its order.placed arrives after all (it was only late), but the slot went to another
	// order meanwhile: the coupon stays within its limit and the order is told so.
	e.processed(e.orderEvent(subjects.EvtOrderPlaced.EventKind, lost, e.customerID, "PAIR"))
	if s := e.status(lost); s != promotion.StatusReturned {
		t.Fatalf("a late order.placed over the limit left the swept hold %q, want returned", s)
	}
	if ev := e.lastEvent(subjects.EvtCouponRefused.Subject(lost)); ev.OrderID != lost {
		t.Fatalf("promotion.refused: %+v", ev)
	}
	expect.Within(t, 5*time.Second, func() error {
		var held int
		if err := e.db.QueryRow(e.ctx, `select count(*) from promo.redemptions where status = 'held'`).Scan(&held); err != nil {
			return err
		}
		if held != 0 {
			return fmt.Errorf("%d holds left unswept", held)
		}
		return nil
	})
}

// An order event that does not decode as the contract's type, or whose order id is no UUID,
// is a poison message: it goes to the dead letters with its error and moves nothing, and the
// events after it still apply. (A mistyped field the redemption does not read used to be
// applied all the same: the consumer read three fields of its own struct.)
func TestUnreadableOrderEventsAreDeadLettered(t *testing.T) {
	e := newEnv(t)
	e.start(promotion.Config{})
	e.coupon(subjects.CouponCreateRequest{Code: "SOLO", Kind: subjects.CouponFixed, Value: 700, Currency: "EUR", MaxRedemptions: ptr(1)})
	order := newID()
	e.mustHold(e.customer, "SOLO", order, eur(5000))

	mistyped := newID()
	e.publish(subjects.EvtOrderPaid.Subject(order), mistyped,
		map[string]any{"event_id": mistyped, "order_id": order, "user_id": e.customerID, "coupon": "SOLO", "status": 7})
	if got := e.deadLetter(mistyped); !strings.Contains(got, subjects.EvtOrderPaid.Kind+": unreadable payload") {
		t.Fatalf("dead letter of a mistyped order.paid: %q", got)
	}
	badID := e.orderEvent(subjects.EvtOrderPlaced.EventKind, "not-a-uuid", e.customerID, "SOLO")
	if got := e.deadLetter(badID); !strings.Contains(got, "order_id") {
		t.Fatalf("dead letter of an order.placed without an order id: %q", got)
	}
	if s := e.status(order); s != promotion.StatusHeld {
		t.Fatalf("after two unreadable events the redemption is %q, want held", s)
	}
	e.processed(e.orderEvent(subjects.EvtOrderPlaced.EventKind, order, e.customerID, "SOLO"))
	if s := e.status(order); s != promotion.StatusConfirmed {
		t.Fatalf("after order.placed the redemption is %q, want confirmed", s)
	}
}

// deadLetter waits until the latest dead letter of promotion-orders is the event eventID and
// returns its error.
func (e *env) deadLetter(eventID string) string {
	e.t.Helper()
	var reason string
	expect.Within(e.t, 10*time.Second, func() error {
		s, err := e.js.Stream(e.ctx, subjects.StreamDLQ)
		if err != nil {
			return err
		}
		m, err := s.GetLastMsgForSubject(e.ctx, subjects.DLQSubject(subjects.StreamOrders, "promotion-orders"))
		if err != nil {
			return err
		}
		if got := m.Header.Get(consumer.DLQEventID); got != eventID {
			return fmt.Errorf("latest dead letter is %s, not %s", got, eventID)
		}
		reason = m.Header.Get(consumer.DLQError)
		return nil
	})
	return reason
}
