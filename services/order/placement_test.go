package order_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/internal/shoptest"
	"github.com/souk/souk/services/order"
	"github.com/souk/souk/subjects"
)

// keyed returns ctx whose calls carry the Idempotency-Key key, as the gateway sends it.
func keyed(ctx context.Context, key string) context.Context {
	m := subjects.MetaFrom(ctx)
	m.IdempotencyKey = key
	return subjects.WithMeta(ctx, m)
}

// placeAs places the cart of ctx's caller with key, returning the error as it came.
func (s *saga) placeAs(ctx context.Context, key string) (subjects.Order, error) {
	return subjects.OrderPlace.Call(keyed(ctx, key), s.NC, subjects.OrderPlaceRequest{PaymentMethod: visa,
		ShippingAddress: &subjects.Address{Name: "Ada Lovelace", Line1: "1 Main St", City: "Berlin", PostalCode: "10115", Country: "DE"}})
}

// count returns the number query (one bigint column, one row) counts.
func (s *saga) count(query string, args ...any) int {
	s.T.Helper()
	var n int
	if err := s.DB.QueryRow(s.Ctx, query, args...).Scan(&n); err != nil {
		s.T.Fatalf("%s: %v", query, err)
	}
	return n
}

// redemptions returns the active redemptions of code, as admins see them.
func (s *saga) redemptions(code string) int {
	s.T.Helper()
	page, err := subjects.CouponList.Call(s.Admin, s.NC, subjects.ListRequest{Limit: 100})
	if err != nil {
		s.T.Fatal(err)
	}
	for _, c := range page.Items {
		if c.Code == code {
			return c.Redemptions
		}
	}
	s.T.Fatalf("coupon %s not listed", code)
	return 0
}

// wantEmptyCart waits until the cart of ctx's caller holds nothing.
func (s *saga) wantEmptyCart(ctx context.Context) {
	s.T.Helper()
	expect.Within(s.T, 20*time.Second, func() error {
		c, err := subjects.CartGet.Call(ctx, s.NC, subjects.Empty{})
		if err != nil {
			return err
		}
		if len(c.Items) > 0 || c.Coupon != nil {
			return fmt.Errorf("the cart still holds %+v (coupon %+v)", c.Items, c.Coupon)
		}
		return nil
	})
}

// Ten concurrent checkouts of one cart holding one unit, each with its own Idempotency-Key
// (a double click, a client retrying with a fresh key), with and without a coupon: the cart
// becomes one order, reserved once, paid once; every other attempt is a clear 409 or 422 (or
// the same order); the coupon counts one redemption; the cart ends empty.
func TestOneCartBecomesOneOrder(t *testing.T) {
	s := newSaga(t)
	p := s.stocked("ONE-CART", 20, 1000)
	s.coupon("ONCEOFF")
	for _, coupon := range []string{"", "ONCEOFF"} {
		t.Run("coupon "+coupon, func(t *testing.T) {
			user, ctx := s.NewCustomer()
			s.add(ctx, p.ID, 1)
			if coupon != "" {
				if _, err := subjects.CartApplyCoupon.Call(ctx, s.NC, subjects.CouponCodeRequest{Code: coupon}); err != nil {
					t.Fatal(err)
				}
			}
			const attempts = 10
			var wg sync.WaitGroup
			orders := make([]subjects.Order, attempts)
			errs := make([]error, attempts)
			for i := range attempts {
				wg.Go(func() { orders[i], errs[i] = s.placeAs(ctx, "click-"+coupon+strconv.Itoa(i)) })
			}
			wg.Wait()
			ids := map[string]bool{}
			for i, err := range errs {
				var se *subjects.Error
				switch {
				case err == nil:
					ids[orders[i].ID] = true
				case errors.As(err, &se) && (se.Code == 409 || se.Code == 422):
					t.Logf("attempt %d: %d %s", i, se.Code, se.Slug)
				default:
					t.Errorf("attempt %d: %v, want an order, a 409 or a 422", i, err)
				}
			}
			if n := s.count(`select count(*) from orders.orders where user_id = $1`, user); len(ids) != 1 || n != 1 {
				t.Fatalf("%d orders answered and %d stored for one cart, want 1", len(ids), n)
			}
			var id string
			for id = range ids {
			}
			o := s.waitFor(id, subjects.OrderStatusPaid, "")
			s.AtRest(20 * time.Second)
			if n := s.count(`select count(*) from payments.payments where order_id = $1`, id); n != 1 {
				t.Fatalf("%d payments, want 1", n)
			}
			if n := s.count(`select count(*) from payments.payments`); n != s.count(`select count(*) from orders.orders`) {
				t.Fatalf("%d payments for %d orders", n, s.count(`select count(*) from orders.orders`))
			}
			if coupon != "" {
				if o.Coupon != coupon || o.Discount.Amount != 100 {
					t.Fatalf("order %s: coupon %q discount %+v", id, o.Coupon, o.Discount)
				}
				if n := s.redemptions(coupon); n != 1 {
					t.Fatalf("the coupon counts %d redemptions for one order", n)
				}
			}
			s.wantEmptyCart(ctx)
		})
	}
	s.wantStock("ONE-CART", 18, 0)
}

