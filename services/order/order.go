// Package order is Souk's order service and the heart of the checkout saga.
//
// It owns the schema orders (orders, their lines as placed, their status history) and
// serves souk.order.v1.order.{place,get,list,cancel,admin_list}. Placing an order prices the caller's
// cart (the cart service prices it from the catalog, never from the client), holds the
// coupon with the promotion service, and stores the order with its order.placed event in one
// transaction (outbox). The rest is choreography over JetStream:
//
//	order.placed ──▶ inventory reserves ──▶ inventory.reserved ──▶ order reserved ──▶ order.reserved
//	order.reserved ──▶ payment charges ──▶ payment.succeeded ──▶ order paid ──▶ order.paid
//	inventory.rejected / inventory.expired / payment.failed / cancel ──▶ order cancelled ──▶ order.cancelled
//	order.cancelled ──▶ inventory releases, payment refunds, promotion returns the redemption
//	order.paid ──▶ shipping creates the shipment ──▶ shipping.created ──▶ order fulfilling ──▶ order.fulfilling
//	shipping.shipped / shipping.delivered ──▶ order shipped / delivered ──▶ order.shipped / order.delivered
//
// It consumes INVENTORY (reserved, rejected, expired), PAYMENTS (succeeded, failed,
// refunded) and SHIPPING (every status of the order's shipment) with durable idempotent
// consumers. Before it cancels a paid order it asks the shipping service to stop the
// shipment, so that no parcel leaves for a cancelled order (handlers.go). The order row is the saga's state: every
// transition takes its row lock, so a cancel racing a payment, or two events about one
// order, apply one after the other and end in one consistent state.
//
// A placement is idempotent in PostgreSQL alone: the order's id is derived from the caller
// and their Idempotency-Key (so a retry after a failure holds the same coupon hold, and a
// retry after a lost reply finds the order by its primary key), the unique index
// (user_id, idempotency_key) makes the order row the stored answer, and the unique index
// (user_id, cart_claim) lets one version of a cart become at most one order, whatever keys
// the attempts carry. The cart is emptied by a call after the insert and, should that call
// be lost, by the cart service's consumer of order.placed.
package order

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/souk/souk/subjects"
)

// Domain errors; wireError maps them to the wire.
var (
	// ErrNotFound is an unknown order, or another customer's.
	ErrNotFound = errors.New("order not found")
	// ErrEmptyCart is a checkout of an empty cart.
	ErrEmptyCart = errors.New("the cart is empty")
	// ErrNotCancellable is a cancel of an order that has shipped.
	ErrNotCancellable = errors.New("order can no longer be cancelled")
	// ErrCartOrdered is a placement of a cart whose version another order claimed.
	ErrCartOrdered = errors.New("the cart was already ordered")
)

// Order is the aggregate: an order with its lines, totals and history.
type Order struct {
	ID              uuid.UUID
	UserID          uuid.UUID
	Status          string
	CancelReason    string
	Items           []subjects.OrderItem
	Subtotal        int64
	Discount        int64
	Total           int64
	Currency        string
	Coupon          string
	ShippingAddress subjects.Address
	PaymentMethod   string
	ReservedUntil   *time.Time
	Payment         *subjects.OrderPayment
	Shipment        *subjects.OrderShipment
	IdempotencyKey  string
	// CartClaim names the version of the cart the order was priced from (see cartClaim); no
	// second order of the user has the same.
	CartClaim string
	History   []subjects.OrderStatus
	CreatedAt time.Time
	UpdatedAt time.Time
	// TraceParent is the trace context of the request that placed the order
	// (platform/trace.Parent): later requests about it (a cancel) resume its trace.
	TraceParent string
}

// rank orders the statuses of the forward path; cancelled is off it.
var rank = map[string]int{
	subjects.OrderStatusPending: 1, subjects.OrderStatusReserved: 2, subjects.OrderStatusPaid: 3,
	subjects.OrderStatusFulfilling: 4, subjects.OrderStatusShipped: 5, subjects.OrderStatusDelivered: 6,
}

// Cancellable reports whether the order may still be cancelled: not shipped, not cancelled.
func (o *Order) Cancellable() bool {
	r, ok := rank[o.Status]
	return ok && r < rank[subjects.OrderStatusShipped]
}

// move sets the next status and records it in the history. It refuses (false) a move
// backwards, a move out of cancelled, and a repeat: an order never skips back.
func (o *Order) move(status, reason string, at time.Time) bool {
	if o.Status == subjects.OrderStatusCancelled {
		return false
	}
	if status == subjects.OrderStatusCancelled {
		if !o.Cancellable() {
			return false
		}
		o.CancelReason = reason
	} else if rank[status] <= rank[o.Status] {
		return false
	}
	o.Status = status
	o.UpdatedAt = at
	o.History = append(o.History, subjects.OrderStatus{Status: status, At: at, Reason: reason})
	return true
}

// Lines are the order's lines as its events carry them.
func (o *Order) Lines() []subjects.OrderLine {
	out := make([]subjects.OrderLine, len(o.Items))
	for i, it := range o.Items {
		out[i] = subjects.OrderLine{ProductID: it.ProductID, SKU: it.SKU, Quantity: it.Quantity, UnitPrice: it.UnitPrice}
	}
	return out
}

