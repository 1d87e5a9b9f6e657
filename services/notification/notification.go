// Package notification is Souk's notification service: it tells customers what happened to
// their account and their orders, by email in their language, and tells the systems staff
// register what happened in the shop, by signed outgoing webhooks.
//
// It owns the PostgreSQL schema "notify": recipients (its copy of the customers' contact
// details, kept from the USERS stream), webhook_endpoints, deliveries (one row per event,
// channel and recipient, the unique key that makes a redelivered event a no-op), attempts
// (every try of every delivery), and its outbox-free consumer's processed table.
//
// Durable consumers (platform/consumer): notify-users on USERS (user.registered → the
// verification email; both user events keep the recipient copy), notify-orders on ORDERS
// (order.paid → order confirmation, order.cancelled → cancellation, order.shipped → shipped
// with tracking, order.delivered → delivered with review links), notify-payments on
// PAYMENTS (payment.failed, payment.refunded) and notify-shipping on SHIPPING, each taking
// only the kinds it routes (events.go). Every event of a webhook type (all the kinds of
// ORDERS, PAYMENTS and SHIPPING) also becomes one webhook delivery per endpoint subscribed
// to its type. A consumer only writes deliveries; the sender loop sends them (claimed
// with FOR UPDATE SKIP LOCKED), retries failures with exponential back-off, and gives up
// after MaxAttempts with the last error kept.
//
// It serves subjects.NotificationList (customer) and subjects.Webhook* (admin) as the micro
// service "notification".
package notification

import (
	"errors"
	"time"

	"github.com/google/uuid"

	"github.com/souk/souk/subjects"
)

// Domain errors; wireError in handlers.go maps them to the wire.
var (
	// ErrNotFound is an unknown webhook endpoint.
	ErrNotFound = errors.New("not found")
	// errNoRecipient: an email's user is not (yet) in the recipient copy; the user event
	// may still be on its way, so the delivery is tried again.
	errNoRecipient = errors.New("recipient unknown: no user event about them has arrived")
	// errUnknownChannel: a delivery of a channel this instance does not have.
	errUnknownChannel = errors.New("unknown channel")
)

// permanentError is a delivery failure no retry can fix (a message that does not render,
// a mailbox the server refuses for good): the delivery fails at once.
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

func permanent(err error) error { return permanentError{err} }

func isPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p)
}

// Recipient is a customer as the notification service knows them.
type Recipient struct {
	UserID uuid.UUID
	Email  string
	Name   string
	// Locale is a BCP 47 tag; the templates' language is matched to it.
	Locale string
}

// Endpoint is a registered webhook endpoint.
type Endpoint struct {
	ID     uuid.UUID
	URL    string
	Events []string
	// Secret keys the deliveries' HMAC. It leaves the service only in the reply that
	// created the endpoint.
	Secret    string
	CreatedAt time.Time
}

// Delivery is one message of one event on one channel to one recipient, as the worker
// claims it.
type Delivery struct {
	ID        uuid.UUID
	EventID   string
	EventType string
	// Channel is subjects.ChannelEmail or subjects.ChannelWebhook.
	Channel string
	// Template is the email's message (empty for webhooks).
	Template string
	// Payload is the email's Data as JSON, or the webhook's body.
	Payload []byte
	// Attempts counts the tries, this one included.
	Attempts int
	// Recipient is the email's addressee; nil when the copy does not know them yet.
	Recipient *Recipient
	// Endpoint is the webhook's endpoint.
	Endpoint *Endpoint
	// TraceParent is the trace context of the event's handling that queued it: it is sent
	// in that trace (platform/trace.Resume).
	TraceParent string
}

// outcome is what one attempt of a delivery came to.
type outcome struct {
	id       uuid.UUID
	attempts int
	sent     Sent
	err      error
}

// status is the delivery status an outcome leads to after attempts of maxAttempts.
func (o outcome) status(maxAttempts int) string {
	switch {
	case o.err == nil:
		return subjects.DeliverySent
	case isPermanent(o.err) || o.attempts >= maxAttempts:
		return subjects.DeliveryFailed
	default:
		return subjects.DeliveryPending
	}
}