// The emptying of the cart after the order is stored is lost (the cart's store refuses
// writes at that moment, as if the process had died between the insert and the call): the
// cart is still claimed by its order, so another checkout of it is refused, and once the
// cart can be written again it ends empty without anyone calling again.
func TestALostEmptyingStillEmptiesTheCart(t *testing.T) {
	s := newSaga(t)
	p := s.stocked("LOST-EMPTY", 10, 1000)
	user, ctx := s.NewCustomer()
	s.add(ctx, p.ID, 2)
	restore := s.freezeCarts()
	o, err := s.placeAs(ctx, "first")
	if err != nil {
		t.Fatalf("place while the carts refuse writes: %v", err)
	}
	if c, err := subjects.CartGet.Call(ctx, s.NC, subjects.Empty{}); err != nil || len(c.Items) != 1 {
		t.Fatalf("the fault did not hold: the cart is %+v, %v", c, err)
	}
	_, err = s.placeAs(ctx, "second")
	expect.Error(t, err, 409, "cart_already_ordered", "")
	restore()
	s.wantEmptyCart(ctx)
	s.waitFor(o.ID, subjects.OrderStatusPaid, "")
	if n := s.count(`select count(*) from orders.orders where user_id = $1`, user); n != 1 {
		t.Fatalf("%d orders of one cart", n)
	}
	// The replay of the first request answers the same order.
	again, err := s.placeAs(ctx, "first")
	if err != nil || again.ID != o.ID {
		t.Fatalf("replay: %s, %v; want %s", again.ID, err, o.ID)
	}
}

// The first placement dies between its insert and emptying the cart (here the carts refuse
// writes, as a crash would leave it), and the client retries with its Idempotency-Key: the
// retry answers the first order and takes its lines out of the cart at once, as the first
// would have. It used to leave them there, claimed, until the cart service saw order.placed
// (after a restart, once the outbox relayed it), and the customer's next order in the
// meantime was refused 409 cart_already_ordered (TestCheckoutSurvivesKill met it).
func TestAReplayEmptiesTheCartItsFirstAttemptDidNot(t *testing.T) {
	s := newSaga(t)
	p := s.stocked("REPLAY-EMPTY", 10, 1000)
	_, ctx := s.NewCustomer()
	// Another relay holds the order outbox (its lock: platform/outbox), so order.placed does
	// not reach the cart service until the end: only the placement itself can empty the cart.
	holder, err := s.DB.Begin(s.Ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = holder.Rollback(s.Ctx) }()
	if _, err := holder.Exec(s.Ctx, `select pg_advisory_xact_lock(hashtext('souk.outbox'), hashtext($1))`, order.Schema); err != nil {
		t.Fatal(err)
	}
	s.add(ctx, p.ID, 1)
	restore := s.freezeCarts()
	o, err := s.placeAs(ctx, "first")
	if err != nil {
		t.Fatalf("place while the carts refuse writes: %v", err)
	}
	restore()
	again, err := s.placeAs(ctx, "first")
	if err != nil || again.ID != o.ID {
		t.Fatalf("replay: %s, %v; want %s", again.ID, err, o.ID)
	}
	if c, err := subjects.CartGet.Call(ctx, s.NC, subjects.Empty{}); err != nil || len(c.Items) != 0 {
		t.Fatalf("after the replay's answer the cart is %+v, %v; want it empty", c.Items, err)
	}
	// The next order of the same customer goes through.
	s.add(ctx, p.ID, 1)
	next, err := s.placeAs(ctx, "second")
	if err != nil {
		t.Fatalf("the next order: %v", err)
	}
	if err := holder.Rollback(s.Ctx); err != nil {
		t.Fatal(err)
	}
	s.waitFor(o.ID, subjects.OrderStatusPaid, "")
	s.waitFor(next.ID, subjects.OrderStatusPaid, "")
	s.wantEmptyCart(ctx)
	if n := s.count(`select count(*) from orders.orders where id in ($1, $2)`, o.ID, next.ID); n != 2 {
		t.Fatalf("%d orders, want 2", n)
	}
}

