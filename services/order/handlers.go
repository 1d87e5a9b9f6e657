package order

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/souk/souk/platform/authn"
	"github.com/souk/souk/platform/page"
	"github.com/souk/souk/platform/pg"
	"github.com/souk/souk/platform/trace"
	"github.com/souk/souk/subjects"
)

// handlers serve the order endpoints.
type handlers struct {
	store *Store
	nc    *nats.Conn
	log   zerolog.Logger
}

// caller returns the caller's user id.
func caller(ctx context.Context) (authn.Claims, uuid.UUID, error) {
	claims, err := authn.MustClaims(ctx)
	if err != nil {
		return claims, uuid.Nil, err
	}
	id, err := uuid.Parse(claims.Subject)
	if err != nil {
		return claims, uuid.Nil, subjects.Errorf(http.StatusForbidden, "not_a_customer", "only customer accounts have orders")
	}
	return claims, id, nil
}

func (h *handlers) place(ctx context.Context, req subjects.OrderPlaceRequest) (subjects.Order, error) {
	_, user, err := caller(ctx)
	if err != nil {
		return subjects.Order{}, err
	}
	addr, err := CheckPlace(req)
	if err != nil {
		return subjects.Order{}, err
	}
	key := subjects.MetaFrom(ctx).IdempotencyKey
	if key != "" && (!utf8.ValidString(key) || strings.ContainsFunc(key, unicode.IsControl) || len(key) > 255) {
		return subjects.Order{}, subjects.BadRequest("Idempotency-Key", "must be printable text of at most 255 bytes")
	}
	// A placement is not looked up by its key first: almost every key is new, and the
	// lookup was a round trip on every checkout (issue 17). A replay is answered where it
	// shows: its cart is gone or changed, so building fails (the order is looked up then),
	// or the insert meets the key's unique index (errIdempotencyTaken). Either way it
	// answers the first order and empties the cart of it (again: the first attempt may not
	// have lived to), and its coupon hold is the first attempt's (the order id comes from
	// the key).
	o, err := h.build(ctx, user, key, addr, req.PaymentMethod)
	if err != nil {
		if key != "" {
			if first, lerr := h.store.ByIdempotencyKey(ctx, user, key); lerr == nil {
				return h.again(ctx, first), nil
			}
		}
		return subjects.Order{}, wireError(err)
	}
	switch err := h.store.Insert(ctx, o, placedEvent(o)); {
	case errors.Is(err, errIdempotencyTaken):
		// The same key raced in from another request and won: that order is the answer. It
		// has this attempt's id, so the coupon hold is the same one.
		first, err := h.store.ByIdempotencyKey(ctx, user, key)
		if err != nil {
			return subjects.Order{}, wireError(err)
		}
		return h.again(ctx, first), nil
	case errors.Is(err, errCartClaimed):
		return h.claimed(ctx, o)
	case err != nil:
		// The hold stays: a retry with the same key is the same order and finds it, and the
		// promotion service's sweeper returns it if none comes.
		return subjects.Order{}, wireError(err)
	}
	h.emptyCart(ctx, o)
	return o.Wire(), nil
}

// again answers a placement repeated with its Idempotency-Key with the order the first one
// stored, and takes that order's lines out of the cart as the first would have: the first
// may have died between its insert and emptying the cart (a crash, a lost reply), and its
// lines would otherwise stay in the cart, claimed, until the cart service sees order.placed
// (after a restart, once the outbox has relayed it), refusing the customer's next order
// with 409 cart_already_ordered meanwhile. The cart takes an order's lines once however
// often it is told.
func (h *handlers) again(ctx context.Context, first *Order) subjects.Order {
	h.emptyCart(ctx, first)
	return first.Wire()
}

// emptyCart takes what o bought out of the caller's cart. A failure costs nothing but a
// warning: the cart service takes the lines out when it sees order.placed, and the claim on
// the cart keeps it from being ordered again meanwhile.
func (h *handlers) emptyCart(ctx context.Context, o *Order) {
	_, err := subjects.CartCheckedOut.Call(ctx, h.nc, subjects.CartCheckedOutRequest{OrderID: o.ID.String(), Lines: o.Lines(), Coupon: o.Coupon})
	if err != nil {
		trace.Log(ctx, &h.log).Warn().Err(err).Str("order", o.ID.String()).Msg("order placed; the cart service empties the cart when it sees order.placed")
	}
}

