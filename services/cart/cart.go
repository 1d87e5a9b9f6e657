// Package cart is Souk's cart service: one cart per customer, with the applied coupon.
//
// It owns no PostgreSQL schema. A cart is one JSON value in the JetStream KV bucket "carts"
// under the customer's user id, written only by compare-and-swap (Create when absent, Update
// with the revision read otherwise, retried on conflict), so two tabs adding at once lose
// nothing. The bucket keeps a value 30 days after its last write: that is how abandoned carts
// expire, with nothing to sweep.
//
// A cart stores product ids and quantities, never prices: every read prices it from the
// catalog (subjects.ProductGet, which the catalog answers from its cache) and re-quotes its
// coupon with the promotion service (subjects.CouponQuote).
//
// It serves the subjects.Cart* endpoints as the micro service "cart"; every one needs
// subjects.PermProfile and works on the caller's own cart. It publishes no events. The order
// service tells it what an order took (subjects.CartCheckedOut) and, should that call be
// lost, order.placed tells it again (events.go, the durable consumer cart-orders).
package cart

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Domain errors. The methods of Cart return them; wireError in handlers.go maps them to the
// wire.
var (
	// ErrQuantity is a quantity outside the limits, or a line that would exceed them.
	ErrQuantity = errors.New("quantity out of range")
	// ErrTooManyLines is a new line in a cart that holds the most lines it may.
	ErrTooManyLines = errors.New("too many lines")
	// ErrCurrency is a product priced in another currency than the cart's other lines.
	ErrCurrency = errors.New("currency mismatch")
	// ErrContention is a write that lost the compare-and-swap race every time it tried.
	ErrContention = errors.New("cart changed too often concurrently")
)

// RememberedOrders is how many checked-out order ids a cart keeps, so that the order
// service repeating CartCheckedOut (a retry after a lost reply) takes nothing twice.
const RememberedOrders = 10

// Limits bound what one cart holds.
type Limits struct {
	// MaxLines is the most distinct products in a cart.
	MaxLines int
	// MaxQuantity is the most units of one product, per request and per line.
	MaxQuantity int
}

// Cart is the stored value of one customer's cart: what they want and how many, not what it
// costs (prices come from the catalog at every read).
type Cart struct {
	// Items are the lines in the order they were first added; one per product.
	Items []Line `json:"items"`
	// Currency is the currency of the products in the cart when their lines were written;
	// empty while the cart is empty. A product in another currency cannot join.
	Currency string `json:"currency,omitempty"`
	// Coupon is the applied code, upper case; empty when none.
	Coupon string `json:"coupon,omitempty"`
	// CheckedOut are the ids of the last RememberedOrders orders taken out of the cart,
	// oldest first.
	CheckedOut []string `json:"checked_out,omitempty"`
	// UpdatedAt is the time of the last write.
	UpdatedAt time.Time `json:"updated_at"`
}

// Line is a quantity of one product.
type Line struct {
	ProductID string `json:"product_id"`
	Quantity  int    `json:"quantity"`
}

// index is the position of product's line, or -1.
func (c *Cart) index(product string) int {
	return slices.IndexFunc(c.Items, func(l Line) bool { return l.ProductID == product })
}

// Add adds quantity units of product, priced in currency, to its line (a new one if there is
// none). It changes nothing on error.
func (c *Cart) Add(product string, quantity int, currency string, lim Limits) error {
	if quantity < 1 || quantity > lim.MaxQuantity {
		return errorf(ErrQuantity, "add 1 to %d units", lim.MaxQuantity)
	}
	have := 0
	if i := c.index(product); i >= 0 {
		have = c.Items[i].Quantity
	}
	if have+quantity > lim.MaxQuantity {
		return errorf(ErrQuantity, "the cart holds %d already and a line at most %d", have, lim.MaxQuantity)
	}
	return c.Set(product, have+quantity, currency, lim)
}

// Set makes product's line hold quantity units (0 removes it); product is priced in
// currency. It changes nothing on error.
func (c *Cart) Set(product string, quantity int, currency string, lim Limits) error {
	if quantity < 0 || quantity > lim.MaxQuantity {
		return errorf(ErrQuantity, "a line holds 0 to %d units", lim.MaxQuantity)
	}
	if quantity == 0 {
		c.Remove(product)
		return nil
	}
	i := c.index(product)
	others := len(c.Items)
	if i >= 0 {
		others--
	}
	// The cart's currency is its other lines'; a cart holding only this product (or nothing)
	// takes the product's, so a price moved to another currency does not lock a cart.
	if others > 0 && c.Currency != "" && currency != c.Currency {
		return errorf(ErrCurrency, "the cart is priced in %s and the product in %s", c.Currency, currency)
	}
	if i < 0 && len(c.Items) >= lim.MaxLines {
		return errorf(ErrTooManyLines, "a cart holds at most %d products", lim.MaxLines)
	}
	if i < 0 {
		c.Items = append(c.Items, Line{ProductID: product, Quantity: quantity})
	} else {
		c.Items[i].Quantity = quantity
	}
	c.Currency = currency
	return nil
}

// Remove drops product's line and reports whether there was one.
func (c *Cart) Remove(product string) bool {
	i := c.index(product)
	if i < 0 {
		return false
	}
	c.Items = slices.Delete(c.Items, i, i+1)
	c.forgetCurrencyIfEmpty()
	return true
}

func (c *Cart) forgetCurrencyIfEmpty() {
	if len(c.Items) == 0 {
		c.Currency = ""
	}
}

// Clear drops every line and the coupon, and reports whether there was anything. The
// checked-out orders are kept: a repeated CartCheckedOut after a clear must still be a no-op.
func (c *Cart) Clear() bool {
	if len(c.Items) == 0 && c.Coupon == "" {
		return false
	}
	c.Items, c.Coupon, c.Currency = nil, "", ""
	return true
}

// SetCoupon applies code (already normalised; "" removes the coupon) and reports whether
// that changed the cart.
func (c *Cart) SetCoupon(code string) bool {
	if c.Coupon == code {
		return false
	}
	c.Coupon = code
	return true
}

// CheckOut takes what order bought out of the cart: each line loses the quantity ordered
// (a line reaching 0 goes), and the coupon goes if the order used it. Lines added since the
// order was priced stay. It reports false, changing nothing, for an order already taken.
func (c *Cart) CheckOut(order string, bought []Line, coupon string) bool {
	if slices.Contains(c.CheckedOut, order) {
		return false
	}
	for _, b := range bought {
		i := c.index(b.ProductID)
		if i < 0 {
			continue
		}
		if c.Items[i].Quantity -= b.Quantity; c.Items[i].Quantity <= 0 {
			c.Items = slices.Delete(c.Items, i, i+1)
		}
	}
	c.forgetCurrencyIfEmpty()
	if coupon != "" && strings.EqualFold(c.Coupon, coupon) {
		c.Coupon = ""
	}
	c.CheckedOut = append(c.CheckedOut, order)
	if n := len(c.CheckedOut); n > RememberedOrders {
		c.CheckedOut = slices.Clone(c.CheckedOut[n-RememberedOrders:])
	}
	return true
}

// errorf wraps a domain error with what the customer needs to know.
func errorf(sentinel error, format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{sentinel}, args...)...)
}
