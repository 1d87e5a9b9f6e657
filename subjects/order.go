package subjects

import "time"

// The order service: orders, their lines and status history, and the checkout saga's
// state. The Idempotency-Key of a placement travels in Meta.IdempotencyKey.
var (
	// OrderPlace checks out the caller's cart: priced from the catalog, the coupon held with
	// the promotion service, stored with its order.placed event; 201 pending. An empty cart
	// is 422. The same Idempotency-Key from the same user returns the first order.
	OrderPlace = Endpoint[OrderPlaceRequest, Order]{Subject: "souk.order.v1.order.place", Access: profileAccess}
	// OrderGet returns one order: the caller's own, or any to staff; else 404.
	OrderGet = Endpoint[OrderIDRequest, Order]{Subject: "souk.order.v1.order.get", Access: profileAccess}
	// OrderList lists the caller's orders, newest first.
	OrderList = Endpoint[ListRequest, OrderPage]{Subject: "souk.order.v1.order.list", Access: profileAccess}
	// OrderCancel cancels an order that has not shipped (its owner: reason customer; staff:
	// reason staff); 409 otherwise. Cancelling a cancelled order returns it unchanged.
	OrderCancel = Endpoint[OrderIDRequest, Order]{Subject: "souk.order.v1.order.cancel", Access: profileAccess}
	// OrderAdminList lists every customer's orders for staff, newest first, narrowed by
	// status, customer and placement time (GET /v1/admin/orders).
	OrderAdminList = Endpoint[OrderAdminListRequest, OrderSummaryPage]{Subject: "souk.order.v1.order.admin_list", Access: Require(PermOrdersAll)}
)

// Order statuses, in the order they are reached; cancelled may follow any before shipped.
const (
	OrderStatusPending    = "pending"
	OrderStatusReserved   = "reserved"
	OrderStatusPaid       = "paid"
	OrderStatusFulfilling = "fulfilling"
	OrderStatusShipped    = "shipped"
	OrderStatusDelivered  = "delivered"
	OrderStatusCancelled  = "cancelled"
)

// OrderStatuses are the order statuses, in the order they are reached (cancelled last).
var OrderStatuses = []string{OrderStatusPending, OrderStatusReserved, OrderStatusPaid, OrderStatusFulfilling,
	OrderStatusShipped, OrderStatusDelivered, OrderStatusCancelled}

// Cancellation reasons.
const (
	ReasonOutOfStock     = "out_of_stock"
	ReasonPaymentFailed  = "payment_failed"
	ReasonPaymentTimeout = "payment_timeout"
	ReasonCustomer       = "customer"
	ReasonStaff          = "staff"
	// ReasonNotConfirmed: the order stayed pending past its deadline, its stock never
	// confirmed (its order.placed did not reach the inventory in time).
	ReasonNotConfirmed = "not_confirmed"
	// ReasonCouponRefused: the order's coupon hold was returned before its order.placed was
	// seen, and the coupon's limits were reached meanwhile (subjects.EvtCouponRefused).
	ReasonCouponRefused = "coupon_refused"
)

// Order events, on the ORDERS stream: souk.evt.order.<event>.<order id>. Every status change
// is one event, and every event carries the status it reached, so a follower of
// souk.evt.order.*.<id> sees the order's whole life.
var (
	EvtOrderPlaced    = event[OrderPlaced](StreamOrders, "souk.evt.order.placed")
	EvtOrderReserved  = event[OrderReserved](StreamOrders, "souk.evt.order.reserved")
	EvtOrderPaid      = event[OrderPaid](StreamOrders, "souk.evt.order.paid")
	EvtOrderCancelled = event[OrderCancelled](StreamOrders, "souk.evt.order.cancelled")
	// EvtOrderFulfilling: the shipping service created the order's shipment.
	EvtOrderFulfilling = event[OrderFulfilment](StreamOrders, "souk.evt.order.fulfilling")
	// EvtOrderShipped: the parcel left with its carrier.
	EvtOrderShipped = event[OrderFulfilment](StreamOrders, "souk.evt.order.shipped")
	// EvtOrderDelivered: the parcel arrived; the order is done.
	EvtOrderDelivered = event[OrderFulfilment](StreamOrders, "souk.evt.order.delivered")
)

// OrderPlaceRequest is the body of POST /v1/orders.
type OrderPlaceRequest struct {
	ShippingAddress *Address `json:"shipping_address" required:"true"`
	// PaymentMethod, when given, is charged as soon as the stock is held (pm_card_visa…).
	PaymentMethod string `json:"payment_method,omitempty"`
}

