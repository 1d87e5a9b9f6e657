// Package promotion is the promotion service: coupons and their redemptions.
//
// It owns the PostgreSQL schema promo (coupons, redemptions, its outbox and its processed
// table) and serves souk.promotion.v1.* (subjects/promotion.go): CouponCreate and CouponList
// for admins, CouponQuote, CouponHold and CouponRelease for customers. It consumes the
// ORDERS stream with the durable consumer promotion-orders (order.placed, order.paid,
// order.cancelled) and publishes souk.evt.promotion.{redeemed,returned,refused}.<order id> on
// the PROMOTIONS stream through its outbox.
//
// A redemption's life: held (CouponHold, called by the order service while it places an
// order) → confirmed (order.placed: the order exists) → redeemed (order.paid). It is
// returned when the order is cancelled, or by the sweeper when no order.placed confirmed it
// within HoldTTL (the order was never stored, or its event is late). A late event counts a
// swept hold again only if the limits still allow it; otherwise the redemption is refused
// and the order service cancels the order (events.go). A hold whose order lost its cart to
// another order is released at once (CouponRelease). The limits count held, confirmed and redeemed
// redemptions, and CouponHold enforces them under the coupon's row lock, so they are exact
// across instances; within one, the holds of a code that arrive together are decided in one
// transaction (hold.go), so a hot code costs one lock round per batch, not per order.
package promotion

import (
	"errors"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/souk/souk/subjects"
)

// Domain errors. The store and the coupon's rules return them; wireError in handlers.go maps
// them to the wire.
var (
	// ErrUnknown is a code no coupon has (or one that cannot be a code).
	ErrUnknown = errors.New("no such coupon")
	// ErrNotStarted is a coupon whose window has not opened yet.
	ErrNotStarted = errors.New("coupon not valid yet")
	// ErrExpired is a coupon whose window has closed.
	ErrExpired = errors.New("coupon expired")
	// ErrExhausted is a coupon whose max_redemptions are all taken.
	ErrExhausted = errors.New("coupon used up")
	// ErrCustomerLimit is a coupon the caller has used per_customer_limit times.
	ErrCustomerLimit = errors.New("coupon used up by this customer")
	// ErrCodeTaken is a create with a code another coupon has.
	ErrCodeTaken = errors.New("coupon code taken")
	// ErrOrderConflict is a hold for an order that already holds another code, or that
	// belongs to another customer.
	ErrOrderConflict = errors.New("order holds another redemption")
	// ErrReturned is a hold for an order whose redemption was returned (the order was
	// cancelled, or never stored in time): an order gets one hold in its life.
	ErrReturned = errors.New("order's redemption was returned")
)

// CurrencyError refuses a subtotal in another currency than the coupon's.
type CurrencyError struct {
	// Currency is the subtotal's currency.
	Currency string
}

func (e CurrencyError) Error() string { return "coupon not valid for " + e.Currency }

// MinSubtotalError refuses a subtotal below the coupon's minimum.
type MinSubtotalError struct {
	// Min is the coupon's minimum subtotal.
	Min subjects.Money
}

func (e MinSubtotalError) Error() string {
	return "subtotal must be at least " + strconv.FormatInt(e.Min.Amount, 10) + " " + e.Min.Currency + " minor units"
}

// Code bounds.
const (
	MinCodeLen = 3
	MaxCodeLen = 32
)

// Coupon is a coupon. It never changes once created.
type Coupon struct {
	ID   uuid.UUID
	Code string
	// Kind is subjects.CouponPercent or subjects.CouponFixed.
	Kind string
	// Value is a whole percentage (percent) or minor units of Currency (fixed).
	Value int64
	// Currency, when set, is the only currency of subtotals the coupon applies to.
	Currency string
	// MinSubtotal, in minor units of Currency, is the lowest subtotal it applies to.
	MinSubtotal *int64
	// StartsAt (inclusive) and EndsAt (exclusive) bound when it can be used.
	StartsAt, EndsAt *time.Time
	// MaxRedemptions bounds the active redemptions by everyone, PerCustomerLimit by one
	// customer; nil is no bound.
	MaxRedemptions, PerCustomerLimit *int
	CreatedAt                        time.Time
}