// freezeCarts makes the carts bucket refuse every write to a cart that exists (its stream
// discards new messages on a subject at its limit) until restore is called; reads go on.
func (s *saga) freezeCarts() (restore func()) {
	s.T.Helper()
	str, err := s.JS.Stream(s.Ctx, "KV_carts")
	if err != nil {
		s.T.Fatal(err)
	}
	info, err := str.Info(s.Ctx)
	if err != nil {
		s.T.Fatal(err)
	}
	cfg := info.Config
	frozen := cfg
	frozen.Discard, frozen.DiscardNewPerSubject = jetstream.DiscardNew, true
	if _, err := s.JS.UpdateStream(s.Ctx, frozen); err != nil {
		s.T.Fatal(err)
	}
	return func() {
		s.T.Helper()
		if _, err := s.JS.UpdateStream(s.Ctx, cfg); err != nil {
			s.T.Fatal(err)
		}
	}
}

// A placement that fails after its coupon hold (the orders table refuses the insert, as a
// database that turned read-only does) is retried with the same Idempotency-Key, as the
// reply says: the retry gets its order with the coupon, even though the coupon allows one
// use per customer and the failed attempt's hold is still held.
func TestARetryAfterAFailedInsertKeepsItsCoupon(t *testing.T) {
	s := newSaga(t)
	p := s.stocked("RETRY-1", 10, 2000)
	one := 1
	if _, err := subjects.CouponCreate.Call(s.Admin, s.NC, subjects.CouponCreateRequest{Code: "ONEEACH", Kind: subjects.CouponPercent,
		Value: 10, PerCustomerLimit: &one}); err != nil {
		t.Fatal(err)
	}
	_, ctx := s.NewCustomer()
	s.add(ctx, p.ID, 1)
	if _, err := subjects.CartApplyCoupon.Call(ctx, s.NC, subjects.CouponCodeRequest{Code: "ONEEACH"}); err != nil {
		t.Fatal(err)
	}
	s.exec(`create function orders.refuse() returns trigger language plpgsql as
		$$ begin raise exception 'cannot execute INSERT in a read-only transaction' using errcode = '25006'; end $$`)
	s.exec(`create trigger refuse before insert on orders.orders for each row execute function orders.refuse()`)
	_, err := s.placeAs(ctx, "retry-me")
	var se *subjects.Error
	if !errors.As(err, &se) || se.Code < 500 {
		t.Fatalf("place while orders refuse writes: %v, want a 5xx", err)
	}
	if n := s.count(`select count(*) from promo.redemptions where status = 'held'`); n != 1 {
		t.Fatalf("the fault did not hit after the hold: %d holds", n)
	}
	s.exec(`drop trigger refuse on orders.orders`)
	o, err := s.placeAs(ctx, "retry-me")
	if err != nil {
		t.Fatalf("retry with the same key: %v", err)
	}
	if o.Coupon != "ONEEACH" || o.Discount.Amount != 200 || o.Total.Amount != 1800 {
		t.Fatalf("the retried order: coupon %q discount %+v total %+v", o.Coupon, o.Discount, o.Total)
	}
	s.waitFor(o.ID, subjects.OrderStatusPaid, "")
	s.AtRest(20 * time.Second)
	if n := s.redemptions("ONEEACH"); n != 1 {
		t.Fatalf("the coupon counts %d redemptions", n)
	}
	s.wantEmptyCart(ctx)
}

// exec runs sql on the test's database.
func (s *saga) exec(sql string) {
	s.T.Helper()
	if _, err := s.DB.Exec(s.Ctx, sql); err != nil {
		s.T.Fatalf("%s: %v", sql, err)
	}
}

