package cart

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/souk/souk/platform/authn"
	"github.com/souk/souk/subjects"
)

// handlers serves the endpoints. Every write is a compare-and-swap of the caller's cart, and
// every one is safe to run twice: adding is the one that is not idempotent by nature, and a
// client that must not add twice sets the quantity instead; setting, removing, clearing and
// the coupon converge, and CartCheckedOut remembers the orders it took.
type handlers struct {
	store  *Store
	pricer *pricer
	limits Limits
}

// maxCheckoutLines bounds the lines of a CartCheckedOut request (an order holds what a cart
// held, so far fewer).
const maxCheckoutLines = 1000

// cartKey is the KV key of the caller's cart: their user id. A subject that is no valid key
// (only service tokens have such) has no cart.
func cartKey(ctx context.Context) (string, error) {
	c, err := authn.MustClaims(ctx)
	if err != nil {
		return "", err
	}
	if len(c.Subject) > 128 || strings.ContainsFunc(c.Subject, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_')
	}) {
		return "", subjects.Errorf(http.StatusForbidden, "no_cart", "this caller has no cart")
	}
	return c.Subject, nil
}

// productID reads a product id in its canonical form, so that one product is one line
// whichever way the client spelt its UUID.
func productID(field, s string) (string, error) {
	id, err := uuid.Parse(s)
	if err != nil {
		return "", subjects.BadRequest(field, "must be a product id (a UUID)")
	}
	return id.String(), nil
}

// quantityProblem says what is wrong with a quantity below least or above the limit.
func (h *handlers) quantityProblem(q, least int) string {
	if q < least || q > h.limits.MaxQuantity {
		return "must be between " + strconv.Itoa(least) + " and " + strconv.Itoa(h.limits.MaxQuantity)
	}
	return ""
}

// reply prices the cart the caller just read or wrote.
func (h *handlers) reply(ctx context.Context, c Cart, rev uint64, err error) (subjects.Cart, error) {
	if err != nil {
		return subjects.Cart{}, wireError(err)
	}
	out, err := h.pricer.price(ctx, c, rev)
	return out, wireError(err)
}

// update applies fn to the caller's cart and answers it priced.
func (h *handlers) update(ctx context.Context, fn func(*Cart) (bool, error)) (subjects.Cart, error) {
	key, err := cartKey(ctx)
	if err != nil {
		return subjects.Cart{}, err
	}
	c, rev, err := h.store.Update(ctx, key, fn)
	return h.reply(ctx, c, rev, err)
}

func (h *handlers) get(ctx context.Context, _ subjects.Empty) (subjects.Cart, error) {
	key, err := cartKey(ctx)
	if err != nil {
		return subjects.Cart{}, err
	}
	c, rev, err := h.store.Get(ctx, key)
	return h.reply(ctx, c, rev, err)
}

func (h *handlers) addItem(ctx context.Context, req subjects.CartItemRequest) (subjects.Cart, error) {
	return h.putItem(ctx, req, 1, (*Cart).Add)
}

func (h *handlers) setItem(ctx context.Context, req subjects.CartItemRequest) (subjects.Cart, error) {
	if req.Quantity == 0 {
		return h.removeItem(ctx, req)
	}
	return h.putItem(ctx, req, 0, (*Cart).Set)
}

// putItem checks the request, asks the catalog for the product (it must be listed, and its
// currency must be the cart's) and applies op with the caller's cart.
func (h *handlers) putItem(ctx context.Context, req subjects.CartItemRequest, least int,
	op func(c *Cart, product string, quantity int, currency string, lim Limits) error) (subjects.Cart, error) {
	id, err := productID("product_id", req.ProductID)
	if err != nil {
		return subjects.Cart{}, err
	}
	if msg := h.quantityProblem(req.Quantity, least); msg != "" {
		return subjects.Cart{}, subjects.BadRequest("quantity", msg)
	}
	if _, err := cartKey(ctx); err != nil {
		return subjects.Cart{}, err
	}
	prod, err := h.pricer.product(ctx, id)
	if err != nil {
		return subjects.Cart{}, wireError(err)
	}
	return h.update(ctx, func(c *Cart) (bool, error) {
		return true, op(c, id, req.Quantity, prod.Price.Currency, h.limits)
	})
}

func (h *handlers) removeItem(ctx context.Context, req subjects.CartItemRequest) (subjects.Cart, error) {
	id, err := productID("product_id", req.ProductID)
	if err != nil {
		return subjects.Cart{}, err
	}
	return h.update(ctx, func(c *Cart) (bool, error) { return c.Remove(id), nil })
}

func (h *handlers) clear(ctx context.Context, _ subjects.Empty) (subjects.Empty, error) {
	key, err := cartKey(ctx)
	if err != nil {
		return subjects.Empty{}, err
	}
	_, _, err = h.store.Update(ctx, key, func(c *Cart) (bool, error) { return c.Clear(), nil })
	return subjects.Empty{}, wireError(err)
}

