package order

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/souk/souk/platform/authn"
	"github.com/souk/souk/subjects"
)

// handlers serve the order endpoints.
type handlers struct {
	store *Store
	nc    *nats.Conn
	// keys is the KV bucket idempotency: Idempotency-Key → order id, the fast path of a
	// retried placement (the unique index in PostgreSQL is the guarantee).
	keys jetstream.KeyValue
	log  zerolog.Logger
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
	if key != "" {
		if !utf8.ValidString(key) || strings.ContainsFunc(key, isControl) || len(key) > 255 {
			return subjects.Order{}, subjects.BadRequest("Idempotency-Key", "must be printable text of at most 255 bytes")
		}
		if o, err := h.replay(ctx, user, key); err == nil {
			return o.Wire(), nil
		} else if !errors.Is(err, ErrNotFound) {
			return subjects.Order{}, err
		}
	}
	o, err := h.build(ctx, user, addr, req.PaymentMethod)
	if err != nil {
		return subjects.Order{}, wireError(err)
	}
	o.IdempotencyKey = key
	if err := h.store.Insert(ctx, o, placedEvent(o)); errors.Is(err, errIdempotencyTaken) {
		// The same key raced in from another request and won: that order is the answer. The
		// coupon hold taken for this attempt is returned by the promotion service's sweeper.
		first, err := h.store.ByIdempotencyKey(ctx, user, key)
		if err != nil {
			return subjects.Order{}, err
		}
		return first.Wire(), nil
	} else if err != nil {
		return subjects.Order{}, err
	}
	h.remember(ctx, user, key, o.ID)
	_, err = subjects.CartCheckedOut.Call(ctx, h.nc, subjects.CartCheckedOutRequest{OrderID: o.ID.String(), Lines: o.Lines(), Coupon: o.Coupon})
	if err != nil {
		// The order stands; what it bought stays in the cart until the customer removes it.
		h.log.Warn().Err(err).Str("order", o.ID.String()).Msg("order placed, but the cart could not be emptied")
	}
	return o.Wire(), nil
}

// build prices the caller's cart and holds its coupon for a new pending order.
func (h *handlers) build(ctx context.Context, user uuid.UUID, addr subjects.Address, method string) (*Order, error) {
	cart, err := subjects.CartGet.Call(ctx, h.nc, subjects.Empty{})
	if err != nil {
		return nil, err
	}
	items, subtotal, currency, err := priced(cart)
	if err != nil {
		return nil, err
	}
	at := now()
	o := &Order{ID: uuid.Must(uuid.NewV7()), UserID: user, Status: subjects.OrderStatusPending, Items: items,
		Subtotal: subtotal, Currency: currency, ShippingAddress: addr, PaymentMethod: method, CreatedAt: at, UpdatedAt: at,
		History: []subjects.OrderStatus{{Status: subjects.OrderStatusPending, At: at}}}
	if c := cart.Coupon; c != nil {
		if c.Problem != "" {
			return nil, &subjects.Error{Code: 422, Slug: "coupon_invalid", Message: "the cart's coupon no longer applies: " + c.Problem,
				Fields: []subjects.FieldError{{Field: "coupon", Message: c.Problem}}}
		}
		d, err := subjects.CouponHold.Call(ctx, h.nc, subjects.CouponHoldRequest{Code: c.Code, OrderID: o.ID.String(), Subtotal: o.money(subtotal)})
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

func idempotencyKey(user uuid.UUID, key string) string {
	sum := sha256.Sum256([]byte(key))
	return "order." + user.String() + "." + hex.EncodeToString(sum[:20])
}

// replay returns the order the user placed with key, from the KV cache or PostgreSQL.
func (h *handlers) replay(ctx context.Context, user uuid.UUID, key string) (*Order, error) {
	if h.keys != nil {
		if e, err := h.keys.Get(ctx, idempotencyKey(user, key)); err == nil {
			if id, err := uuid.ParseBytes(e.Value()); err == nil {
				return h.store.Get(ctx, id)
			}
		}
	}
	return h.store.ByIdempotencyKey(ctx, user, key)
}

// remember caches key → order; a failure costs only the fast path.
func (h *handlers) remember(ctx context.Context, user uuid.UUID, key string, id uuid.UUID) {
	if key == "" || h.keys == nil {
		return
	}
	if _, err := h.keys.Put(ctx, idempotencyKey(user, key), []byte(id.String())); err != nil {
		h.log.Warn().Err(err).Msg("idempotency key not cached")
	}
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
	if !owner && !claims.Can(authn.PermOrdersAll) {
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
		h.log.Warn().Str("order", o.ID.String()).Msg("no shipping service answers; cancelling the order, its event cancels the shipment")
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
	limit := req.Limit
	switch {
	case limit == 0:
		limit = 20
	case limit < 1 || limit > 100:
		return subjects.OrderPage{}, subjects.BadRequest("limit", "must be 1..100")
	}
	orders, next, err := h.store.List(ctx, user, limit, req.Cursor)
	if err != nil {
		return subjects.OrderPage{}, err
	}
	page := subjects.OrderPage{Items: make([]subjects.Order, len(orders)), NextCursor: next}
	for i, o := range orders {
		page.Items[i] = o.Wire()
	}
	return page, nil
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
	}
	return err
}
