package subjects

import "time"

// The cart service: one cart per customer in the KV bucket carts, written with the revision
// (compare-and-swap, retried on conflict), priced from the catalog on every read.
var (
	// CartGet returns the caller's cart, priced now.
	CartGet = Endpoint[Empty, Cart]{Subject: "souk.cart.v1.cart.get", Access: profileAccess}
	// CartAddItem adds quantity of a product (to a line already there, too); an unknown or
	// unlisted product is 404, a quantity ≤ 0 400.
	CartAddItem = Endpoint[CartItemRequest, Cart]{Subject: "souk.cart.v1.item.add", Access: profileAccess}
	// CartSetItem sets a line's quantity; 0 removes the line.
	CartSetItem = Endpoint[CartItemRequest, Cart]{Subject: "souk.cart.v1.item.set", Access: profileAccess}
	// CartRemoveItem removes a line.
	CartRemoveItem = Endpoint[CartItemRequest, Cart]{Subject: "souk.cart.v1.item.remove", Access: profileAccess}
	// CartClear empties the caller's cart.
	CartClear = Endpoint[Empty, Empty]{Subject: "souk.cart.v1.cart.clear", Access: profileAccess}
	// CartCheckedOut takes what an order bought out of the caller's cart: the ordered
	// quantities and the coupon it used. Lines added since the order was priced stay.
	CartCheckedOut = Endpoint[CartCheckedOutRequest, Empty]{Subject: "souk.cart.v1.cart.checked_out", Access: profileAccess}
	// CartApplyCoupon applies a code, checked with the promotion service; unknown or expired
	// 422.
	CartApplyCoupon = Endpoint[CouponCodeRequest, Cart]{Subject: "souk.cart.v1.coupon.apply", Access: profileAccess}
	// CartRemoveCoupon removes the applied code.
	CartRemoveCoupon = Endpoint[Empty, Cart]{Subject: "souk.cart.v1.coupon.remove", Access: profileAccess}
)

// CartItemRequest is the body of POST /v1/cart/items and PATCH/DELETE
// /v1/cart/items/{product_id}.
type CartItemRequest struct {
	ProductID string `json:"product_id" required:"true"`
	// Quantity is 1..999 (0 allowed when setting: it removes the line).
	Quantity int `json:"quantity" required:"true"`
}

// CouponCodeRequest is the body of PUT /v1/cart/coupon.
type CouponCodeRequest struct {
	Code string `json:"code" required:"true"`
}

// CartCheckedOutRequest names what an order took from the cart.
type CartCheckedOutRequest struct {
	OrderID string      `json:"order_id"`
	Lines   []OrderLine `json:"lines"`
	Coupon  string      `json:"coupon,omitempty"`
}

// Cart is a customer's cart, priced from the catalog at the time of the read.
type Cart struct {
	Items    []CartItem `json:"items" required:"true"`
	Subtotal Money      `json:"subtotal" required:"true"`
	Discount Money      `json:"discount" required:"true"`
	Total    Money      `json:"total" required:"true"`
	// Coupon is the applied code and what it is worth now; Problem says why it is worth
	// nothing (expired, below its minimum…) while it stays applied.
	Coupon *CartCoupon `json:"coupon,omitempty"`
	// Unavailable lists products that were in the cart and are no longer sold; they are not
	// counted in the totals.
	Unavailable []string `json:"unavailable,omitempty"`
	// Revision is the cart's KV revision (0 for a cart never written).
	Revision uint64 `json:"revision" required:"true"`
	// UpdatedAt is the time of the cart's last write; absent for a cart never written. With
	// Revision it names one version of the cart even across a bucket that lost its tail or
	// was recreated (revisions start again, times do not): the order service claims that
	// version, so a cart becomes at most one order.
	UpdatedAt *time.Time `json:"updated_at,omitempty"`
}

// CartItem is one line of a cart.
type CartItem struct {
	ProductID string `json:"product_id" required:"true"`
	SKU       string `json:"sku" required:"true"`
	Name      string `json:"name" required:"true"`
	Quantity  int    `json:"quantity" required:"true"`
	UnitPrice Money  `json:"unit_price" required:"true"`
	LineTotal Money  `json:"line_total" required:"true"`
}

// CartCoupon is the coupon applied to a cart.
type CartCoupon struct {
	Code     string `json:"code" required:"true"`
	Kind     string `json:"kind,omitempty" enum:"CouponPercent"`
	Value    int64  `json:"value,omitempty"`
	Discount Money  `json:"discount" required:"true"`
	Problem  string `json:"problem,omitempty"`
}
