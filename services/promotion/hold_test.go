package promotion_test

import (
	"context"
	"errors"
	"math"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/services/promotion"
	"github.com/souk/souk/subjects"
)

func TestQuote(t *testing.T) {
	e := newEnv(t)
	e.start(promotion.Config{})
	now := time.Now().UTC()
	e.coupon(subjects.CouponCreateRequest{Code: "PCT15", Kind: subjects.CouponPercent, Value: 15})
	e.coupon(subjects.CouponCreateRequest{Code: "ALL", Kind: subjects.CouponPercent, Value: 100})
	e.coupon(subjects.CouponCreateRequest{Code: "FIVE-OFF", Kind: subjects.CouponFixed, Value: 500, Currency: "EUR"})
	e.coupon(subjects.CouponCreateRequest{Code: "BIG-BASKET", Kind: subjects.CouponPercent, Value: 10, Currency: "EUR", MinSubtotal: ptr(int64(5000))})
	e.coupon(subjects.CouponCreateRequest{Code: "LATER", Kind: subjects.CouponPercent, Value: 10, StartsAt: ptr(now.Add(time.Hour))})
	e.coupon(subjects.CouponCreateRequest{Code: "GONE", Kind: subjects.CouponPercent, Value: 10, StartsAt: ptr(now.Add(-2 * time.Hour)), EndsAt: ptr(now.Add(-time.Hour))})
	e.coupon(subjects.CouponCreateRequest{Code: "NOW", Kind: subjects.CouponPercent, Value: 10, StartsAt: ptr(now.Add(-time.Hour)), EndsAt: ptr(now.Add(time.Hour))})

	t.Run("discounts", func(t *testing.T) {
		for _, tc := range []struct {
			code     string
			subtotal subjects.Money
			want     int64
		}{
			{"PCT15", eur(999), 149}, // 149.85 rounds down
			{"pct15", eur(1000), 150},
			{"PCT15", subjects.Money{Amount: 99, Currency: "USD"}, 14}, // no currency: any
			{"PCT15", eur(0), 0},
			{"PCT15", eur(math.MaxInt64), exactPercent(math.MaxInt64, 15)}, // no overflow
			{"ALL", eur(1234), 1234},
			{"FIVE-OFF", eur(2000), 500},
			{"FIVE-OFF", eur(300), 300}, // capped at the subtotal
			{"BIG-BASKET", eur(5000), 500},
			{"NOW", eur(1000), 100},
		} {
			d, err := subjects.CouponQuote.Call(e.customer, e.nc, subjects.CouponQuoteRequest{Code: tc.code, Subtotal: tc.subtotal})
			if err != nil {
				t.Fatalf("quote %s on %+v: %v", tc.code, tc.subtotal, err)
			}
			if d.Discount.Amount != tc.want || d.Discount.Currency != tc.subtotal.Currency {
				t.Errorf("quote %s on %+v: discount %+v, want %d", tc.code, tc.subtotal, d.Discount, tc.want)
			}
		}
	})

	t.Run("refusals are 422 naming the field", func(t *testing.T) {
		for _, tc := range []struct {
			code     string
			subtotal subjects.Money
			slug     string
			field    string
		}{
			{"NOSUCH", eur(1000), "coupon_invalid", "code"},
			{"no such code!", eur(1000), "coupon_invalid", "code"},
			{"LATER", eur(1000), "coupon_not_started", "code"},
			{"GONE", eur(1000), "coupon_expired", "code"},
			{"BIG-BASKET", eur(4999), "coupon_min_subtotal", "subtotal"},
			{"BIG-BASKET", subjects.Money{Amount: 9000, Currency: "USD"}, "coupon_invalid", "code"},
			{"FIVE-OFF", subjects.Money{Amount: 9000, Currency: "GBP"}, "coupon_invalid", "code"},
		} {
			_, err := subjects.CouponQuote.Call(e.customer, e.nc, subjects.CouponQuoteRequest{Code: tc.code, Subtotal: tc.subtotal})
			expect.Error(t, err, 422, tc.slug, tc.field)
		}
		_, err := subjects.CouponQuote.Call(e.customer, e.nc, subjects.CouponQuoteRequest{Code: "FIVE-OFF", Subtotal: subjects.Money{Amount: 1, Currency: "USD"}})
		var se *subjects.Error
		if !errors.As(err, &se) || se.Fields[0].Message != "not valid for USD" {
			t.Fatalf("currency mismatch: %v", err)
		}
	})

	t.Run("quotes need a customer token", func(t *testing.T) {
		_, err := subjects.CouponQuote.Call(e.ctx, e.nc, subjects.CouponQuoteRequest{Code: "PCT15", Subtotal: eur(100)})
		expect.Error(t, err, 401, "", "")
	})
}

