package promotion_test

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/souk/souk/services/promotion"
	"github.com/souk/souk/subjects"
)

func TestNormalizeCode(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"summer_25-x", "SUMMER_25-X", true},
		{"ABC", "ABC", true},
		{"AB", "", false},
		{"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345", "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345", true},
		{"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456", "", false},
		{"ıstanbul", "", false}, // Unicode would fold it to ISTANBUL
		{"A B C", "", false},
		{"AB\x00", "", false},
		{"A.B", "", false},
	} {
		got, ok := promotion.NormalizeCode(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("NormalizeCode(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestDiscount(t *testing.T) {
	pct := func(v int64) promotion.Coupon { return promotion.Coupon{Kind: subjects.CouponPercent, Value: v} }
	fixed := func(v int64) promotion.Coupon {
		return promotion.Coupon{Kind: subjects.CouponFixed, Value: v, Currency: "EUR"}
	}
	for _, tc := range []struct {
		c        promotion.Coupon
		subtotal int64
		want     int64
	}{
		{pct(15), 999, 149},
		{pct(33), 100, 33},
		{pct(33), 101, 33},
		{pct(1), 99, 0},
		{pct(100), 12345, 12345},
		{pct(99), math.MaxInt64, exactPercent(math.MaxInt64, 99)},
		{pct(50), -10, 0},
		{fixed(500), 499, 499},
		{fixed(500), 501, 500},
		{fixed(math.MaxInt64), 7, 7},
	} {
		if got := tc.c.Discount(tc.subtotal); got != tc.want {
			t.Errorf("%s %d on %d: %d, want %d", tc.c.Kind, tc.c.Value, tc.subtotal, got, tc.want)
		}
	}
}

func TestDecide(t *testing.T) {
	now := time.Now()
	c := promotion.Coupon{Code: "ONE", Kind: subjects.CouponFixed, Value: 100, Currency: "EUR", MaxRedemptions: ptr(2), PerCustomerLimit: ptr(1)}
	order := uuid.New()
	h := promotion.HoldRequest{OrderID: order, UserID: "u1", Code: "ONE", Subtotal: eur(50)}
	tally := promotion.Tally{Mine: map[string]int{}}

	r, isNew, err := c.Decide(h, nil, &tally, now)
	if err != nil || !isNew || r.Discount != eur(50) || r.Status != promotion.StatusHeld || tally.Used != 1 || tally.Mine["u1"] != 1 {
		t.Fatalf("first hold: %+v %v %v, tally %+v", r, isNew, err, tally)
	}
	if _, _, err := c.Decide(promotion.HoldRequest{OrderID: uuid.New(), UserID: "u1", Code: "ONE", Subtotal: eur(50)}, nil, &tally, now); !errors.Is(err, promotion.ErrCustomerLimit) {
		t.Fatalf("second order of u1: %v, want ErrCustomerLimit", err)
	}
	if _, _, err := c.Decide(promotion.HoldRequest{OrderID: uuid.New(), UserID: "u2", Code: "ONE", Subtotal: eur(50)}, nil, &tally, now); err != nil {
		t.Fatalf("u2: %v", err)
	}
	if _, _, err := c.Decide(promotion.HoldRequest{OrderID: uuid.New(), UserID: "u3", Code: "ONE", Subtotal: eur(50)}, nil, &tally, now); !errors.Is(err, promotion.ErrExhausted) {
		t.Fatalf("third customer: %v, want ErrExhausted", err)
	}
	// The same order again gets its hold, though the limits are full.
	again, isNew, err := c.Decide(h, &r, &tally, now)
	if err != nil || isNew || again != r {
		t.Fatalf("repeated hold: %+v %v %v", again, isNew, err)
	}
	if _, _, err := c.Decide(promotion.HoldRequest{OrderID: order, UserID: "u9", Code: "ONE", Subtotal: eur(50)}, &r, &tally, now); !errors.Is(err, promotion.ErrOrderConflict) {
		t.Fatalf("another customer's order: %v, want ErrOrderConflict", err)
	}
	returned := r
	returned.Status = promotion.StatusReturned
	if _, _, err := c.Decide(h, &returned, &tally, now); !errors.Is(err, promotion.ErrReturned) {
		t.Fatalf("returned order: %v, want ErrReturned", err)
	}
	var cur promotion.CurrencyError
	if _, _, err := c.Decide(promotion.HoldRequest{OrderID: uuid.New(), UserID: "u4", Code: "ONE", Subtotal: subjects.Money{Amount: 5, Currency: "USD"}}, nil, &tally, now); !errors.As(err, &cur) || cur.Currency != "USD" {
		t.Fatalf("USD subtotal: %v", err)
	}
}
