package promotion_test

import (
	"context"
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/souk/souk/services/promotion"
	"github.com/souk/souk/subjects"
)

// TestBadInputIsNever500 sends what a hostile or broken client might, raw, to every
// endpoint: each answer is a 4xx, and nothing is stored.
func TestBadInputIsNever500(t *testing.T) {
	e := newEnv(t)
	e.start(promotion.Config{})
	e.coupon(subjects.CouponCreateRequest{Code: "REAL", Kind: subjects.CouponPercent, Value: 10})
	huge := strings.Repeat("A", 100_000)
	bodies := []string{
		``, `null`, `[]`, `"x"`, `{`, `{"code": 5}`, `{"code": "RE\u0000AL"}`, "{\"code\": \"RE\xffAL\"}",
		`{"code": "` + huge + `"}`, `{"code": "REAL", "subtotal": {"amount": -1, "currency": "EUR"}}`,
		`{"code": "REAL", "subtotal": {"amount": 1e300, "currency": "EUR"}}`,
		`{"code": "REAL", "subtotal": {"amount": 100, "currency": "E\u0000R"}}`,
		`{"code": "REAL", "subtotal": {"amount": 100, "currency": "` + huge + `"}}`,
		`{"code": "REAL", "order_id": "\u0000", "subtotal": {"amount": 100, "currency": "EUR"}}`,
		`{"code": "REAL", "order_id": "` + huge + `", "subtotal": {"amount": 100, "currency": "EUR"}}`,
		`{"code": "NEW1", "kind": "fixed", "value": 9223372036854775807, "currency": "EUR", "min_subtotal": -9223372036854775808}`,
		`{"code": "NEW2", "kind": "percent", "value": 10, "max_redemptions": 9223372036854775807, "per_customer_limit": -9223372036854775808}`,
		`{"code": "NEW3", "kind": "percent", "value": 10, "starts_at": "0000-01-01T00:00:00Z", "ends_at": "0000-01-01T00:00:00Z"}`,
		`{"code": "NEW4", "kind": "percent", "value": 10, "starts_at": "not a time"}`,
		`{"code": "NEW5", "kind": "per\u0000cent", "value": 10}`,
		`{"limit": 1000000000000}`, `{"limit": -5, "cursor": "\u0000"}`, `{"cursor": "` + huge + `"}`,
	}
	endpoints := []struct {
		subject string
		as      context.Context
	}{
		{subjects.CouponCreate.Subject, e.admin},
		{subjects.CouponList.Subject, e.admin},
		{subjects.CouponQuote.Subject, e.customer},
		{subjects.CouponHold.Subject, e.customer},
	}
	for _, ep := range endpoints {
		for _, body := range bodies {
			ctx, cancel := context.WithTimeout(ep.as, 10*time.Second)
			_, err := subjects.Request(ctx, e.nc, ep.subject, []byte(body))
			cancel()
			var se *subjects.Error
			if err == nil {
				continue // some bodies are fine for some endpoints (a list with defaults)
			}
			if !errors.As(err, &se) || se.Code < 400 || se.Code >= 500 {
				t.Errorf("%s with %.80q: %v, want a 4xx", ep.subject, body, err)
			}
		}
	}
	var coupons, redemptions int
	if err := e.db.QueryRow(e.ctx, `select (select count(*) from promo.coupons), (select count(*) from promo.redemptions)`).Scan(&coupons, &redemptions); err != nil {
		t.Fatal(err)
	}
	if coupons != 1 || redemptions != 0 {
		t.Fatalf("bad input stored %d coupons and %d redemptions, want 1 and 0", coupons, redemptions)
	}
	// Extreme but valid numbers work.
	e.coupon(subjects.CouponCreateRequest{Code: "MAXED", Kind: subjects.CouponFixed, Value: promotion.MaxFixedValue, Currency: "EUR",
		MaxRedemptions: ptr(math.MaxInt), PerCustomerLimit: ptr(math.MaxInt)})
	d := e.mustHold(e.customer, "MAXED", newID(), eur(math.MaxInt64))
	if d.Discount != eur(promotion.MaxFixedValue) {
		t.Fatalf("hold: %+v", d)
	}
}

// TestCouponValueIsBounded: a fixed coupon worth more than MaxFixedValue, or a percentage
// outside 1..100, is a 400 naming value, and nothing is stored.
func TestCouponValueIsBounded(t *testing.T) {
	e := newEnv(t)
	e.start(promotion.Config{})
	for _, body := range []string{
		`{"code": "HUGE1", "kind": "fixed", "value": 9000000000000000, "currency": "EUR"}`,
		`{"code": "HUGE2", "kind": "fixed", "value": 9e15, "currency": "EUR"}`,
		`{"code": "HUGE3", "kind": "fixed", "value": 9223372036854775807, "currency": "EUR"}`,
		`{"code": "HUGE4", "kind": "fixed", "value": ` + strconv.Itoa(promotion.MaxFixedValue+1) + `, "currency": "EUR"}`,
		`{"code": "PCT0", "kind": "percent", "value": 0}`,
		`{"code": "PCT101", "kind": "percent", "value": 101}`,
	} {
		ctx, cancel := context.WithTimeout(e.admin, 10*time.Second)
		_, err := subjects.Request(ctx, e.nc, subjects.CouponCreate.Subject, []byte(body))
		cancel()
		var se *subjects.Error
		// 9e15 is not an integer literal: the decoder's 400 names the field in its message
		// (through the gateway, in its problem's errors as well).
		if !errors.As(err, &se) || se.Code != 400 || !names(se, "value") && !strings.Contains(se.Message, `"value"`) {
			t.Errorf("%s: %v, want a 400 naming value", body, err)
		}
	}
	var coupons int
	if err := e.db.QueryRow(e.ctx, `select count(*) from promo.coupons`).Scan(&coupons); err != nil {
		t.Fatal(err)
	}
	if coupons != 0 {
		t.Fatalf("%d coupons stored", coupons)
	}
	e.coupon(subjects.CouponCreateRequest{Code: "BIGGEST", Kind: subjects.CouponFixed, Value: promotion.MaxFixedValue, Currency: "EUR"})
}

func names(se *subjects.Error, field string) bool {
	for _, f := range se.Fields {
		if f.Field == field {
			return true
		}
	}
	return false
}