// claimed answers a placement of a cart version another order claimed first: it gives back
// this attempt's coupon hold (its order will never be stored, and the slot must not wait
// for the sweeper) and refuses with 409 cart_already_ordered, naming the order. The claim
// may be this very order's, stored by a concurrent request with the same key (the unique
// indexes may report either conflict): then that order is the answer, and its hold stays.
func (h *handlers) claimed(ctx context.Context, o *Order) (subjects.Order, error) {
	first, err := h.store.ByCartClaim(ctx, o.UserID, o.CartClaim)
	if err != nil {
		return subjects.Order{}, wireError(err)
	}
	if first == o.ID {
		stored, err := h.store.Get(ctx, first)
		if err != nil {
			return subjects.Order{}, wireError(err)
		}
		return h.again(ctx, stored), nil
	}
	if o.Coupon != "" {
		if _, err := subjects.CouponRelease.Call(ctx, h.nc, subjects.CouponReleaseRequest{OrderID: o.ID.String()}); err != nil {
			trace.Log(ctx, &h.log).Warn().Err(err).Str("order", o.ID.String()).Msg("coupon hold of a refused placement not released; the sweeper returns it")
		}
	}
	return subjects.Order{}, &subjects.Error{Code: http.StatusConflict, Slug: "cart_already_ordered",
		Message: "this cart was already ordered as order " + first.String() + "; add products to order again",
		Fields:  []subjects.FieldError{{Field: "cart", Message: "already ordered as order " + first.String()}}}
}

// build prices the caller's cart and holds its coupon for the pending order placed with key.
func (h *handlers) build(ctx context.Context, user uuid.UUID, key string, addr subjects.Address, method string) (*Order, error) {
	cart, err := subjects.CartGet.Call(ctx, h.nc, subjects.Empty{})
	if err != nil {
		return nil, err
	}
	items, subtotal, currency, err := priced(cart)
	if err != nil {
		return nil, err
	}
	at := now()
	o := &Order{ID: placementID(user, key), UserID: user, Status: subjects.OrderStatusPending, Items: items,
		Subtotal: subtotal, Currency: currency, ShippingAddress: addr, PaymentMethod: method, IdempotencyKey: key,
		CartClaim: cartClaim(cart), CreatedAt: at, UpdatedAt: at,
		History: []subjects.OrderStatus{{Status: subjects.OrderStatusPending, At: at}}}
	if c := cart.Coupon; c != nil {
		// The hold decides, not the cart's quote: a retry of this placement finds its own hold,
		// which the quote counts as one more use (a coupon once per customer looks used up).
		d, err := subjects.CouponHold.Call(ctx, h.nc, subjects.CouponHoldRequest{Code: c.Code, OrderID: o.ID.String(), Subtotal: o.money(subtotal)})
		var se *subjects.Error
		if c.Problem != "" && errors.As(err, &se) && se.Code == http.StatusUnprocessableEntity {
			return nil, &subjects.Error{Code: 422, Slug: "coupon_invalid", Message: "the cart's coupon no longer applies: " + c.Problem,
				Fields: []subjects.FieldError{{Field: "coupon", Message: c.Problem}}}
		}
		if err != nil {
			return nil, err
		}
		if d.Discount.Currency != currency && d.Discount.Amount != 0 {
			return nil, errors.New("promotion: discount in " + d.Discount.Currency + " for an order in " + currency)
		}
		o.Coupon, o.Discount = d.Code, min(max(d.Discount.Amount, 0), subtotal)
	}
	o.Total = o.Subtotal - o.Discount
	return o, nil
}

// visible returns the order when the caller may see it: its owner, or staff.
func (h *handlers) visible(ctx context.Context, rawID string) (*Order, authn.Claims, bool, error) {
	claims, err := authn.MustClaims(ctx)
	if err != nil {
		return nil, claims, false, err
	}
	user, _ := uuid.Parse(claims.Subject) // staff may hold a token whose subject is no customer id
	id, perr := uuid.Parse(rawID)
	if perr != nil {
		return nil, claims, false, subjects.BadRequest("id", "must be an order id (a UUID)")
	}
	o, err := h.store.Get(ctx, id)
	if err != nil {
		return nil, claims, false, wireError(err)
	}
	owner := user != uuid.Nil && o.UserID == user
	if !owner && !claims.Can(subjects.PermOrdersAll) {
		return nil, claims, false, wireError(ErrNotFound)
	}
	return o, claims, owner, nil
}