func (h *handlers) checkedOut(ctx context.Context, req subjects.CartCheckedOutRequest) (subjects.Empty, error) {
	order, err := uuid.Parse(req.OrderID)
	if err != nil {
		return subjects.Empty{}, subjects.BadRequest("order_id", "must be an order id (a UUID)")
	}
	if len(req.Lines) > maxCheckoutLines {
		return subjects.Empty{}, subjects.BadRequest("lines", "must hold at most "+strconv.Itoa(maxCheckoutLines)+" lines")
	}
	bought := make([]Line, len(req.Lines))
	var p subjects.Problems
	for i, l := range req.Lines {
		field := "lines[" + strconv.Itoa(i) + "]"
		id, err := productID(field+".product_id", l.ProductID)
		if err != nil {
			p.Add(field+".product_id", "must be a product id (a UUID)")
		}
		p.Add(field+".quantity", h.quantityProblem(l.Quantity, 1))
		bought[i] = Line{ProductID: id, Quantity: l.Quantity}
	}
	if err := p.Err(); err != nil {
		return subjects.Empty{}, err
	}
	key, err := cartKey(ctx)
	if err != nil {
		return subjects.Empty{}, err
	}
	_, _, err = h.store.Update(ctx, key, func(c *Cart) (bool, error) {
		return c.CheckOut(order.String(), bought, req.Coupon), nil
	})
	return subjects.Empty{}, wireError(err)
}

// wireError is the one mapping of domain errors to the wire. A *subjects.Error (from the
// catalog, say) passes as it is; anything it does not know is returned as is, and the
// transport masks it as a 500.
func wireError(err error) error {
	field := func(code int, slug, field string) error {
		msg := err.Error()
		return &subjects.Error{Code: code, Slug: slug, Message: msg, Fields: []subjects.FieldError{{Field: field, Message: msg}}}
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrQuantity):
		return field(http.StatusBadRequest, "validation", "quantity")
	case errors.Is(err, ErrTooManyLines):
		return field(http.StatusUnprocessableEntity, "cart_full", "product_id")
	case errors.Is(err, ErrCurrency):
		return field(http.StatusUnprocessableEntity, "currency_mismatch", "product_id")
	case errors.Is(err, errGone):
		return &subjects.Error{Code: http.StatusNotFound, Slug: "product_not_found", Message: "product not found",
			Fields: []subjects.FieldError{{Field: "product_id", Message: "no such product"}}}
	case errors.Is(err, ErrContention):
		return subjects.Errorf(http.StatusConflict, "contention", "the cart changed too often at once; try again")
	case errors.Is(err, context.DeadlineExceeded):
		return subjects.Errorf(http.StatusGatewayTimeout, "timeout", "the cart timed out")
	}
	return err
}

// Coupons. --------------------------------------------------------------------------------

// couponCode reads a code as the promotion service keeps it: upper case, 3..32 of A-Z 0-9 _ -.
// Like the promotion service, it takes a string that cannot be a code for a code no coupon
// has (422), and does not ask.
func couponCode(s string) (string, error) {
	code := strings.ToUpper(strings.TrimSpace(s))
	if code == "" {
		return "", subjects.BadRequest("code", "is required")
	}
	if len(code) < 3 || len(code) > 32 || strings.ContainsFunc(code, func(r rune) bool {
		return !(r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_')
	}) {
		return "", &subjects.Error{Code: http.StatusUnprocessableEntity, Slug: "coupon_invalid", Message: "code: no such coupon",
			Fields: []subjects.FieldError{{Field: "code", Message: "no such coupon"}}}
	}
	return code, nil
}

// applyCoupon quotes the code on the cart's subtotal now and, if the promotion service takes
// it, applies it. Its refusal (422: unknown, expired, below its minimum…) and its absence
// (503) reach the caller as they are: applying is the moment to say no.
func (h *handlers) applyCoupon(ctx context.Context, req subjects.CouponCodeRequest) (subjects.Cart, error) {
	code, err := couponCode(req.Code)
	if err != nil {
		return subjects.Cart{}, err
	}
	key, err := cartKey(ctx)
	if err != nil {
		return subjects.Cart{}, err
	}
	c, rev, err := h.store.Get(ctx, key)
	if err != nil {
		return subjects.Cart{}, wireError(err)
	}
	c.Coupon = "" // the subtotal is all that matters here, not what the old coupon is worth
	priced, err := h.pricer.price(ctx, c, rev)
	if err != nil {
		return subjects.Cart{}, wireError(err)
	}
	if _, err := h.pricer.quote(ctx, code, priced.Subtotal); err != nil {
		return subjects.Cart{}, wireError(err)
	}
	return h.update(ctx, func(c *Cart) (bool, error) { return c.SetCoupon(code), nil })
}

func (h *handlers) removeCoupon(ctx context.Context, _ subjects.Empty) (subjects.Cart, error) {
	return h.update(ctx, func(c *Cart) (bool, error) { return c.SetCoupon(""), nil })
}
