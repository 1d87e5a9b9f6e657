package promotion

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/souk/souk/platform/authn"
	"github.com/souk/souk/platform/page"
	"github.com/souk/souk/subjects"
)

// currencyProblem is this service's message for a currency subjects.CheckCurrency refuses.
const currencyProblem = "must be an ISO 4217 code"

// handlers serves the endpoints. Each is safe to run twice: a create of a taken code is a
// 409 that changes nothing, and a hold is keyed by its order.
type handlers struct {
	store *Store
	holds *holder
}

func (h *handlers) couponCreate(ctx context.Context, req subjects.CouponCreateRequest) (subjects.Coupon, error) {
	c, err := NewCoupon(req, time.Now())
	if err != nil {
		return subjects.Coupon{}, err
	}
	if err := h.store.CreateCoupon(ctx, &c); err != nil {
		return subjects.Coupon{}, wireError(err)
	}
	return c.Wire(0), nil
}

func (h *handlers) couponList(ctx context.Context, req subjects.ListRequest) (subjects.CouponPage, error) {
	items, next, err := page.List(req, "coupons", func(r page.Request) ([]listed, error) { return h.store.Coupons(ctx, r) },
		func(c listed) page.Key { return page.Key{ID: c.ID} }, func(c listed) subjects.Coupon { return c.Wire(c.Redeemed) })
	return subjects.CouponPage{Items: items, NextCursor: next}, err
}

func (h *handlers) couponQuote(ctx context.Context, req subjects.CouponQuoteRequest) (subjects.CouponDiscount, error) {
	cl, err := readClaim(ctx, req.Code, req.Subtotal, nil)
	if err != nil {
		return subjects.CouponDiscount{}, err
	}
	c, discount, err := h.store.Quote(ctx, cl.user, cl.code, cl.subtotal, time.Now())
	if err != nil {
		return subjects.CouponDiscount{}, wireError(err)
	}
	return subjects.CouponDiscount{Code: c.Code, Kind: c.Kind, Value: c.Value,
		Discount: subjects.Money{Amount: discount, Currency: cl.subtotal.Currency}}, nil
}

func (h *handlers) couponHold(ctx context.Context, req subjects.CouponHoldRequest) (subjects.CouponDiscount, error) {
	var p subjects.Problems
	order, err := uuid.Parse(req.OrderID)
	if err != nil {
		p.Add("order_id", "must be a UUID")
	}
	cl, err := readClaim(ctx, req.Code, req.Subtotal, p)
	if err != nil {
		return subjects.CouponDiscount{}, err
	}
	held, err := h.holds.Hold(ctx, HoldRequest{OrderID: order, UserID: cl.user, Code: cl.code, Subtotal: cl.subtotal})
	if err != nil {
		return subjects.CouponDiscount{}, wireError(err)
	}
	return subjects.CouponDiscount{Code: held.Coupon.Code, Kind: held.Coupon.Kind, Value: held.Coupon.Value,
		Discount: held.Redemption.Discount}, nil
}

func (h *handlers) couponRelease(ctx context.Context, req subjects.CouponReleaseRequest) (subjects.Empty, error) {
	order, err := uuid.Parse(req.OrderID)
	if err != nil {
		return subjects.Empty{}, subjects.BadRequest("order_id", "must be a UUID")
	}
	claims, ok := authn.ClaimsFrom(ctx)
	if !ok {
		return subjects.Empty{}, subjects.ErrUnauthorized
	}
	return subjects.Empty{}, wireError(h.store.Release(ctx, order, claims.Subject))
}

// claim is what a quote and a hold share, checked: the caller, the code in its stored form
// and the subtotal with its currency in upper case.
type claim struct {
	user, code string
	subtotal   subjects.Money
}

// readClaim checks a quote's or hold's caller (rpc has verified the token), code and
// subtotal. Bad input is a 400 naming every bad field, those of p (the caller's own checks)
// included; a string that cannot be a code is as unknown as a code no coupon has: 422.
func readClaim(ctx context.Context, code string, subtotal subjects.Money, p subjects.Problems) (claim, error) {
	claims, ok := authn.ClaimsFrom(ctx)
	if !ok {
		return claim{}, subjects.ErrUnauthorized
	}
	cl := claim{user: claims.Subject, subtotal: subtotal}
	if code == "" {
		p.Add("code", "is required")
	}
	if cl.subtotal.Currency, ok = subjects.CheckCurrency(subtotal.Currency); !ok {
		p.Add("subtotal.currency", currencyProblem)
	}
	if subtotal.Amount < 0 {
		p.Add("subtotal.amount", "must not be negative")
	}
	if err := p.Err(); err != nil {
		return claim{}, err
	}
	if cl.code, ok = NormalizeCode(code); !ok {
		return claim{}, wireError(ErrUnknown)
	}
	return cl, nil
}

// wireError maps domain errors to the wire; anything else passes through (rpc masks it as
// a 500 and logs it).
func wireError(err error) error {
	refuse := func(slug, field, msg string) error {
		return &subjects.Error{Code: http.StatusUnprocessableEntity, Slug: slug, Message: field + ": " + msg,
			Fields: []subjects.FieldError{{Field: field, Message: msg}}}
	}
	var cur CurrencyError
	var low MinSubtotalError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrUnknown):
		return refuse("coupon_invalid", "code", "no such coupon")
	case errors.As(err, &cur):
		return refuse("coupon_invalid", "code", "not valid for "+cur.Currency)
	case errors.Is(err, ErrNotStarted):
		return refuse("coupon_not_started", "code", "is not valid yet")
	case errors.Is(err, ErrExpired):
		return refuse("coupon_expired", "code", "has expired")
	case errors.Is(err, ErrExhausted):
		return refuse("coupon_exhausted", "code", "has been used up")
	case errors.Is(err, ErrCustomerLimit):
		return refuse("coupon_exhausted", "code", "you have used it as often as allowed")
	case errors.As(err, &low):
		return refuse("coupon_min_subtotal", "subtotal", "must be at least "+strconv.FormatInt(low.Min.Amount, 10)+" ("+low.Min.Currency+" minor units)")
	case errors.Is(err, ErrCodeTaken):
		return &subjects.Error{Code: http.StatusConflict, Slug: "code_taken", Message: "a coupon has this code",
			Fields: []subjects.FieldError{{Field: "code", Message: "is taken"}}}
	case errors.Is(err, ErrOrderConflict):
		return &subjects.Error{Code: http.StatusConflict, Slug: "redemption_conflict", Message: "the order holds another coupon",
			Fields: []subjects.FieldError{{Field: "order_id", Message: "holds another coupon"}}}
	case errors.Is(err, ErrReturned):
		return &subjects.Error{Code: http.StatusConflict, Slug: "redemption_returned",
			Message: "the order's coupon was returned (the order was cancelled or expired); place a new order",
			Fields:  []subjects.FieldError{{Field: "order_id", Message: "was cancelled or expired"}}}
	}
	return err
}
