package cart_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/internal/shoptest"
	"github.com/souk/souk/platform/consumer"
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

	// An event the service cannot read is a dead letter with the contract's decoding error:
	// not retried for ever, and not acknowledged as if it had been applied.
	poison, err := e.JS.Publish(e.Ctx, subjects.EvtOrderPlaced.Subject(shoptest.NewID()), []byte(`{"order_id":`))
	if err != nil {
		t.Fatal(err)
	}
	dl := e.DeadLetter(subjects.StreamOrders, "cart-orders")
	if seq := dl.Header.Get(consumer.DLQSequence); seq != strconv.FormatUint(poison.Sequence, 10) ||
		!strings.Contains(dl.Header.Get(consumer.DLQError), subjects.EvtOrderPlaced.Kind+": unreadable payload") {
		t.Fatalf("dead letter %v; want stream sequence %d and the decoding error", dl.Header, poison.Sequence)
	}
	e.settled()
	wantLines(t, e.get(e.Customer), map[string]int{a.ID: 1, b.ID: 1})
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
	e.Settled(subjects.StreamOrders, "cart-orders", 10*time.Second)
}
