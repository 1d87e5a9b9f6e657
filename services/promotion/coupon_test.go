package promotion_test

import (
	"context"
	"testing"
	"time"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/services/promotion"
	"github.com/souk/souk/subjects"
)

func TestCouponCreate(t *testing.T) {
	e := newEnv(t)
	e.start(promotion.Config{})
	start := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

	t.Run("each bad field is a 400 naming it", func(t *testing.T) {
		ok := func(mut func(r *subjects.CouponCreateRequest)) subjects.CouponCreateRequest {
			r := subjects.CouponCreateRequest{Code: "GOOD-1", Kind: subjects.CouponFixed, Value: 500, Currency: "EUR"}
			mut(&r)
			return r
		}
		for _, tc := range []struct {
			name  string
			field string
			req   subjects.CouponCreateRequest
		}{
			{"code missing", "code", ok(func(r *subjects.CouponCreateRequest) { r.Code = "" })},
			{"code too short", "code", ok(func(r *subjects.CouponCreateRequest) { r.Code = "AB" })},
			{"code too long", "code", ok(func(r *subjects.CouponCreateRequest) { r.Code = "A123456789012345678901234567890123" })},
			{"code with a space", "code", ok(func(r *subjects.CouponCreateRequest) { r.Code = "SUMMER SALE" })},
			{"code not ASCII", "code", ok(func(r *subjects.CouponCreateRequest) { r.Code = "ſale" })},
			{"kind unknown", "kind", ok(func(r *subjects.CouponCreateRequest) { r.Kind = "bogo" })},
			{"fixed value zero", "value", ok(func(r *subjects.CouponCreateRequest) { r.Value = 0 })},
			{"fixed value negative", "value", ok(func(r *subjects.CouponCreateRequest) { r.Value = -5 })},
			{"fixed without currency", "currency", ok(func(r *subjects.CouponCreateRequest) { r.Currency = "" })},
			{"currency unknown", "currency", ok(func(r *subjects.CouponCreateRequest) { r.Currency = "EUX" })},
			{"percent zero", "value", ok(func(r *subjects.CouponCreateRequest) { r.Kind, r.Value = subjects.CouponPercent, 0 })},
			{"percent over 100", "value", ok(func(r *subjects.CouponCreateRequest) { r.Kind, r.Value = subjects.CouponPercent, 101 })},
			{"min_subtotal negative", "min_subtotal", ok(func(r *subjects.CouponCreateRequest) { r.MinSubtotal = ptr(int64(-1)) })},
			{"min_subtotal without currency", "currency", ok(func(r *subjects.CouponCreateRequest) {
				r.Kind, r.Value, r.Currency, r.MinSubtotal = subjects.CouponPercent, 10, "", ptr(int64(1000))
			})},
			{"ends before it starts", "ends_at", ok(func(r *subjects.CouponCreateRequest) { r.StartsAt, r.EndsAt = &start, ptr(start.Add(-time.Hour)) })},
			{"ends when it starts", "ends_at", ok(func(r *subjects.CouponCreateRequest) { r.StartsAt, r.EndsAt = &start, &start })},
			{"max_redemptions zero", "max_redemptions", ok(func(r *subjects.CouponCreateRequest) { r.MaxRedemptions = ptr(0) })},
			{"per_customer_limit negative", "per_customer_limit", ok(func(r *subjects.CouponCreateRequest) { r.PerCustomerLimit = ptr(-1) })},
		} {
			_, err := subjects.CouponCreate.Call(e.admin, e.nc, tc.req)
			expect.Error(t, err, 400, "validation", tc.field)
		}
		page, err := subjects.CouponList.Call(e.admin, e.nc, subjects.ListRequest{})
		if err != nil || len(page.Items) != 0 {
			t.Fatalf("bad creates stored coupons: %+v, %v", page.Items, err)
		}
	})

	t.Run("a valid coupon comes back upper case; the code is taken case-insensitively", func(t *testing.T) {
		end := start.Add(30 * 24 * time.Hour)
		c := e.coupon(subjects.CouponCreateRequest{Code: "Summer-25", Kind: subjects.CouponPercent, Value: 25, Currency: "eur",
			MinSubtotal: ptr(int64(2000)), StartsAt: &start, EndsAt: &end, MaxRedemptions: ptr(100), PerCustomerLimit: ptr(1)})
		if c.Code != "SUMMER-25" || c.Currency != "EUR" || c.ID == "" || c.Redemptions != 0 || !c.StartsAt.Equal(start) ||
			*c.MaxRedemptions != 100 || *c.PerCustomerLimit != 1 || *c.MinSubtotal != 2000 {
			t.Fatalf("created %+v", c)
		}
		_, err := subjects.CouponCreate.Call(e.admin, e.nc, subjects.CouponCreateRequest{Code: "summer-25", Kind: subjects.CouponFixed, Value: 1, Currency: "EUR"})
		expect.Error(t, err, 409, "code_taken", "code")
	})

	t.Run("only admins manage coupons", func(t *testing.T) {
		req := subjects.CouponCreateRequest{Code: "STAFF-ONLY", Kind: subjects.CouponPercent, Value: 5}
		for _, ctx := range []context.Context{e.customer, e.staff} {
			_, err := subjects.CouponCreate.Call(ctx, e.nc, req)
			expect.Error(t, err, 403, "", "")
		}
		_, err := subjects.CouponList.Call(e.customer, e.nc, subjects.ListRequest{})
		expect.Error(t, err, 403, "", "")
		_, err = subjects.CouponCreate.Call(e.ctx, e.nc, req)
		expect.Error(t, err, 401, "", "")
	})
}
