package subjects

import "time"

// The payment service: payment intents, the providers (sandbox, Stripe), webhooks and
// refunds. It never stores or logs card data: it handles payment method ids only.
var (
	// PaymentCreate starts paying the caller's order with a payment method (customer): 200
	// with the payment's status (processing until the provider decides). A cancelled or paid
	// order is 409, another customer's 404, an unknown method 400. Asking again for an order
	// with a payment under way returns that payment.
	PaymentCreate = Endpoint[PaymentRequest, PaymentReply]{Subject: "souk.payment.v1.payment.create", Access: profileAccess}
	// PaymentRefund refunds an order's captured payment, in full or in part, never above what
	// remains (admin). Meta.IdempotencyKey makes a retry return the first refund.
	PaymentRefund = Endpoint[RefundRequest, Refund]{Subject: "souk.payment.v1.refund.create", Access: Require(PermRefunds)}
	// PaymentStripeWebhook takes a Stripe webhook: the raw payload and its Stripe-Signature
	// header (anyone: the signature is the lock). A bad signature is 400 and changes nothing;
	// an event id already handled is answered 200 and not handled again.
	PaymentStripeWebhook = Endpoint[StripeWebhook, Empty]{Subject: "souk.payment.v1.webhook.stripe", Access: Public}
)

// Payment events, on the PAYMENTS stream: souk.evt.payment.<event>.<order id>.
var (
	EvtPaymentSucceeded = event[PaymentSucceeded](StreamPayments, "souk.evt.payment.succeeded")
	EvtPaymentFailed    = event[PaymentFailedEvent](StreamPayments, "souk.evt.payment.failed")
	EvtPaymentRefunded  = event[PaymentRefunded](StreamPayments, "souk.evt.payment.refunded")
)

// Payment statuses.
const (
	PaymentStatusProcessing = "processing"
	PaymentStatusSucceeded  = "succeeded"
	PaymentStatusFailed     = "failed"
	// PaymentStatusRequiresAction: the customer must finish on the client (3-D Secure) with
	// client_secret.
	PaymentStatusRequiresAction = "requires_action"
	PaymentStatusCanceled       = "canceled"
)

// PaymentRequest is the body of POST /v1/orders/{id}/payment.
type PaymentRequest struct {
	OrderID       string `json:"order_id" path:"id"`
	PaymentMethod string `json:"payment_method" required:"true"`
}

// PaymentReply is a payment as its payer sees it.
type PaymentReply struct {
	ID       string `json:"id" required:"true"`
	OrderID  string `json:"order_id" required:"true"`
	Status   string `json:"status" required:"true" enum:"PaymentStatusProcessing"`
	Amount   Money  `json:"amount" required:"true"`
	Provider string `json:"provider" required:"true"`
	// ClientSecret lets a client finish a payment that requires action (Stripe).
	ClientSecret string `json:"client_secret,omitempty"`
	// FailureReason is the decline code when Status is failed.
	FailureReason string `json:"failure_reason,omitempty"`
}

// RefundRequest is the body of POST /v1/admin/orders/{id}/refund.
type RefundRequest struct {
	OrderID string `json:"order_id" path:"id"`
	// Amount in minor units; everything that remains when absent.
	Amount *int64 `json:"amount,omitempty"`
}

// Refund is one refund of an order's payment.
type Refund struct {
	ID        string `json:"id" required:"true"`
	OrderID   string `json:"order_id" required:"true"`
	PaymentID string `json:"payment_id" required:"true"`
	Amount    Money  `json:"amount" required:"true"`
	// Status is pending (the provider has not answered yet), succeeded or failed.
	Status    string    `json:"status" required:"true"`
	CreatedAt time.Time `json:"created_at" required:"true"`
}

// StripeWebhook is a webhook call as the gateway received it.
type StripeWebhook struct {
	Payload   []byte `json:"payload"`
	Signature string `json:"signature"`
}

// PaymentSucceeded is the payload of payment.succeeded: the order's amount was captured.
type PaymentSucceeded struct {
	EventID    string    `json:"event_id"`
	OccurredAt time.Time `json:"occurred_at"`
	OrderID    string    `json:"order_id"`
	UserID     string    `json:"user_id"`
	PaymentID  string    `json:"payment_id"`
	Amount     Money     `json:"amount"`
	Provider   string    `json:"provider"`
}

// PaymentFailedEvent is the payload of payment.failed: the provider declined.
type PaymentFailedEvent struct {
	EventID    string    `json:"event_id"`
	OccurredAt time.Time `json:"occurred_at"`
	OrderID    string    `json:"order_id"`
	UserID     string    `json:"user_id"`
	PaymentID  string    `json:"payment_id"`
	Amount     Money     `json:"amount"`
	Provider   string    `json:"provider"`
	// Reason is the decline code (card_declined, insufficient_funds…).
	Reason string `json:"reason"`
}

// PaymentRefunded is the payload of payment.refunded: one refund went through.
type PaymentRefunded struct {
	EventID    string    `json:"event_id"`
	OccurredAt time.Time `json:"occurred_at"`
	OrderID    string    `json:"order_id"`
	UserID     string    `json:"user_id"`
	PaymentID  string    `json:"payment_id"`
	RefundID   string    `json:"refund_id"`
	Amount     Money     `json:"amount"`
	// TotalRefunded is everything refunded of the payment so far.
	TotalRefunded Money `json:"total_refunded"`
}