func (h *handlers) get(ctx context.Context, req subjects.OrderIDRequest) (subjects.Order, error) {
	o, _, _, err := h.visible(ctx, req.ID)
	if err != nil {
		return subjects.Order{}, err
	}
	return o.Wire(), nil
}

func (h *handlers) cancel(ctx context.Context, req subjects.OrderIDRequest) (subjects.Order, error) {
	o, _, owner, err := h.visible(ctx, req.ID)
	if err != nil {
		return subjects.Order{}, err
	}
	reason := subjects.ReasonStaff
	if owner {
		reason = subjects.ReasonCustomer
	}
	// A cancel is a step of the order's checkout: a span of its trace, linked to this request.
	ctx, span := trace.Resume(ctx, o.TraceParent, "order.cancel")
	defer span.End()
	if err := h.stopShipment(ctx, o, reason); err != nil {
		return subjects.Order{}, err
	}
	o, err = h.store.UpdateNow(ctx, o.ID, cancel(reason))
	if err != nil {
		return subjects.Order{}, wireError(err)
	}
	return o.Wire(), nil
}

// stopShipment asks the shipping service to cancel the shipment of a paid order before the
// order is cancelled, so that a cancel racing staff's move to shipped has one outcome: the
// shipment cancelled first (it can no longer ship), or shipped first (409 here, and the order
// stays). The shipment's row lock decides. An order with no shipment yet needs nothing:
// the order.cancelled event keeps one from being created. With no shipping service running
// at all no parcel can ship meanwhile, and the event cancels the shipment when it is back.
func (h *handlers) stopShipment(ctx context.Context, o *Order, reason string) error {
	if o.Status != subjects.OrderStatusPaid && o.Status != subjects.OrderStatusFulfilling {
		return nil
	}
	_, err := subjects.ShipmentCancel.Call(ctx, h.nc, subjects.ShipmentCancelRequest{OrderID: o.ID.String(), Reason: reason})
	var se *subjects.Error
	switch {
	case err == nil, errors.Is(err, subjects.ErrNotFound):
		return nil
	case errors.As(err, &se) && se.Code == http.StatusServiceUnavailable && se.Slug == "unavailable":
		trace.Log(ctx, &h.log).Warn().Str("order", o.ID.String()).Msg("no shipping service answers; cancelling the order, its event cancels the shipment")
		return nil
	case errors.Is(err, subjects.ErrConflict):
		return wireError(ErrNotCancellable)
	}
	return err
}

func (h *handlers) list(ctx context.Context, req subjects.ListRequest) (subjects.OrderPage, error) {
	_, user, err := caller(ctx)
	if err != nil {
		return subjects.OrderPage{}, err
	}
	items, next, err := page.List(req, "orders/"+user.String(), func(r page.Request) ([]*Order, error) { return h.store.List(ctx, user, r) },
		func(o *Order) page.Key { return page.Key{At: o.CreatedAt, ID: o.ID} }, (*Order).Wire)
	return subjects.OrderPage{Items: items, NextCursor: next}, err
}

// wireError is the one domain → wire mapping of this service.
func wireError(err error) error {
	switch {
	case errors.Is(err, ErrNotFound):
		return subjects.Errorf(http.StatusNotFound, "order_not_found", "order not found")
	case errors.Is(err, ErrEmptyCart):
		return subjects.Errorf(http.StatusUnprocessableEntity, "empty_cart", "the cart is empty: add products before checking out")
	case errors.Is(err, ErrNotCancellable):
		return subjects.Errorf(http.StatusConflict, "not_cancellable", "the order has shipped and can no longer be cancelled")
	case errors.Is(err, context.DeadlineExceeded):
		return subjects.Errorf(http.StatusServiceUnavailable, "timeout", "the order service ran out of time; try again with the same Idempotency-Key")
	case pg.Transient(err): // the database refusing for now (pg.Transient): the same request may be retried
		return subjects.Errorf(http.StatusServiceUnavailable, "unavailable", "the order database is briefly unavailable; try again with the same Idempotency-Key")
	}
	return err
}
