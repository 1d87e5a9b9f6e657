package subjects

import "time"

// Order events, on the ORDERS stream: souk.evt.order.<event>.<order id>. The order service
// publishes them (issue 4); the catalog consumes paid and cancelled to learn who bought what,
// for the review rules.
const (
	EvtOrderPaid      = "souk.evt.order.paid"
	EvtOrderCancelled = "souk.evt.order.cancelled"
)

// OrderLine is one line of an order as its events carry it.
type OrderLine struct {
	ProductID string `json:"product_id"`
	SKU       string `json:"sku"`
	Quantity  int    `json:"quantity"`
	UnitPrice Money  `json:"unit_price"`
}

// OrderPaid is the payload of order.paid: the customer has paid for these lines.
type OrderPaid struct {
	EventID    string      `json:"event_id"`
	OccurredAt time.Time   `json:"occurred_at"`
	OrderID    string      `json:"order_id"`
	UserID     string      `json:"user_id"`
	Lines      []OrderLine `json:"lines"`
	Total      Money       `json:"total"`
}

// OrderCancelled is the payload of order.cancelled.
type OrderCancelled struct {
	EventID    string    `json:"event_id"`
	OccurredAt time.Time `json:"occurred_at"`
	OrderID    string    `json:"order_id"`
	UserID     string    `json:"user_id"`
	// Reason is out_of_stock, payment_failed, payment_timeout, customer or staff.
	Reason string `json:"reason"`
}