func (o *Order) money(amount int64) subjects.Money {
	return subjects.Money{Amount: amount, Currency: o.Currency}
}

// Wire is the order as its owner and staff see it.
func (o *Order) Wire() subjects.Order {
	w := subjects.Order{
		ID: o.ID.String(), UserID: o.UserID.String(), Status: o.Status, CancelReason: o.CancelReason,
		Items: o.Items, Subtotal: o.money(o.Subtotal), Discount: o.money(o.Discount), Total: o.money(o.Total),
		Coupon: o.Coupon, ShippingAddress: o.ShippingAddress, PaymentMethod: o.PaymentMethod, History: o.History,
		Payment: o.Payment, Shipment: o.Shipment, CreatedAt: o.CreatedAt, UpdatedAt: o.UpdatedAt,
	}
	if o.Status == subjects.OrderStatusReserved {
		w.ReservedUntil = o.ReservedUntil
	}
	if w.Items == nil {
		w.Items = []subjects.OrderItem{}
	}
	if w.History == nil {
		w.History = []subjects.OrderStatus{}
	}
	return w
}

// Limits of a placement request.
const (
	MaxPaymentID = 255
)

var (
	countryPattern = regexp.MustCompile(`^[A-Z]{2}$`)
	// paymentMethodPattern admits Stripe payment method ids (pm_…); which of them pay is the
	// payment service's business.
	paymentMethodPattern = regexp.MustCompile(`^pm_[A-Za-z0-9_]+$`)
)

// CheckPlace validates a placement request and returns the address to store (trimmed,
// country upper-cased), or the field errors.
func CheckPlace(req subjects.OrderPlaceRequest) (subjects.Address, error) {
	var p subjects.Problems
	if req.ShippingAddress == nil {
		p.Add("shipping_address", "is required")
		return subjects.Address{}, p.Err()
	}
	a := *req.ShippingAddress
	subjects.CheckAddressText("shipping_address.", &a, &p)
	a.Country = strings.ToUpper(a.Country)
	if a.Country != "" && !countryPattern.MatchString(a.Country) {
		p.Add("shipping_address.country", "must be an ISO 3166-1 alpha-2 code, such as DE")
	}
	if req.PaymentMethod != "" && (len(req.PaymentMethod) > MaxPaymentID || !paymentMethodPattern.MatchString(req.PaymentMethod)) {
		p.Add("payment_method", "must be a payment method id such as pm_card_visa")
	}
	if err := p.Err(); err != nil {
		return subjects.Address{}, err
	}
	return a, nil
}

// priced builds an order's lines and subtotal from a priced cart. A cart with products
// that are no longer sold, or in several currencies, is refused rather than half-ordered.
func priced(cart subjects.Cart) ([]subjects.OrderItem, int64, string, error) {
	if len(cart.Items) == 0 && len(cart.Unavailable) == 0 {
		return nil, 0, "", ErrEmptyCart
	}
	if len(cart.Unavailable) > 0 {
		return nil, 0, "", &subjects.Error{Code: 422, Slug: "product_unavailable",
			Message: "some products in the cart are no longer sold; remove them and check out again",
			Fields:  []subjects.FieldError{{Field: "items", Message: "no longer sold: " + strings.Join(cart.Unavailable, ", ")}}}
	}
	currency := cart.Items[0].UnitPrice.Currency
	out := make([]subjects.OrderItem, len(cart.Items))
	var subtotal int64
	for i, it := range cart.Items {
		if it.UnitPrice.Currency != currency || it.Quantity <= 0 || it.UnitPrice.Amount < 0 {
			return nil, 0, "", errors.New("cart: inconsistent line " + it.ProductID)
		}
		// The line total is computed here, never taken from the cart's reply.
		total := subjects.Money{Amount: it.UnitPrice.Amount * int64(it.Quantity), Currency: currency}
		out[i] = subjects.OrderItem{ProductID: it.ProductID, SKU: it.SKU, Name: it.Name, Quantity: it.Quantity, UnitPrice: it.UnitPrice, LineTotal: total}
		subtotal += total.Amount
	}
	return out, subtotal, currency, nil
}

// placementIDs is the UUID namespace of the order ids derived from a placement's key.
var placementIDs = uuid.MustParse("5b1e0f3c-8d0a-4e55-9a53-0d6c1c2f7a11")

// placementID is the id of the order the user places with Idempotency-Key key: derived
// from both (UUIDv5), so every attempt with one key is the same order to the promotion
// service (the same hold, held once) and to the orders table (the same primary key). A
// placement without a key gets a fresh UUIDv7.
func placementID(user uuid.UUID, key string) uuid.UUID {
	if key == "" {
		return uuid.Must(uuid.NewV7())
	}
	return uuid.NewSHA1(placementIDs, []byte(user.String()+"\n"+key))
}

// cartClaim names the version of cart the order is priced from: its KV revision and the time
// of its last write (a revision alone could come round again after the bucket lost its tail).
// A cart service that sends no time (an older release) is claimed by its revision alone.
func cartClaim(cart subjects.Cart) string {
	if cart.UpdatedAt == nil {
		return fmt.Sprint(cart.Revision)
	}
	return fmt.Sprintf("%d@%d", cart.Revision, cart.UpdatedAt.UnixNano())
}