// OrderIDRequest names one order.
type OrderIDRequest struct {
	ID string `json:"id"`
}

// Order is an order as its owner and staff see it.
type Order struct {
	ID     string `json:"id" required:"true"`
	UserID string `json:"user_id" required:"true"`
	// Status is pending, reserved, paid, fulfilling, shipped, delivered or cancelled.
	Status string `json:"status" required:"true" enum:"OrderStatusPending"`
	// CancelReason is set when Status is cancelled.
	CancelReason    string        `json:"cancel_reason,omitempty" enum:"ReasonOutOfStock"`
	Items           []OrderItem   `json:"items" required:"true"`
	Subtotal        Money         `json:"subtotal" required:"true"`
	Discount        Money         `json:"discount" required:"true"`
	Total           Money         `json:"total" required:"true"`
	Coupon          string        `json:"coupon,omitempty"`
	ShippingAddress Address       `json:"shipping_address" required:"true"`
	PaymentMethod   string        `json:"payment_method,omitempty"`
	History         []OrderStatus `json:"history" required:"true"`
	// ReservedUntil is when the stock hold runs out unpaid (status reserved).
	ReservedUntil *time.Time    `json:"reserved_until,omitempty"`
	Payment       *OrderPayment `json:"payment,omitempty"`
	// Shipment is filled in by fulfilment.
	Shipment  *OrderShipment `json:"shipment,omitempty"`
	CreatedAt time.Time      `json:"created_at" required:"true"`
	UpdatedAt time.Time      `json:"updated_at" required:"true"`
}

// OrderItem is one line of an order, priced when it was placed.
type OrderItem struct {
	ProductID string `json:"product_id" required:"true"`
	SKU       string `json:"sku" required:"true"`
	Name      string `json:"name" required:"true"`
	Quantity  int    `json:"quantity" required:"true"`
	UnitPrice Money  `json:"unit_price" required:"true"`
	LineTotal Money  `json:"line_total" required:"true"`
}

// OrderStatus is one entry of an order's history.
type OrderStatus struct {
	Status string    `json:"status" required:"true" enum:"OrderStatusPending"`
	At     time.Time `json:"at" required:"true"`
	Reason string    `json:"reason,omitempty"`
}

// OrderPayment is the order's copy of its payment, kept from payment events.
type OrderPayment struct {
	ID string `json:"id" required:"true"`
	// Status is succeeded, failed or refunded (partly: Refunded < Amount).
	Status   string `json:"status" required:"true"`
	Amount   Money  `json:"amount" required:"true"`
	Refunded Money  `json:"refunded" required:"true"`
	Provider string `json:"provider,omitempty"`
	// FailureReason is the provider's decline code when Status is failed.
	FailureReason string `json:"failure_reason,omitempty"`
}

// OrderShipment is the order's copy of its shipment.
type OrderShipment struct {
	ID             string `json:"id" required:"true"`
	Status         string `json:"status" required:"true" enum:"ShipmentPending"`
	Carrier        string `json:"carrier,omitempty"`
	TrackingNumber string `json:"tracking_number,omitempty"`
}

// OrderPage is one page of orders.
type OrderPage struct {
	Items      []Order `json:"items" required:"true"`
	NextCursor string  `json:"next_cursor,omitempty"`
}

// OrderAdminListRequest is the query of GET /v1/admin/orders: filters that each narrow the
// list (none: every order), and the page. A cursor continues only the list of the same
// filters.
type OrderAdminListRequest struct {
	// Status keeps orders in any of these statuses (OrderStatuses); none keeps every status.
	Status []string `json:"status,omitempty"`
	// Customer keeps one customer's orders: their user id, or the email of their account
	// (looked up with the user service; an email with no account lists nothing).
	Customer string `json:"customer,omitempty"`
	// From keeps orders placed at or after this RFC 3339 time; To those placed before it.
	From string `json:"from,omitempty"`
	To   string `json:"to,omitempty"`
	// Limit is the page size, 1..100; 20 when zero.
	Limit int `json:"limit,omitempty"`
	// Cursor is the opaque next_cursor of the previous page.
	Cursor string `json:"cursor,omitempty"`
}

