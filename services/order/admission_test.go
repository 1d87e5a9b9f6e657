package order_test

import (
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/internal/shoptest"
	"github.com/souk/souk/services/order"
	"github.com/souk/souk/subjects"
)

// The checkouts in progress are bounded: with a bound of 2 and no inventory to answer
// order.placed, two placements are admitted and stay pending; the third is refused 503
// checkouts_full with Retry-After before anything happens (no order stored, its cart as it
// was, its Idempotency-Key free). Once the inventory is back and the two are paid, the same
// placement with the same key is admitted and reaches paid.
func TestPlacementsOverTheCheckoutBoundAreRefusedWhole(t *testing.T) {
	e := shoptest.NewEnv(t)
	s, p := unanswered(e, "BOUNDED", 10, 1500) // the saga cannot finish: the two stay in progress
	e.StartPayment(shoptest.PaymentConfig())
	e.StartOrder(order.Config{MaxCheckouts: 2})
	first, _ := s.checkout(p.ID, 1, visa, "")
	second, _ := s.checkout(p.ID, 1, visa, "")

	_, ctx := s.NewCustomer()
	s.add(ctx, p.ID, 2)
	_, err := s.placeAs(ctx, "over-the-bound")
	var se *subjects.Error
	if !errors.As(err, &se) || se.Code != http.StatusServiceUnavailable || se.Slug != "checkouts_full" || se.RetryAfter < 1 {
		t.Fatalf("third placement: want 503 checkouts_full with a Retry-After, got %v", err)
	}
	mine, err := subjects.OrderList.Call(ctx, s.NC, subjects.ListRequest{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(mine.Items) != 0 {
		t.Fatalf("the refused customer has orders %+v, want none", mine.Items)
	}
	if n := s.count(`select count(*) from orders.orders`); n != 2 {
		t.Fatalf("%d orders stored, want the 2 admitted", n)
	}
	cart, err := subjects.CartGet.Call(ctx, s.NC, subjects.Empty{})
	if err != nil {
		t.Fatal(err)
	}
	if len(cart.Items) != 1 || cart.Items[0].Quantity != 2 {
		t.Fatalf("the refused customer's cart is %+v, want the 2 units it held", cart.Items)
	}

	e.StartInventory(shoptest.InventoryConfig())
	s.waitFor(first.ID, subjects.OrderStatusPaid, "")
	s.waitFor(second.ID, subjects.OrderStatusPaid, "")
	var admitted subjects.Order
	expect.Within(t, 20*time.Second, func() error { // until a count sees the two decided
		o, err := s.placeAs(ctx, "over-the-bound")
		if err != nil {
			return fmt.Errorf("placement after the two were paid: %w", err)
		}
		admitted = o
		return nil
	})
	s.waitFor(admitted.ID, subjects.OrderStatusPaid, "")
	if n := s.count(`select count(*) from orders.orders where user_id = $1`, admitted.UserID); n != 1 {
		t.Fatalf("the retried customer has %d orders, want 1", n)
	}
}