// NormalizeCode returns code in its stored form (ASCII upper case) and whether it can be a
// code at all: 3..32 of A-Z a-z 0-9 _ -. Only ASCII is folded: Unicode case mapping would
// turn "ı" or "ſ" into I or S and make two spellings one code.
func NormalizeCode(code string) (string, bool) {
	if len(code) < MinCodeLen || len(code) > MaxCodeLen {
		return "", false
	}
	b := []byte(code)
	for i, c := range b {
		switch {
		case c >= 'a' && c <= 'z':
			b[i] = c - 'a' + 'A'
		case c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-':
		default:
			return "", false
		}
	}
	return string(b), true
}

// MaxFixedValue bounds a fixed coupon's value: a million in major units (100 000 000 minor
// units; in a currency without minor units, a hundred million). A discount never exceeds the
// subtotal it is taken from, so the bound changes no price; it keeps absurd values (9e15,
// the largest int64) out of the store and out of every sum a coupon's value enters.
const MaxFixedValue = 1_000_000_00

// NewCoupon checks a create request and returns the coupon it describes, or a 400 naming
// every bad field.
func NewCoupon(req subjects.CouponCreateRequest, now time.Time) (Coupon, error) {
	var p subjects.Problems
	c := Coupon{ID: uuid.Must(uuid.NewV7()), Kind: req.Kind, Value: req.Value, MinSubtotal: req.MinSubtotal,
		MaxRedemptions: req.MaxRedemptions, PerCustomerLimit: req.PerCustomerLimit, CreatedAt: now.UTC().Truncate(time.Microsecond)}
	var ok bool
	if c.Code, ok = NormalizeCode(req.Code); !ok {
		p.Add("code", "must be 3 to 32 of A-Z, 0-9, _ and -")
	}
	if req.Currency != "" {
		if c.Currency, ok = subjects.CheckCurrency(req.Currency); !ok {
			p.Add("currency", currencyProblem)
		}
	}
	switch req.Kind {
	case subjects.CouponPercent:
		if req.Value < 1 || req.Value > 100 {
			p.Add("value", "must be a whole percentage from 1 to 100")
		}
	case subjects.CouponFixed:
		if req.Value <= 0 || req.Value > MaxFixedValue {
			p.Add("value", "must be a positive amount in minor units, at most "+strconv.Itoa(MaxFixedValue))
		}
		if req.Currency == "" {
			p.Add("currency", "is required for a fixed coupon")
		}
	default:
		p.Add("kind", "must be percent or fixed")
	}
	if req.MinSubtotal != nil {
		if *req.MinSubtotal < 0 {
			p.Add("min_subtotal", "must not be negative")
		}
		if req.Currency == "" && req.Kind != subjects.CouponFixed { // fixed has said so already
			p.Add("currency", "is required with min_subtotal")
		}
	}
	c.StartsAt, c.EndsAt = dbTime(req.StartsAt), dbTime(req.EndsAt)
	if c.StartsAt != nil && c.EndsAt != nil && !c.EndsAt.After(*c.StartsAt) {
		p.Add("ends_at", "must be after starts_at")
	}
	if req.MaxRedemptions != nil && *req.MaxRedemptions < 1 {
		p.Add("max_redemptions", "must be at least 1")
	}
	if req.PerCustomerLimit != nil && *req.PerCustomerLimit < 1 {
		p.Add("per_customer_limit", "must be at least 1")
	}
	return c, p.Err()
}

// dbTime is t in UTC at PostgreSQL's precision, so the reply to a create equals what a later
// read returns.
func dbTime(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC().Truncate(time.Microsecond)
	return &u
}

// Check reports whether c applies to subtotal at now: its window, its currency and its
// minimum. The limits are Allow's.
func (c *Coupon) Check(now time.Time, subtotal subjects.Money) error {
	switch {
	case c.StartsAt != nil && now.Before(*c.StartsAt):
		return ErrNotStarted
	case c.EndsAt != nil && !now.Before(*c.EndsAt):
		return ErrExpired
	case c.Currency != "" && subtotal.Currency != c.Currency:
		return CurrencyError{Currency: subtotal.Currency}
	case c.MinSubtotal != nil && subtotal.Amount < *c.MinSubtotal:
		return MinSubtotalError{Min: subjects.Money{Amount: *c.MinSubtotal, Currency: c.Currency}}
	}
	return nil
}

// Allow reports whether one more redemption fits the limits, given the active redemptions
// by everyone (used) and by the caller (mine).
func (c *Coupon) Allow(used, mine int) error {
	switch {
	case c.MaxRedemptions != nil && used >= *c.MaxRedemptions:
		return ErrExhausted
	case c.PerCustomerLimit != nil && mine >= *c.PerCustomerLimit:
		return ErrCustomerLimit
	}
	return nil
}