// OrderSummary is an order as staff's list shows it: enough to pick it out and act on it
// (GET /v1/orders/{id} has the rest).
type OrderSummary struct {
	ID     string `json:"id" required:"true"`
	UserID string `json:"user_id" required:"true"`
	// Status is pending, reserved, paid, fulfilling, shipped, delivered or cancelled.
	Status string `json:"status" required:"true"`
	// CancelReason is set when Status is cancelled.
	CancelReason string `json:"cancel_reason,omitempty"`
	Total        Money  `json:"total" required:"true"`
	// Shipment is the order's copy of its shipment, once it has one: its id is what staff
	// move (POST /v1/admin/shipments/{id}/status).
	Shipment  *OrderShipment `json:"shipment,omitempty"`
	CreatedAt time.Time      `json:"created_at" required:"true"`
	UpdatedAt time.Time      `json:"updated_at" required:"true"`
}

// OrderSummaryPage is one page of staff's order list.
type OrderSummaryPage struct {
	Items      []OrderSummary `json:"items" required:"true"`
	NextCursor string         `json:"next_cursor,omitempty"`
}

// OrderLine is one line of an order as its events carry it.
type OrderLine struct {
	ProductID string `json:"product_id" required:"true"`
	SKU       string `json:"sku" required:"true"`
	Quantity  int    `json:"quantity" required:"true"`
	UnitPrice Money  `json:"unit_price" required:"true"`
}

// OrderPlaced is the payload of order.placed: a new order waits for its stock.
type OrderPlaced struct {
	EventID       string      `json:"event_id"`
	OccurredAt    time.Time   `json:"occurred_at"`
	OrderID       string      `json:"order_id"`
	UserID        string      `json:"user_id"`
	Status        string      `json:"status"`
	Lines         []OrderLine `json:"lines"`
	Subtotal      Money       `json:"subtotal"`
	Discount      Money       `json:"discount"`
	Total         Money       `json:"total"`
	Coupon        string      `json:"coupon,omitempty"`
	PaymentMethod string      `json:"payment_method,omitempty"`
}

// OrderReserved is the payload of order.reserved: the stock is held until ReservedUntil and
// the order waits for payment. PaymentMethod, when the customer gave one at checkout, is for
// the payment service to charge now.
type OrderReserved struct {
	EventID       string    `json:"event_id"`
	OccurredAt    time.Time `json:"occurred_at"`
	OrderID       string    `json:"order_id"`
	UserID        string    `json:"user_id"`
	Status        string    `json:"status"`
	Total         Money     `json:"total"`
	PaymentMethod string    `json:"payment_method,omitempty"`
	ReservedUntil time.Time `json:"reserved_until"`
}

// OrderPaid is the payload of order.paid: the customer has paid for these lines.
type OrderPaid struct {
	EventID    string      `json:"event_id"`
	OccurredAt time.Time   `json:"occurred_at"`
	OrderID    string      `json:"order_id"`
	UserID     string      `json:"user_id"`
	Status     string      `json:"status,omitempty"`
	Lines      []OrderLine `json:"lines"`
	Total      Money       `json:"total"`
	Coupon     string      `json:"coupon,omitempty"`
	PaymentID  string      `json:"payment_id,omitempty"`
	// ShippingAddress is where the order goes: the shipping service's shipment needs it.
	ShippingAddress *Address `json:"shipping_address,omitempty"`
}

// OrderCancelled is the payload of order.cancelled. The compensations follow from it:
// inventory releases the stock, payment refunds what was captured, promotion returns the
// coupon's redemption.
type OrderCancelled struct {
	EventID    string    `json:"event_id"`
	OccurredAt time.Time `json:"occurred_at"`
	OrderID    string    `json:"order_id"`
	UserID     string    `json:"user_id"`
	Status     string    `json:"status,omitempty"`
	// Reason is out_of_stock, payment_failed, payment_timeout, not_confirmed, customer or staff.
	Reason string `json:"reason"`
	// From is the status the order was cancelled from.
	From   string `json:"from,omitempty"`
	Coupon string `json:"coupon,omitempty"`
}

// OrderFulfilment is the payload of order.fulfilling, order.shipped and order.delivered: the
// order followed its shipment. Lines name what was bought (a delivered order is a purchase
// for the review rules).
type OrderFulfilment struct {
	EventID    string        `json:"event_id"`
	OccurredAt time.Time     `json:"occurred_at"`
	OrderID    string        `json:"order_id"`
	UserID     string        `json:"user_id"`
	Status     string        `json:"status"`
	Shipment   OrderShipment `json:"shipment"`
	Lines      []OrderLine   `json:"lines"`
}
