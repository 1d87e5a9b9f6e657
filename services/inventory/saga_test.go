package inventory_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/platform/consumer"
	"github.com/souk/souk/services/inventory"
	"github.com/souk/souk/subjects"
)

// order.placed holds the order's lines once, however often it comes.
func TestPlacedHoldsOnce(t *testing.T) {
	e := newEnv(t, inventory.Config{})
	e.set("P", 10)
	order := newOrder()
	ev := placed(order, line("P", 2), line("P", 1))
	subject := subjects.EvtOrderPlaced.Subject(order)
	e.publish(subject, ev.EventID, ev)
	e.publish(subject, ev.EventID, ev) // the duplicate window drops this one
	e.processed(ev.EventID)
	got := e.reservationEvent(subjects.EvtInventoryReserved, order)
	if got.Status != subjects.ReservationHeld || len(got.Lines) != 1 || got.Lines[0].Quantity != 3 || got.ExpiresAt.IsZero() {
		t.Fatalf("reserved event: %+v", got)
	}
	e.wantStock("P", 10, 3)

	// The same order placed again under another event id: the processed table does not know
	// it, the reservation does.
	again := placed(order, line("P", 2), line("P", 1))
	e.publish(subject, again.EventID, again)
	e.processed(again.EventID)
	e.wantStock("P", 10, 3)
	e.reservationEvent(subjects.EvtInventoryReserved, order) // still exactly one

	// A placed order without the stock is rejected, naming what is short.
	short := newOrder()
	e.placeOrder(short, line("P", 8))
	e.wantRejected(short, "P")
	e.wantStock("P", 10, 3)
}

// paid commits: the units leave on_hand; cancelled after that puts them back.
func TestPaidCommitsAndCancelRestores(t *testing.T) {
	e := newEnv(t, inventory.Config{})
	e.set("C", 10)
	order := newOrder()
	e.placeHeld(order, line("C", 4))
	e.wantStock("C", 10, 4)

	e.payOrder(order)
	if ev := e.reservationEvent(subjects.EvtInventoryCommitted, order); ev.Status != subjects.ReservationCommitted {
		t.Fatalf("committed event: %+v", ev)
	}
	e.wantStock("C", 6, 0)
	e.processed(e.payOrder(order)) // paid again: nothing more leaves
	e.wantStock("C", 6, 0)

	e.cancelOrder(order)
	e.reservationEvent(subjects.EvtInventoryReleased, order)
	e.wantStock("C", 10, 0)
	e.processed(e.cancelOrder(order)) // cancelled again: nothing more comes back
	e.wantStock("C", 10, 0)
	e.wantStatus(order, subjects.ReservationReleased)
}

// cancelled before paid releases the hold.
func TestCancelReleasesHold(t *testing.T) {
	e := newEnv(t, inventory.Config{})
	e.set("H", 3)
	order := newOrder()
	e.placeHeld(order, line("H", 3))
	e.wantStock("H", 3, 3)
	e.cancelOrder(order)
	e.reservationEvent(subjects.EvtInventoryReleased, order)
	e.wantStock("H", 3, 0)
	e.processed(e.payOrder(order)) // a payment after the cancellation takes nothing
	e.wantStock("H", 3, 0)
}

// cancelled before placed leaves a tombstone: the late placed holds nothing.
func TestCancelBeforePlaced(t *testing.T) {
	e := newEnv(t, inventory.Config{})
	e.set("T", 5)
	order := newOrder()
	e.cancelOrder(order)
	if ev := e.reservationEvent(subjects.EvtInventoryReleased, order); len(ev.Lines) != 0 {
		t.Fatalf("tombstone event: %+v", ev)
	}
	e.processed(e.placeOrder(order, line("T", 1)))
	e.wantStock("T", 5, 0)
	e.wantStatus(order, subjects.ReservationReleased)
	bodies, err := e.events(subjects.EvtInventoryReserved.Subject(order))
	if err != nil || len(bodies) != 0 {
		t.Fatalf("a late placed reserved: %d events, %v", len(bodies), err)
	}
}

// A hold past its deadline expires: the units go back and inventory.expired is published. A
// payment that comes later takes the units again when they are there, and is rejected when
// they are not.
func TestExpiryAndLatePayment(t *testing.T) {
	e := newEnv(t, inventory.Config{ReservationTTL: 300 * time.Millisecond, SweepEvery: 50 * time.Millisecond})
	e.set("E", 5)
	late, unlucky := newOrder(), newOrder()
	e.placeOrder(late, line("E", 2))
	e.placeOrder(unlucky, line("E", 3))
	for _, order := range []string{late, unlucky} {
		ev := e.reservationEvent(subjects.EvtInventoryExpired, order)
		if ev.Status != subjects.ReservationExpired || time.Since(ev.ExpiresAt) < 0 {
			t.Fatalf("expired event: %+v", ev)
		}
	}
	e.wantStock("E", 5, 0)

	e.payOrder(late) // enough is available: taken again
	e.reservationEvent(subjects.EvtInventoryCommitted, late)
	e.wantStock("E", 3, 0)

	e.set("E", 1) // sold elsewhere meanwhile
	e.payOrder(unlucky)
	e.wantRejected(unlucky, "E")
	e.wantStock("E", 1, 0)
	e.wantStatus(unlucky, subjects.ReservationRejected)
	// The expired hold that could not be taken again is a stock-out.
	expect.Within(t, 10*time.Second, func() error { // counted just after the commit
		if n := e.inst.Counter(t, "souk_inventory_stockouts_total"); n != 1 {
			return fmt.Errorf("souk_inventory_stockouts_total = %v, want 1", n)
		}
		return nil
	})
}

// A payment the inventory has no reservation for is retried until order.placed arrives, as
// it must have been published before.
func TestPaidBeforePlacedWaits(t *testing.T) {
	e := newEnv(t, inventory.Config{})
	e.set("W", 2)
	order := newOrder()
	e.payOrder(order)
	// A poison order event goes to the dead letters, without holding up the others.
	e.publish(subjects.EvtOrderPlaced.Subject("x"), uuid.NewString(), map[string]any{"order_id": "x", "lines": "?"})
	e.placeOrder(order, line("W", 2))
	e.reservationEvent(subjects.EvtInventoryCommitted, order)
	e.wantStock("W", 0, 0)
	e.deadLetter()
}

// An order.placed whose payload does not decode is a poison message: the consumer's filter
// takes nothing its routes do not handle, so this is the one way an order event can go
// unapplied, and it goes to the dead letters at once with its subject, its payload and the
// decoding error, never acked as processed. The order placed next is held all the same.
func TestAnUnreadablePlacedIsDeadLetteredAndTheNextOrderHolds(t *testing.T) {
	e := newEnv(t, inventory.Config{})
	e.set("D", 2)
	bad := newOrder()
	subject, data := subjects.EvtOrderPlaced.Subject(bad), `{"order_id":"`+bad+`","lines":"two of D"}`
	if _, err := e.js.Publish(e.ctx, subject, []byte(data), jetstream.WithMsgID(uuid.NewString())); err != nil {
		t.Fatal(err)
	}
	next := newOrder()
	e.placeHeld(next, line("D", 2))
	e.wantStock("D", 2, 2)

	l := e.deadLetter()
	if h := l.Header; !strings.Contains(h.Get(consumer.DLQError), "unreadable payload") || h.Get(consumer.DLQSubject) != subject ||
		h.Get(consumer.DLQStream) != subjects.StreamOrders || string(l.Data) != data {
		t.Fatalf("dead letter: headers %v, data %s", h, l.Data)
	}
	e.wantStatus(bad, "")
}