// An order's order.placed reaches the promotion service later than the coupon hold's time
// to live (its consumer paused, as one that is down or far behind), the sweeper returns the
// hold, and another order takes the coupon's only slot. When the late event arrives, the
// coupon is not redeemed twice: the late order is cancelled (coupon_refused) and whatever it
// paid refunded, the other order keeps its coupon, and the coupon counts one redemption.
func TestALateOrderOverTheCouponLimitIsCancelled(t *testing.T) {
	e := shoptest.NewEnv(t)
	e.StartCatalog(shoptest.CatalogConfig())
	e.StartCart(shoptest.CartConfig())
	e.StartInventory(shoptest.InventoryConfig())
	promo := shoptest.PromotionConfig()
	promo.HoldTTL, promo.SweepEvery = 3*time.Second, 50*time.Millisecond
	e.StartPromotion(promo)
	e.StartPayment(shoptest.PaymentConfig())
	e.StartOrder(order.Config{})
	s := &saga{Env: e}
	p := s.stocked("LATE-COUPON", 10, 1000)
	one := 1
	if _, err := subjects.CouponCreate.Call(s.Admin, s.NC, subjects.CouponCreateRequest{Code: "LASTONE", Kind: subjects.CouponPercent,
		Value: 10, MaxRedemptions: &one}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.JS.PauseConsumer(s.Ctx, "ORDERS", "promotion-orders", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	late, _ := s.checkout(p.ID, 1, visa, "LASTONE")
	expect.Within(t, 20*time.Second, func() error { // the sweeper returns the unconfirmed hold
		if st := s.rows(`select status from promo.redemptions where order_id = '` + late.ID + `'`); len(st) != 1 || st[0] != "returned" {
			return fmt.Errorf("the late order's hold is %v", st)
		}
		return nil
	})
	winner, _ := s.checkout(p.ID, 1, visa, "LASTONE") // the slot is free: the next order takes it
	if _, err := s.JS.ResumeConsumer(s.Ctx, "ORDERS", "promotion-orders"); err != nil {
		t.Fatal(err)
	}
	cancelled := s.waitFor(late.ID, subjects.OrderStatusCancelled, subjects.ReasonCouponRefused)
	s.waitFor(winner.ID, subjects.OrderStatusPaid, "")
	s.AtRest(20 * time.Second)
	if n := s.redemptions("LASTONE"); n != 1 {
		t.Fatalf("LASTONE allows one redemption and counts %d", n)
	}
	if got := s.get(winner.ID); got.Coupon != "LASTONE" || got.Discount.Amount != 100 {
		t.Fatalf("the winner: coupon %q discount %+v", got.Coupon, got.Discount)
	}
	if pay := s.get(cancelled.ID).Payment; pay != nil && pay.Status == subjects.PaymentStatusSucceeded {
		t.Fatalf("the cancelled order keeps its payment: %+v", pay)
	}
	s.wantStock("LATE-COUPON", 9, 0)
}

// A placement is not looked up by its Idempotency-Key before it is built: a key used again
// is answered where it shows. After the first order the cart is empty (building fails, the
// key finds the order) or holds something new (building succeeds, the insert meets the
// key): either way the answer is the first order, and nothing new is stored, held or kept
// from the cart.
func TestAKeyUsedAgainAnswersItsFirstOrder(t *testing.T) {
	s := newSaga(t)
	p := s.stocked("KEY-AGAIN", 10, 1000)
	other := s.stocked("KEY-OTHER", 10, 500)
	_, ctx := s.NewCustomer()
	s.add(ctx, p.ID, 2)
	first, err := s.placeAs(ctx, "key-again")
	if err != nil {
		t.Fatal(err)
	}
	s.wantEmptyCart(ctx)
	again, err := s.placeAs(ctx, "key-again") // the cart is empty now
	if err != nil || again.ID != first.ID {
		t.Fatalf("the key again on an empty cart: %+v, %v; want order %s", again, err, first.ID)
	}
	s.add(ctx, other.ID, 1)
	again, err = s.placeAs(ctx, "key-again") // the cart holds something else
	if err != nil || again.ID != first.ID || again.Total != first.Total {
		t.Fatalf("the key again on a new cart: %+v, %v; want order %s", again, err, first.ID)
	}
	if n := s.count(`select count(*) from orders.orders`); n != 1 {
		t.Fatalf("%d orders stored, want 1", n)
	}
	c, err := subjects.CartGet.Call(ctx, s.NC, subjects.Empty{})
	if err != nil || len(c.Items) != 1 || c.Items[0].ProductID != other.ID {
		t.Fatalf("the cart after the replays: %+v, %v; want the new line kept", c.Items, err)
	}
	s.waitFor(first.ID, subjects.OrderStatusPaid, "")
	s.AtRest(20 * time.Second)
	s.wantStock("KEY-AGAIN", 8, 0)
	s.wantStock("KEY-OTHER", 10, 0)
}
