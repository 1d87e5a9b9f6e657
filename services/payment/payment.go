// Package payment is Souk's payment service: it collects an order's total through a
// payment provider (the sandbox, or Stripe through stripe-go), takes the provider's
// webhooks, and refunds.
//
// It owns the PostgreSQL schema "payments": its copy of orders (kept from the ORDERS stream
// by the durable consumer "payment-orders"), payments, refunds, the provider events it has
// applied (webhook_events), its outbox and its processed table. It serves
// souk.payment.v1.payment.create, .refund.create and .webhook.stripe, and publishes
// souk.evt.payment.{succeeded,failed,refunded}.<order id> on the PAYMENTS stream.
//
// No database transaction is ever held across a provider call: a payment (or refund) row is
// written and committed first, the provider is called with the row id as its idempotency
// key, and the answer is recorded in a second transaction. A worker finishes what a crash
// interrupted (rows still created or pending are sent again with the same key) and
// reconciles payments left undecided (Retrieve). Every outcome, whichever way it arrives
// (the synchronous answer, a webhook, a sandbox notice, reconciliation), goes through one
// function that changes a payment only while it is undecided, so it is applied once.
//
// Nothing is charged for a cancelled order: the worker claims a payment with its order's
// row and cancels one still created (never sent) when the order is cancelled, publishing
// nothing. A create whose answer was lost is looked up (Provider.Find) before it is sent
// again, since Stripe replays a stored 500 for its key. A success that comes after a
// payment was recorded failed is refunded (reason late_success, once per payment); a
// failed intent is cancelled at the provider, and one left requires_action past
// Config.ActionTimeout is cancelled there and fails action_timeout.
//
// No card data is stored or logged: a payment method is a provider id (pm_…) only, and the
// client secret of an intent is handed to the payer and never kept.
package payment

import (
	"errors"
	"time"

	"github.com/google/uuid"

	"github.com/souk/souk/subjects"
)

// statusCreated is a payment written but not (known to be) sent to the provider yet. The
// payer sees it as processing.
const statusCreated = "created"

// Refund statuses.
const (
	refundPending   = "pending"
	refundSucceeded = "succeeded"
	refundFailed    = "failed"
)

// Why a refund was made.
const (
	reasonRequested    = "requested"    // an admin asked (PaymentRefund)
	reasonCancellation = "cancellation" // the order was cancelled after its payment was captured
	reasonLateSuccess  = "late_success" // the provider captured a payment recorded failed or canceled
)

// Order statuses of the service's copy of orders: the order service's statuses folded into
// the four that matter to payment.
const (
	orderPlaced    = "placed"
	orderReserved  = "reserved"
	orderPaid      = "paid"
	orderCancelled = "cancelled"
)

// Decline codes this service gives itself (the provider's own come through as they are).
const (
	// declineInvalidMethod: the provider does not know the payment method of an order.
	declineInvalidMethod = "invalid_payment_method"
	// declineRejected: the provider refused the request itself (not the card).
	declineRejected = "provider_rejected"
	// declineOrderCancelled: the order was cancelled before its payment reached the
	// provider; it was never sent.
	declineOrderCancelled = "order_cancelled"
	// declineActionTimeout: the payer did not act (3-D Secure, another card) within
	// Config.ActionTimeout; the intent was cancelled at the provider.
	declineActionTimeout = "action_timeout"
)

// Domain errors; wireError maps them to the wire.
var (
	// ErrOrderNotFound: no such order, or not the caller's (404).
	ErrOrderNotFound = errors.New("order not found")
	// ErrOrderCancelled: a cancelled order is not paid (409 order_cancelled).
	ErrOrderCancelled = errors.New("order cancelled")
	// ErrAlreadyPaid: the order is paid, or its payment succeeded (409 already_paid).
	ErrAlreadyPaid = errors.New("order already paid")
	// ErrNothingToPay: the order's total is zero or unknown (409 nothing_to_pay).
	ErrNothingToPay = errors.New("order total is zero")
	// ErrNothingCaptured: no payment of the order succeeded, so nothing is refundable (409).
	ErrNothingCaptured = errors.New("nothing captured")
	// ErrFullyRefunded: everything captured is refunded or being refunded (409).
	ErrFullyRefunded = errors.New("everything captured is refunded")
	// ErrExceedsCaptured: a refund larger than what remains (422 refund_exceeds_captured).
	ErrExceedsCaptured = errors.New("refund exceeds what remains captured")
)

// Order is the service's copy of an order.
type Order struct {
	ID     uuid.UUID
	UserID string
	// Total is unknown (zero Currency) until the order's placed or reserved event is seen.
	Total         subjects.Money
	Status        string
	PaymentMethod string
	// TraceParent is the trace context of the first of its events applied here: its
	// checkout's trace, which the payer's own request resumes (platform/trace.Resume).
	TraceParent string
}

// orderStatus folds an order service status into the copy's: what payment needs to know
// is whether the order may be paid, is paid, or is cancelled.
func orderStatus(s string) (string, bool) {
	switch s {
	case subjects.OrderStatusPending:
		return orderPlaced, true
	case subjects.OrderStatusReserved:
		return orderReserved, true
	case subjects.OrderStatusPaid, subjects.OrderStatusFulfilling, subjects.OrderStatusShipped, subjects.OrderStatusDelivered:
		return orderPaid, true
	case subjects.OrderStatusCancelled:
		return orderCancelled, true
	}
	return "", false
}

// Payment is one attempt to collect an order's total.
type Payment struct {
	ID          uuid.UUID
	OrderID     uuid.UUID
	UserID      string
	Amount      subjects.Money
	Method      string
	Provider    string
	ProviderRef string
	Status      string
	DeclineCode string
	CreatedAt   time.Time
	// TraceParent is the trace context of the checkout step that started the payment
	// (platform/trace.Parent); its later steps resume it.
	TraceParent string
}

// decided reports whether status is final: a decided payment never changes again.
func decided(status string) bool {
	switch status {
	case subjects.PaymentStatusSucceeded, subjects.PaymentStatusFailed, subjects.PaymentStatusCanceled:
		return true
	}
	return false
}

// wire is the payment as its payer sees it; clientSecret, from the provider's answer, is
// passed through and never stored.
func (p Payment) wire(clientSecret string) subjects.PaymentReply {
	status := p.Status
	if status == statusCreated {
		status = subjects.PaymentStatusProcessing // the payer cannot tell, and need not
	}
	r := subjects.PaymentReply{ID: p.ID.String(), OrderID: p.OrderID.String(), Status: status,
		Amount: p.Amount, Provider: p.Provider}
	if status == subjects.PaymentStatusRequiresAction {
		r.ClientSecret = clientSecret
	}
	if status == subjects.PaymentStatusFailed || status == subjects.PaymentStatusCanceled {
		r.FailureReason = p.DeclineCode
	}
	return r
}

// Refund is one refund of a captured payment.
type Refund struct {
	ID          uuid.UUID
	PaymentID   uuid.UUID
	OrderID     uuid.UUID
	Amount      subjects.Money
	Status      string
	Reason      string
	ProviderRef string
	CreatedAt   time.Time
}

func (r Refund) wire() subjects.Refund {
	return subjects.Refund{ID: r.ID.String(), OrderID: r.OrderID.String(), PaymentID: r.PaymentID.String(),
		Amount: r.Amount, Status: r.Status, CreatedAt: r.CreatedAt.UTC()}
}

// newID returns a new time-ordered id.
func newID() uuid.UUID { return uuid.Must(uuid.NewV7()) }
