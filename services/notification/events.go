package notification

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/souk/souk/platform/consumer"
	"github.com/souk/souk/platform/pg"
	"github.com/souk/souk/subjects"
)

// The durable consumers, one per stream. Each takes the whole stream: every event of ORDERS,
// PAYMENTS and SHIPPING may go to a webhook; the handler picks what also becomes an email.
var streams = []struct{ consumer, stream string }{
	{"notify-users", "USERS"},
	{"notify-orders", "ORDERS"},
	{"notify-payments", "PAYMENTS"},
	{"notify-shipping", "SHIPPING"},
}

// eventType is the type of the event on subject souk.evt.<domain>.<event>.<id>:
// "<domain>.<event>", as webhooks name it; "" for any other subject.
func eventType(subject string) string {
	parts := strings.Split(subject, ".")
	if len(parts) != 5 || parts[0] != "souk" || parts[1] != "evt" {
		return ""
	}
	return parts[2] + "." + parts[3]
}

// emailOf says which email, if any, an event of type typ becomes: its template, its
// recipient and its data. ok is false for events no customer is told about.
type emailOf func(data []byte) (template string, userID string, d Data, ok bool, err error)

// emails maps event types to the email they become. Order confirmation is sent on
// order.paid, not order.placed: a placed order may still be cancelled for want of stock or
// payment, and "confirmed, then cancelled" tells the customer less than one message. A
// cancellation for payment_failed sends nothing: payment.failed has said it.
var emails = map[string]emailOf{
	"order.paid": decode(func(ev subjects.OrderPaid) (string, string, Data, bool) {
		return TemplateOrderConfirmation, ev.UserID, Data{OrderID: ev.OrderID, Total: ev.Total, Lines: ev.Lines}, true
	}),
	"order.cancelled": decode(func(ev subjects.OrderCancelled) (string, string, Data, bool) {
		return TemplateOrderCancelled, ev.UserID, Data{OrderID: ev.OrderID, Reason: ev.Reason}, ev.Reason != subjects.ReasonPaymentFailed
	}),
	"order.shipped": decode(func(ev subjects.OrderFulfilment) (string, string, Data, bool) {
		return TemplateShipped, ev.UserID, Data{OrderID: ev.OrderID, Carrier: ev.Shipment.Carrier, TrackingNumber: ev.Shipment.TrackingNumber}, true
	}),
	"order.delivered": decode(func(ev subjects.OrderFulfilment) (string, string, Data, bool) {
		return TemplateDelivered, ev.UserID, Data{OrderID: ev.OrderID, Lines: ev.Lines}, true
	}),
	"payment.failed": decode(func(ev subjects.PaymentFailedEvent) (string, string, Data, bool) {
		return TemplatePaymentFailed, ev.UserID, Data{OrderID: ev.OrderID, Amount: ev.Amount, Reason: ev.Reason}, true
	}),
	"payment.refunded": decode(func(ev subjects.PaymentRefunded) (string, string, Data, bool) {
		return TemplateRefund, ev.UserID, Data{OrderID: ev.OrderID, Amount: ev.Amount}, true
	}),
}

func decode[E any](fn func(E) (string, string, Data, bool)) emailOf {
	return func(data []byte) (string, string, Data, bool, error) {
		var ev E
		if err := json.Unmarshal(data, &ev); err != nil {
			return "", "", Data{}, false, err
		}
		t, u, d, ok := fn(ev)
		return t, u, d, ok, nil
	}
}

// webhookTypes are the event types that go to webhooks (user events never do: they carry
// personal data and secrets).
var webhookTypes = func() map[string]bool {
	m := make(map[string]bool, len(subjects.WebhookEventTypes))
	for _, t := range subjects.WebhookEventTypes {
		m[t] = true
	}
	return m
}()

// apply is the handler of every consumer: the event's webhook deliveries and its email, or,
// for user events, the recipient copy and the verification email. An event it cannot read
// is permanent: no retry makes it readable.
func apply(ctx context.Context, tx pgx.Tx, m consumer.Msg) error {
	typ := eventType(m.Subject)
	switch typ {
	case "user.registered", "user.updated":
		return applyUser(ctx, tx, m, typ)
	case "":
		return nil
	}
	b := &pgx.Batch{} // the webhook deliveries and the email in one round trip
	if webhookTypes[typ] {
		if err := queueEventWebhooks(b, m, typ); err != nil {
			return err
		}
	}
	if err := queueEventEmail(b, m, typ); err != nil {
		return err
	}
	return pg.Send(ctx, tx, b)
}

// queueEventEmail queues into b the email event m (of type typ) sends, if any.
func queueEventEmail(b *pgx.Batch, m consumer.Msg, typ string) error {
	of, ok := emails[typ]
	if !ok {
		return nil
	}
	template, user, data, sends, err := of(m.Data)
	if err != nil {
		return consumer.Permanent(fmt.Errorf("%s: unreadable payload: %w", m.Subject, err))
	}
	if !sends {
		return nil
	}
	userID, err := uuid.Parse(user)
	if err != nil {
		return consumer.Permanent(fmt.Errorf("%s: user_id %q: %w", m.Subject, user, err))
	}
	body, err := json.Marshal(data)
	if err != nil {
		return err
	}
	queueEmail(b, email{eventID: m.EventID, eventType: typ, template: template, userID: userID, data: body})
	return nil
}

// queueEventWebhooks queues into b the event's deliveries to the endpoints subscribed to typ.
// The body is the event as it was published, under {id, type, occurred_at, data}.
func queueEventWebhooks(b *pgx.Batch, m consumer.Msg, typ string) error {
	var head struct {
		OccurredAt time.Time `json:"occurred_at"`
	}
	if err := json.Unmarshal(m.Data, &head); err != nil {
		return consumer.Permanent(fmt.Errorf("%s: unreadable payload: %w", m.Subject, err))
	}
	if head.OccurredAt.IsZero() {
		head.OccurredAt = time.Now()
	}
	body, err := json.Marshal(subjects.WebhookEvent{ID: m.EventID, Type: typ, OccurredAt: head.OccurredAt.UTC(), Data: m.Data})
	if err != nil {
		return err
	}
	queueWebhooks(b, m.EventID, typ, body)
	return nil
}

// applyUser keeps the recipient copy and, for a registration with a link, writes the
// verification email. The link is a secret: its delivery is marked so, and wiped once done.
func applyUser(ctx context.Context, tx pgx.Tx, m consumer.Msg, typ string) error {
	var ev subjects.UserRegistered // user.updated has the same fields but the link
	if err := json.Unmarshal(m.Data, &ev); err != nil {
		return consumer.Permanent(fmt.Errorf("%s: unreadable payload: %w", m.Subject, err))
	}
	id, err := uuid.Parse(ev.UserID)
	if err != nil || ev.Email == "" {
		return consumer.Permanent(fmt.Errorf("%s: bad user_id or email", m.Subject))
	}
	if err := keepRecipient(ctx, tx, Recipient{UserID: id, Email: ev.Email, Name: ev.Name, Locale: ev.Locale}, ev.OccurredAt); err != nil {
		return err
	}
	if typ != "user.registered" || ev.VerifyLink == "" {
		return nil
	}
	body, err := json.Marshal(Data{VerifyLink: ev.VerifyLink})
	if err != nil {
		return err
	}
	b := &pgx.Batch{}
	queueEmail(b, email{eventID: m.EventID, eventType: typ, template: TemplateVerifyEmail, userID: id, data: body, secret: true})
	return pg.Send(ctx, tx, b)
}