// Discount is what c takes off subtotal (minor units, never negative, never more than
// subtotal): percent rounds down; fixed is capped at the subtotal.
func (c *Coupon) Discount(subtotal int64) int64 {
	if subtotal <= 0 {
		return 0
	}
	if c.Kind == subjects.CouponPercent {
		// subtotal*value/100 without the overflow of the product: (100q+r)·v/100 = q·v + r·v/100,
		// and q·v ≤ subtotal for v ≤ 100.
		return subtotal/100*c.Value + subtotal%100*c.Value/100
	}
	return min(c.Value, subtotal)
}

// Wire is c as admins see it, with its active redemptions.
func (c *Coupon) Wire(redemptions int) subjects.Coupon {
	return subjects.Coupon{ID: c.ID.String(), Code: c.Code, Kind: c.Kind, Value: c.Value, Currency: c.Currency,
		MinSubtotal: c.MinSubtotal, StartsAt: c.StartsAt, EndsAt: c.EndsAt, MaxRedemptions: c.MaxRedemptions,
		PerCustomerLimit: c.PerCustomerLimit, Redemptions: redemptions, CreatedAt: c.CreatedAt}
}

// Redemption statuses.
const (
	StatusHeld      = "held"
	StatusConfirmed = "confirmed"
	StatusRedeemed  = "redeemed"
	StatusReturned  = "returned"
)

// Why a redemption was returned.
const (
	// ReasonCancelled: its order was cancelled. Final: the order gets no other hold.
	ReasonCancelled = "cancelled"
	// ReasonExpired: the sweeper returned a hold no order.placed confirmed in time. The
	// order may still exist (its event was late) or be retried (the same Idempotency-Key is
	// the same order): either takes a slot again only if the limits allow it then.
	ReasonExpired = "expired"
	// ReasonRefused: an expired hold's order.placed (or order.paid) came when the limits
	// were reached: the redemption stays returned, and promotion.refused tells the order.
	ReasonRefused = "refused"
)

// Redemption is one order's use of a coupon.
type Redemption struct {
	OrderID uuid.UUID
	UserID  string
	Code    string
	// Status is held, confirmed, redeemed or returned.
	Status string
	// Reason says why a returned redemption was returned (Reason*); empty otherwise.
	Reason   string
	Discount subjects.Money
	HeldAt   time.Time
}

// HoldRequest is one order's claim on a code (Code normalised, OrderID parsed).
type HoldRequest struct {
	OrderID  uuid.UUID
	UserID   string
	Code     string
	Subtotal subjects.Money
}

// Held is a hold: the coupon and the order's redemption of it.
type Held struct {
	Coupon     Coupon
	Redemption Redemption
}

// Tally is a coupon's active redemptions, by everyone and by customer, while holds are
// decided one after another.
type Tally struct {
	Used int
	Mine map[string]int
}

// Decide answers hold h of c at now. prev is the order's redemption, nil when it has none: a
// repeated hold (same customer, same code) gets it back whatever the limits say now; for
// another customer or code it is ErrOrderConflict, and once returned ErrReturned — except a
// hold of the same customer the sweeper returned (ReasonExpired): that order was never
// stored, and its retry (the same Idempotency-Key, the same order id) is decided like a new
// hold. Otherwise the rules and the limits in t decide, and a new redemption is counted in
// t; isNew says the caller must store it.
func (c *Coupon) Decide(h HoldRequest, prev *Redemption, t *Tally, now time.Time) (r Redemption, isNew bool, err error) {
	if prev != nil {
		switch {
		case prev.Status == StatusReturned && (prev.Reason != ReasonExpired || prev.UserID != h.UserID):
			return Redemption{}, false, ErrReturned
		case prev.Status == StatusReturned: // expired: decided anew below
		case prev.UserID != h.UserID || prev.Code != c.Code:
			return Redemption{}, false, ErrOrderConflict
		default:
			return *prev, false, nil
		}
	}
	if err := c.Check(now, h.Subtotal); err != nil {
		return Redemption{}, false, err
	}
	if err := c.Allow(t.Used, t.Mine[h.UserID]); err != nil {
		return Redemption{}, false, err
	}
	t.Used++
	t.Mine[h.UserID]++
	return Redemption{OrderID: h.OrderID, UserID: h.UserID, Code: c.Code, Status: StatusHeld, HeldAt: now,
		Discount: subjects.Money{Amount: c.Discount(h.Subtotal.Amount), Currency: h.Subtotal.Currency}}, true, nil
}
