package subjects

import (
	"encoding/json"
	"time"
)

// The notification service: what the shop tells its customers (email in their language)
// and the outgoing webhooks staff register, with every delivery recorded.
var (
	// NotificationList lists what was sent to the caller, newest first (customer).
	NotificationList = Endpoint[ListRequest, NotificationPage]{Subject: "souk.notification.v1.notification.list", Access: profileAccess}
	// WebhookCreate registers a URL for event types; the reply carries the signing secret,
	// the only time it is shown (admin). A bad URL or an unknown event type is 400 naming
	// the field.
	WebhookCreate = Endpoint[WebhookCreateRequest, Webhook]{Subject: "souk.notification.v1.webhook.create", Access: Require(PermWebhooksAdmin)}
	// WebhookList lists the endpoints with their recent deliveries, never their secrets
	// (admin).
	WebhookList = Endpoint[ListRequest, WebhookPage]{Subject: "souk.notification.v1.webhook.list", Access: Require(PermWebhooksAdmin)}
	// WebhookDelete removes an endpoint and its deliveries (admin); an unknown one is 404.
	WebhookDelete = Endpoint[WebhookIDRequest, Empty]{Subject: "souk.notification.v1.webhook.delete", Access: Require(PermWebhooksAdmin)}
)

// Channels a delivery goes out on.
const (
	ChannelEmail   = "email"
	ChannelWebhook = "webhook"
)

// Delivery statuses: pending until it went out (sent) or was given up on (failed, with the
// last error kept).
const (
	DeliveryPending = "pending"
	DeliverySent    = "sent"
	DeliveryFailed  = "failed"
)

// WebhookSignatureHeader carries "t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">"
// keyed with the endpoint's secret.
const WebhookSignatureHeader = "Souk-Signature"

// WebhookEventTypes are the event types an endpoint may subscribe to: "<domain>.<event>" of
// the events on the ORDERS, PAYMENTS and SHIPPING streams.
var WebhookEventTypes = []string{
	"order.placed", "order.reserved", "order.paid", "order.fulfilling", "order.shipped", "order.delivered", "order.cancelled",
	"payment.succeeded", "payment.failed", "payment.refunded",
	"shipping.created", "shipping.packed", "shipping.shipped", "shipping.in_transit", "shipping.delivered", "shipping.cancelled",
}

// Notification is one message sent (or being sent) to a customer.
type Notification struct {
	ID string `json:"id" required:"true"`
	// Channel is email.
	Channel string `json:"channel" required:"true" enum:"ChannelEmail"`
	// Template names the message: verify_email, order_confirmation, payment_failed,
	// order_cancelled, refund, shipped, delivered.
	Template string `json:"template" required:"true"`
	// Lang and Subject are the language an email was written in (en, de, fr: the
	// customer's locale, or its fallback) and its subject line, once it is sent.
	Lang    string `json:"lang,omitempty"`
	Subject string `json:"subject,omitempty"`
	// Status is pending, sent or failed.
	Status    string     `json:"status" required:"true" enum:"DeliveryPending"`
	SentAt    *time.Time `json:"sent_at,omitempty"`
	CreatedAt time.Time  `json:"created_at" required:"true"`
}

// NotificationPage is one page of the caller's notifications.
type NotificationPage struct {
	Items      []Notification `json:"items" required:"true"`
	NextCursor string         `json:"next_cursor,omitempty"`
}

// WebhookCreateRequest is the body of POST /v1/admin/webhooks.
type WebhookCreateRequest struct {
	// URL is an http or https URL that receives the deliveries.
	URL string `json:"url" required:"true"`
	// Events are event types of WebhookEventTypes ("order.paid", …).
	Events []string `json:"events" required:"true" enum:"WebhookEventTypes"`
}

// WebhookIDRequest names one webhook endpoint.
type WebhookIDRequest struct {
	ID string `json:"id"`
}

// Webhook is a registered endpoint. Secret is filled in only in the reply to its creation.
type Webhook struct {
	ID     string   `json:"id" required:"true"`
	URL    string   `json:"url" required:"true"`
	Events []string `json:"events" required:"true" enum:"WebhookEventTypes"`
	// Secret keys the HMAC of Souk-Signature; shown once, when the endpoint is created.
	Secret    string    `json:"secret,omitempty"`
	CreatedAt time.Time `json:"created_at" required:"true"`
	// Deliveries are the most recent deliveries, newest first (in lists only).
	Deliveries []WebhookDelivery `json:"deliveries,omitempty"`
}

// WebhookDelivery is one event sent (or being sent) to an endpoint.
type WebhookDelivery struct {
	ID      string `json:"id" required:"true"`
	EventID string `json:"event_id" required:"true"`
	Type    string `json:"type" required:"true" enum:"WebhookEventTypes"`
	// Status is pending, sent or failed.
	Status   string `json:"status" required:"true" enum:"DeliveryPending"`
	Attempts int    `json:"attempts" required:"true"`
	// LastError is why the last attempt failed.
	LastError string     `json:"last_error,omitempty"`
	SentAt    *time.Time `json:"sent_at,omitempty"`
	CreatedAt time.Time  `json:"created_at" required:"true"`
}

// WebhookPage is one page of webhook endpoints.
type WebhookPage struct {
	Items      []Webhook `json:"items" required:"true"`
	NextCursor string    `json:"next_cursor,omitempty"`
}

// WebhookEvent is the body of an outgoing webhook delivery. ID is the event id: a receiver
// that sees it twice (a retry after a lost answer) has seen the event already.
type WebhookEvent struct {
	ID         string          `json:"id"`
	Type       string          `json:"type"`
	OccurredAt time.Time       `json:"occurred_at"`
	Data       json.RawMessage `json:"data"`
}