func TestHoldLimitsAreExactUnderConcurrency(t *testing.T) {
	e := newEnv(t)
	// Each instance coalesces its own holds of a code; across instances only the coupon's row
	// lock keeps the count exact, so three run here, as a scaled-out shop would.
	for range 3 {
		e.start(promotion.Config{})
	}
	e.coupon(subjects.CouponCreateRequest{Code: "FIRST5", Kind: subjects.CouponFixed, Value: 1000, Currency: "EUR", MaxRedemptions: ptr(5)})
	e.coupon(subjects.CouponCreateRequest{Code: "TWICE", Kind: subjects.CouponPercent, Value: 10, PerCustomerLimit: ptr(2)})

	// race runs n holds at once, the i-th as who(i), and returns how many succeeded; every
	// failure must be coupon_exhausted.
	race := func(n int, code string, who func(i int) context.Context) int {
		var wg sync.WaitGroup
		errs := make([]error, n)
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				_, errs[i] = e.hold(who(i), code, newID(), eur(5000))
			})
		}
		close(start)
		wg.Wait()
		won := 0
		for _, err := range errs {
			if err == nil {
				won++
				continue
			}
			expect.Error(t, err, 422, "coupon_exhausted", "code")
		}
		return won
	}

	t.Run("20 customers, 5 redemptions", func(t *testing.T) {
		shoppers := make([]context.Context, 20)
		for i := range shoppers {
			shoppers[i], _ = e.shopper()
		}
		if won := race(20, "FIRST5", func(i int) context.Context { return shoppers[i] }); won != 5 {
			t.Fatalf("%d holds succeeded, want exactly 5", won)
		}
		var held int
		if err := e.db.QueryRow(e.ctx, `select count(*) from promo.redemptions where code = 'FIRST5' and status = 'held'`).Scan(&held); err != nil || held != 5 {
			t.Fatalf("%d redemptions stored (%v), want 5", held, err)
		}
		_, err := subjects.CouponQuote.Call(shoppers[0], e.nc, subjects.CouponQuoteRequest{Code: "FIRST5", Subtotal: eur(5000)})
		expect.Error(t, err, 422, "coupon_exhausted", "code")
	})

	t.Run("one customer, 10 orders at once, limit 2", func(t *testing.T) {
		if won := race(10, "TWICE", func(int) context.Context { return e.customer }); won != 2 {
			t.Fatalf("%d holds succeeded, want exactly 2", won)
		}
		_, err := subjects.CouponQuote.Call(e.customer, e.nc, subjects.CouponQuoteRequest{Code: "TWICE", Subtotal: eur(100)})
		expect.Error(t, err, 422, "coupon_exhausted", "code")
		other, _ := e.shopper()
		e.mustHold(other, "TWICE", newID(), eur(100)) // the limit is per customer
	})
}

