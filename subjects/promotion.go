package subjects

import "time"

// The promotion service: coupons and their redemptions. A redemption is held when an order
// is placed (limits are enforced then, atomically), made final when the order is paid and
// returned when it is cancelled.
var (
	// CouponCreate creates a coupon (admin); a taken code is 409.
	CouponCreate = Endpoint[CouponCreateRequest, Coupon]{Subject: "souk.promotion.v1.coupon.create", Access: Require(PermCouponsAdmin)}
	// CouponList lists coupons with their redemption counts, newest first (admin).
	CouponList = Endpoint[ListRequest, CouponPage]{Subject: "souk.promotion.v1.coupon.list", Access: Require(PermCouponsAdmin)}
	// CouponQuote checks a code for the caller and a subtotal and prices the discount
	// (customer). Unknown, not yet valid, expired, below its minimum, used up: 422 naming
	// "code" (or "subtotal"). It holds nothing.
	CouponQuote = Endpoint[CouponQuoteRequest, CouponDiscount]{Subject: "souk.promotion.v1.coupon.quote", Access: profileAccess}
	// CouponHold takes one redemption of a code for the caller's order, enforcing the global
	// and per-customer limits atomically (customer). Asking again for the same order returns
	// the first hold. 422 as CouponQuote.
	CouponHold = Endpoint[CouponHoldRequest, CouponDiscount]{Subject: "souk.promotion.v1.redemption.hold", Access: profileAccess}
	// CouponRelease gives back the hold of an order of the caller that will never be stored
	// (its placement lost the claim on the cart to another order), so that the slot is free
	// at once rather than when the sweeper returns it (customer). Only a hold no order.placed
	// confirmed is released; anything else, or no hold at all, changes nothing. Releasing
	// twice is releasing once.
	CouponRelease = Endpoint[CouponReleaseRequest, Empty]{Subject: "souk.promotion.v1.redemption.release", Access: profileAccess}
)

// Promotion events, on the PROMOTIONS stream: souk.evt.promotion.<event>.<order id>.
var (
	// EvtCouponRedeemed: the order was paid; its redemption is final.
	EvtCouponRedeemed = event[CouponEvent](StreamPromotions, "souk.evt.promotion.redeemed")
	// EvtCouponReturned: the order was cancelled (or never stored); its redemption counts no
	// more.
	EvtCouponReturned = event[CouponEvent](StreamPromotions, "souk.evt.promotion.returned")
	// EvtCouponRefused: an order's hold had been returned (its order.placed came later than
	// the hold's time to live) and the coupon's limits are reached meanwhile: the order keeps
	// a discount it may not have, so the order service cancels it (reason coupon_refused).
	EvtCouponRefused = event[CouponEvent](StreamPromotions, "souk.evt.promotion.refused")
)

// Coupon kinds.
const (
	CouponPercent = "percent"
	CouponFixed   = "fixed"
)

// CouponCreateRequest is the body of POST /v1/admin/coupons.
type CouponCreateRequest struct {
	// Code is what customers type: 3..32 of A-Z 0-9 _ -, case-insensitive (kept upper case).
	Code string `json:"code" required:"true"`
	// Kind is percent or fixed.
	Kind string `json:"kind" required:"true" enum:"CouponPercent"`
	// Value is a whole percentage 1..100 for percent, minor units of Currency for fixed.
	Value int64 `json:"value" required:"true"`
	// Currency is required for fixed and for a minimum subtotal; ISO 4217.
	Currency string `json:"currency,omitempty"`
	// MinSubtotal is the lowest subtotal, in minor units of Currency, the coupon applies to.
	MinSubtotal *int64 `json:"min_subtotal,omitempty"`
	// StartsAt and EndsAt bound when it can be used; open when absent.
	StartsAt *time.Time `json:"starts_at,omitempty"`
	EndsAt   *time.Time `json:"ends_at,omitempty"`
	// MaxRedemptions bounds the uses by everyone; PerCustomerLimit the uses by one customer.
	MaxRedemptions   *int `json:"max_redemptions,omitempty"`
	PerCustomerLimit *int `json:"per_customer_limit,omitempty"`
}

// Coupon is a coupon as admins see it.
type Coupon struct {
	ID               string     `json:"id" required:"true"`
	Code             string     `json:"code" required:"true"`
	Kind             string     `json:"kind" required:"true" enum:"CouponPercent"`
	Value            int64      `json:"value" required:"true"`
	Currency         string     `json:"currency,omitempty"`
	MinSubtotal      *int64     `json:"min_subtotal,omitempty"`
	StartsAt         *time.Time `json:"starts_at,omitempty"`
	EndsAt           *time.Time `json:"ends_at,omitempty"`
	MaxRedemptions   *int       `json:"max_redemptions,omitempty"`
	PerCustomerLimit *int       `json:"per_customer_limit,omitempty"`
	// Redemptions counts the held and final ones; returned ones do not count.
	Redemptions int       `json:"redemptions" required:"true"`
	CreatedAt   time.Time `json:"created_at" required:"true"`
}

// CouponPage is one page of coupons.
type CouponPage struct {
	Items      []Coupon `json:"items" required:"true"`
	NextCursor string   `json:"next_cursor,omitempty"`
}

// CouponQuoteRequest asks what a code is worth on a subtotal.
type CouponQuoteRequest struct {
	Code     string `json:"code"`
	Subtotal Money  `json:"subtotal"`
}

// CouponHoldRequest takes a redemption of a code for an order of the caller.
type CouponHoldRequest struct {
	Code     string `json:"code"`
	OrderID  string `json:"order_id"`
	Subtotal Money  `json:"subtotal"`
}

// CouponReleaseRequest names the order whose unconfirmed hold is given back.
type CouponReleaseRequest struct {
	OrderID string `json:"order_id"`
}

// CouponDiscount is a code's worth on a subtotal.
type CouponDiscount struct {
	Code  string `json:"code"`
	Kind  string `json:"kind"`
	Value int64  `json:"value"`
	// Discount is what comes off the subtotal, never more than it.
	Discount Money `json:"discount"`
}

// CouponEvent is the payload of promotion.redeemed and promotion.returned.
type CouponEvent struct {
	EventID    string    `json:"event_id"`
	OccurredAt time.Time `json:"occurred_at"`
	OrderID    string    `json:"order_id"`
	UserID     string    `json:"user_id"`
	Code       string    `json:"code"`
	Discount   Money     `json:"discount"`
}
