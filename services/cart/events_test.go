package cart_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/internal/shoptest"
	"github.com/souk/souk/services/cart"
	"github.com/souk/souk/subjects"
)

// order.placed takes what the order bought out of its customer's cart, as the order
// service's call does, and the two together, or the event delivered again under a new id,
// take it once: lines added since stay, and the consumer is left with nothing pending.
func TestOrderPlacedTakesTheLinesOnce(t *testing.T) {
	e := newEnv(t, cart.Config{})
	a := e.Product(t, "EVT-A", shoptest.EUR(500))
	b := e.Product(t, "EVT-B", shoptest.EUR(700))
	e.add(e.Customer, a.ID, 3)
	e.add(e.Customer, b.ID, 1)

	order := shoptest.NewID()
	placed := subjects.OrderPlaced{EventID: shoptest.NewID(), OccurredAt: time.Now().UTC(), OrderID: order, UserID: e.CustomerID,
		Status: subjects.OrderStatusPending, Lines: []subjects.OrderLine{{ProductID: a.ID, SKU: "EVT-A", Quantity: 2, UnitPrice: shoptest.EUR(500)}}}
	subject := subjects.EvtOrderPlaced.Subject(order)
	e.Publish(subject, placed.EventID, placed)
	e.wantLinesSoon(map[string]int{a.ID: 1, b.ID: 1})

	e.Publish(subject, shoptest.NewID(), placed) // a copy the duplicate window does not know
	if _, err := subjects.CartCheckedOut.Call(e.Customer, e.NC, subjects.CartCheckedOutRequest{OrderID: order, Lines: placed.Lines}); err != nil {
		t.Fatal(err)
	}
	e.settled()
	wantLines(t, e.get(e.Customer), map[string]int{a.ID: 1, b.ID: 1})

	// An event the service cannot read is terminated with the contract's decoding error: not
	// retried for ever, and not acknowledged as if it had been applied.
	terminated := make(chan *nats.Msg, 8)
	sub, err := e.NC.ChanSubscribe("$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED."+subjects.StreamOrders+".cart-orders", terminated)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	poison, err := e.JS.Publish(e.Ctx, subjects.EvtOrderPlaced.Subject(shoptest.NewID()), []byte(`{"order_id":`))
	if err != nil {
		t.Fatal(err)
	}
	e.settled()
	wantLines(t, e.get(e.Customer), map[string]int{a.ID: 1, b.ID: 1})
	select {
	case m := <-terminated:
		var adv struct {
			StreamSeq uint64 `json:"stream_seq"`
			Reason    string `json:"reason"`
		}
		if err := json.Unmarshal(m.Data, &adv); err != nil {
			t.Fatal(err)
		}
		if adv.StreamSeq != poison.Sequence || !strings.Contains(adv.Reason, subjects.EvtOrderPlaced.Kind+": unreadable payload") {
			t.Fatalf("terminated: %+v, want stream sequence %d and the decoding error", adv, poison.Sequence)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the unreadable order.placed was not terminated")
	}
}

// wantLinesSoon waits until the customer's cart holds exactly want.
func (e *env) wantLinesSoon(want map[string]int) {
	e.T.Helper()
	expect.Within(e.T, 10*time.Second, func() error {
		got := quantities(e.get(e.Customer))
		if fmt.Sprint(got) != fmt.Sprint(want) {
			return fmt.Errorf("lines %v, want %v", got, want)
		}
		return nil
	})
}

// settled waits until the cart-orders consumer has nothing pending or unacknowledged.
func (e *env) settled() {
	e.T.Helper()
	expect.Within(e.T, 10*time.Second, func() error {
		c, err := e.JS.Consumer(e.Ctx, subjects.StreamOrders, "cart-orders")
		if err != nil {
			return err
		}
		info, err := c.Info(e.Ctx)
		if err != nil {
			return err
		}
		if info.NumPending > 0 || info.NumAckPending > 0 {
			return fmt.Errorf("cart-orders: %d pending, %d unacknowledged", info.NumPending, info.NumAckPending)
		}
		return nil
	})
}