func TestHoldIsIdempotentPerOrder(t *testing.T) {
	e := newEnv(t)
	e.start(promotion.Config{})
	e.coupon(subjects.CouponCreateRequest{Code: "ONLY-ONE", Kind: subjects.CouponPercent, Value: 20, MaxRedemptions: ptr(1)})
	e.coupon(subjects.CouponCreateRequest{Code: "OTHER", Kind: subjects.CouponPercent, Value: 5})
	order := newID()

	first := e.mustHold(e.customer, "only-one", order, eur(1000))
	if first.Code != "ONLY-ONE" || first.Kind != subjects.CouponPercent || first.Value != 20 || first.Discount != eur(200) {
		t.Fatalf("hold: %+v", first)
	}
	// The limit is full now, yet the same order asking again gets its hold back, even with
	// another subtotal: the first hold's discount stands.
	again := e.mustHold(e.customer, "ONLY-ONE", order, eur(5000))
	if again != first {
		t.Fatalf("second hold %+v, want the first %+v", again, first)
	}
	_, err := e.hold(e.customer, "ONLY-ONE", newID(), eur(1000))
	expect.Error(t, err, 422, "coupon_exhausted", "code")

	_, err = e.hold(e.customer, "OTHER", order, eur(1000))
	expect.Error(t, err, 409, "redemption_conflict", "order_id")
	thief, _ := e.shopper()
	_, err = e.hold(thief, "ONLY-ONE", order, eur(1000))
	expect.Error(t, err, 409, "redemption_conflict", "order_id")

	// Concurrent asks for one order (a retrying order service), some with another code: the
	// order ends up with one hold, every ask of its code gets it, every other ask a 409.
	e.coupon(subjects.CouponCreateRequest{Code: "RETRY", Kind: subjects.CouponFixed, Value: 300, Currency: "EUR", MaxRedemptions: ptr(1)})
	retried := newID()
	var wg sync.WaitGroup
	got := make([]subjects.CouponDiscount, 12)
	errs := make([]error, len(got))
	for i := range got {
		code := map[bool]string{true: "RETRY", false: "OTHER"}[i%4 != 3]
		wg.Go(func() { got[i], errs[i] = e.hold(e.customer, code, retried, eur(1000)) })
	}
	wg.Wait()
	var won string
	for i, err := range errs {
		if err != nil {
			expect.Error(t, err, 409, "redemption_conflict", "order_id")
			continue
		}
		if won != "" && got[i].Code != won {
			t.Fatalf("the order holds both %s and %s", won, got[i].Code)
		}
		won = got[i].Code
	}
	if won == "" {
		t.Fatal("no ask got the hold")
	}

	var n int
	if err := e.db.QueryRow(e.ctx, `select count(*) from promo.redemptions`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("%d redemptions (%v), want 2", n, err)
	}
}

func TestCouponListPagesNewestFirstWithCounts(t *testing.T) {
	e := newEnv(t)
	e.start(promotion.Config{})
	codes := []string{"AAA", "BBB", "CCC", "DDD", "EEE"}
	for _, c := range codes {
		e.coupon(subjects.CouponCreateRequest{Code: c, Kind: subjects.CouponPercent, Value: 10})
	}
	e.mustHold(e.customer, "CCC", newID(), eur(100))
	e.mustHold(e.customer, "CCC", newID(), eur(100))
	returned := newID()
	e.mustHold(e.customer, "CCC", returned, eur(100))
	e.processed(e.orderEvent(subjects.EvtOrderCancelled.EventKind, returned, e.customerID, "CCC"))

	var got []subjects.Coupon
	cursor := ""
	for range 10 {
		page, err := subjects.CouponList.Call(e.admin, e.nc, subjects.ListRequest{Limit: 2, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, page.Items...)
		if cursor = page.NextCursor; cursor == "" {
			break
		}
	}
	if len(got) != len(codes) {
		t.Fatalf("listed %d coupons, want %d", len(got), len(codes))
	}
	for i, c := range got {
		if want := codes[len(codes)-1-i]; c.Code != want {
			t.Fatalf("item %d is %s, want %s (newest first)", i, c.Code, want)
		}
		if want := map[bool]int{true: 2}[c.Code == "CCC"]; c.Redemptions != want {
			t.Fatalf("%s has %d redemptions, want %d (returned ones do not count)", c.Code, c.Redemptions, want)
		}
	}
	for _, req := range []subjects.ListRequest{{Limit: -1}, {Limit: 101}} {
		_, err := subjects.CouponList.Call(e.admin, e.nc, req)
		expect.Error(t, err, 400, "validation", "limit")
	}
	for _, cur := range []string{"not a cursor", "AAAA", "\x00\xff"} {
		_, err := subjects.CouponList.Call(e.admin, e.nc, subjects.ListRequest{Cursor: cur})
		expect.Error(t, err, 400, "validation", "cursor")
	}
}

// exactPercent is floor(amount*pct/100) in exact arithmetic.
func exactPercent(amount, pct int64) int64 {
	p := new(big.Int).Mul(big.NewInt(amount), big.NewInt(pct))
	return p.Div(p, big.NewInt(100)).Int64()
}
