package notification

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/souk/souk/platform/background"
	"github.com/souk/souk/platform/consumer"
	"github.com/souk/souk/platform/pg"
	"github.com/souk/souk/platform/trace"
	"github.com/souk/souk/subjects"
)

// What the notification service consumes: one durable consumer per stream, one route per
// event kind it acts on. Every kind of ORDERS, PAYMENTS and SHIPPING goes to the webhooks
// subscribed to its type (subjects.WebhookEventTypes), and some become an email to the
// customer; the user events keep the recipient copy and send the verification email. It
// publishes nothing.

// consumers are the service's durable consumers; a batch they commit wakes the sender. The
// deliveries an event makes are unique by (event, channel, recipient) and inserted "on
// conflict do nothing", so the consumers of the saga's events keep no processed rows
// (Idempotent): a repeated event finds its deliveries made. The users' consumer keeps them:
// its recipient copy is rare work, and not worth the argument.
func consumers(wake *background.Kicker) []*consumer.Consumer {
	after := func([]consumer.Msg) { wake.Kick() }
	return []*consumer.Consumer{
		{Name: "notify-users", On: userRoutes, AfterCommit: after},
		{Name: "notify-orders", On: orderRoutes, AfterCommit: after, Idempotent: true, Prepare: subscribed},
		{Name: "notify-payments", On: paymentRoutes, AfterCommit: after, Idempotent: true, Prepare: subscribed},
		{Name: "notify-shipping", On: shipmentRoutes, AfterCommit: after, Idempotent: true, Prepare: subscribed},
	}
}

// subscribedKey is the context key of the event types some webhook endpoint subscribes to,
// as a consumer batch read them (subscribed).
type subscribedKey struct{}

// subscribed reads, for a batch of several events, the event types some webhook endpoint
// subscribes to, in one statement of the batch's transaction: the batch's events of any
// other type skip their fan-out insert, which would insert nothing (most shops subscribe
// to few types, or none: six statements of a checkout's sixty were such inserts). It is
// read again by every batch, so an endpoint created by any instance gets the events of the
// batches after its creation, as the fan-out's own read of the endpoints gives it; an
// endpoint created while a batch runs gets that batch's events or not, as before. A batch
// of one event reads nothing: its fan-out insert, in the round trip its email shares, says
// as much.
func subscribed(ctx context.Context, tx pgx.Tx, batch []consumer.Msg) (context.Context, error) {
	if len(batch) < 2 {
		return ctx, nil
	}
	var types []string
	if err := tx.QueryRow(ctx, `select coalesce(array_agg(distinct t), '{}') from notify.webhook_endpoints, unnest(events) t`).Scan(&types); err != nil {
		return ctx, fmt.Errorf("subscribed event types: %w", err)
	}
	set := make(map[string]bool, len(types))
	for _, t := range types {
		set[t] = true
	}
	return context.WithValue(ctx, subscribedKey{}, set), nil
}

// wanted tells whether an event of type typ may have webhook deliveries to write: an
// endpoint subscribes to it, or the batch did not read which types have one.
func wanted(ctx context.Context, typ string) bool {
	set, ok := ctx.Value(subscribedKey{}).(map[string]bool)
	return !ok || set[typ]
}

// orderRoutes: the order confirmation is sent on order.paid, not order.placed: a placed
// order may still be cancelled for want of stock or payment, and "confirmed, then cancelled"
// tells the customer less than one message. A cancellation for payment_failed sends no
// email: payment.failed has said it.
var orderRoutes = []consumer.Route{
	hook(subjects.EvtOrderPlaced),
	hook(subjects.EvtOrderReserved),
	notify(subjects.EvtOrderPaid, func(ev subjects.OrderPaid) (letter, bool) {
		return letter{TemplateOrderConfirmation, ev.UserID, Data{OrderID: ev.OrderID, Total: ev.Total, Lines: ev.Lines}}, true
	}),
	hook(subjects.EvtOrderFulfilling),
	notify(subjects.EvtOrderShipped, func(ev subjects.OrderFulfilment) (letter, bool) {
		return letter{TemplateShipped, ev.UserID, Data{OrderID: ev.OrderID, Carrier: ev.Shipment.Carrier, TrackingNumber: ev.Shipment.TrackingNumber}}, true
	}),
	notify(subjects.EvtOrderDelivered, func(ev subjects.OrderFulfilment) (letter, bool) {
		return letter{TemplateDelivered, ev.UserID, Data{OrderID: ev.OrderID, Lines: ev.Lines}}, true
	}),
	notify(subjects.EvtOrderCancelled, func(ev subjects.OrderCancelled) (letter, bool) {
		return letter{TemplateOrderCancelled, ev.UserID, Data{OrderID: ev.OrderID, Reason: ev.Reason}}, ev.Reason != subjects.ReasonPaymentFailed
	}),
}

var paymentRoutes = []consumer.Route{
	hook(subjects.EvtPaymentSucceeded),
	notify(subjects.EvtPaymentFailed, func(ev subjects.PaymentFailedEvent) (letter, bool) {
		return letter{TemplatePaymentFailed, ev.UserID, Data{OrderID: ev.OrderID, Amount: ev.Amount, Reason: ev.Reason}}, true
	}),
	notify(subjects.EvtPaymentRefunded, func(ev subjects.PaymentRefunded) (letter, bool) {
		return letter{TemplateRefund, ev.UserID, Data{OrderID: ev.OrderID, Amount: ev.Amount}}, true
	}),
}

// shipmentRoutes: the customer hears of the parcel from order.shipped and order.delivered;
// the shipment's own events go to webhooks only.
var shipmentRoutes = []consumer.Route{
	hook(subjects.EvtShipmentCreated), hook(subjects.EvtShipmentPacked), hook(subjects.EvtShipmentShipped),
	hook(subjects.EvtShipmentInTransit), hook(subjects.EvtShipmentDelivered), hook(subjects.EvtShipmentCancelled),
}

// userRoutes keep the recipient copy; a registration also sends its verification link, and
// the account flows their links and notices. User events never go to webhooks: they carry
// personal data and secrets.
var userRoutes = []consumer.Route{
	consumer.On(subjects.EvtUserRegistered, registered),
	consumer.On(subjects.EvtUserUpdated, func(ctx context.Context, tx pgx.Tx, ev subjects.UserUpdated) error {
		_, err := keep(ctx, tx, Recipient{Email: ev.Email, Name: ev.Name, Locale: ev.Locale}, ev.UserID, ev.OccurredAt)
		return err
	}),
	consumer.On(subjects.EvtUserVerificationRequested, func(ctx context.Context, tx pgx.Tx, ev subjects.UserLink) error {
		return mailUser(ctx, tx, subjects.EvtUserVerificationRequested.EventKind, ev.UserID,
			email{template: TemplateVerifyEmail, secret: true}, Data{VerifyLink: ev.Link})
	}),
	consumer.On(subjects.EvtUserEmailChangeRequested, emailChangeRequested),
	consumer.On(subjects.EvtUserPasswordResetRequested, func(ctx context.Context, tx pgx.Tx, ev subjects.UserLink) error {
		return mailUser(ctx, tx, subjects.EvtUserPasswordResetRequested.EventKind, ev.UserID,
			email{template: TemplatePasswordReset, secret: true}, Data{ResetLink: ev.Link})
	}),
	consumer.On(subjects.EvtUserPasswordChanged, func(ctx context.Context, tx pgx.Tx, ev subjects.UserPasswordChanged) error {
		return mailUser(ctx, tx, subjects.EvtUserPasswordChanged.EventKind, ev.UserID,
			email{template: TemplatePasswordChanged}, Data{Reason: ev.Reason})
	}),
}

// emailChangeRequested mails the link to the new address and a notice to the current one,
// as the recipient copy knows it now (the change may be confirmed before the notice goes
// out). The two deliveries of the one event are told apart by the notice's event id suffix.
func emailChangeRequested(ctx context.Context, tx pgx.Tx, ev subjects.UserLink) error {
	if ev.Email == "" {
		return consumer.Permanent(fmt.Errorf("%s: no email", consumer.MsgOf(ctx).Subject))
	}
	var current string
	err := tx.QueryRow(ctx, `select email from notify.recipients where user_id = $1`, ev.UserID).Scan(&current)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return err
	}
	kind := subjects.EvtUserEmailChangeRequested.EventKind
	if err := mailUser(ctx, tx, kind, ev.UserID, email{template: TemplateEmailChange, secret: true}, Data{VerifyLink: ev.Link, To: ev.Email}); err != nil {
		return err
	}
	return mailUser(ctx, tx, kind, ev.UserID, email{template: TemplateEmailChangeNotice, eventID: consumer.MsgOf(ctx).EventID + "/notice", secret: true},
		Data{To: current, NewEmail: MaskEmail(ev.Email)})
}

// mailUser writes the email e (its template, its secret flag, its event id when it is not the
// message's) with data to user userID, for the user event of kind being consumed.
func mailUser(ctx context.Context, tx pgx.Tx, kind subjects.EventKind, userID string, e email, data Data) error {
	id, err := consumer.ID("user_id", userID)
	if err != nil {
		return err
	}
	m := consumer.MsgOf(ctx)
	if e.eventID == "" {
		e.eventID = m.EventID
	}
	if e.data, err = json.Marshal(data); err != nil {
		return err
	}
	e.userID, e.eventType, e.traceParent = id, typeOf(kind), trace.Parent(ctx)
	b := &pgx.Batch{}
	queueEmail(b, e)
	return pg.Send(ctx, tx, b)
}

// MaskEmail shows enough of an address for its owner to recognise it and little to anyone
// else: the first character of the local part and the domain (a***@example.org).
func MaskEmail(addr string) string {
	local, domain, ok := strings.Cut(addr, "@")
	if !ok || local == "" {
		return "***"
	}
	r, _ := utf8.DecodeRuneInString(local)
	return string(r) + "***@" + domain
}

// letter is the email an event becomes: its template, its recipient and its data.
type letter struct {
	template string
	userID   string
	data     Data
}

// hook routes the events of evt to the webhooks subscribed to their type.
func hook[E any](evt subjects.Event[E]) consumer.Route { return notify(evt, nil) }

// notify routes the events of evt to the webhooks subscribed to their type and, when mail
// says so, to their customer as the letter it returns.
func notify[E any](evt subjects.Event[E], mail func(E) (letter, bool)) consumer.Route {
	typ := typeOf(evt.EventKind)
	hooked := webhookTypes[typ]
	return consumer.On(subjects.Event[notice[E]]{EventKind: evt.EventKind}, func(ctx context.Context, tx pgx.Tx, n notice[E]) error {
		m := consumer.MsgOf(ctx)
		b := &pgx.Batch{} // the webhook deliveries and the email in one round trip
		if hooked && wanted(ctx, typ) {
			if err := queueEventWebhooks(b, m, typ, n.occurredAt, trace.Parent(ctx)); err != nil {
				return err
			}
		}
		if mail != nil {
			if l, ok := mail(n.event); ok {
				if err := queueLetter(b, m, typ, l, trace.Parent(ctx)); err != nil {
					return err
				}
			}
		}
		return pg.Send(ctx, tx, b)
	})
}

// notice is an event as notify reads it: its typed payload, and the occurred_at that every
// event carries and every webhook body repeats, whatever the event's type.
type notice[E any] struct {
	event      E
	occurredAt time.Time
}

// UnmarshalJSON decodes the payload and its occurred_at.
func (n *notice[E]) UnmarshalJSON(data []byte) error {
	var head struct {
		OccurredAt time.Time `json:"occurred_at"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return err
	}
	n.occurredAt = head.OccurredAt
	return json.Unmarshal(data, &n.event)
}

// typeOf is the type of an event kind as webhooks and deliveries name it: "<domain>.<event>"
// (order.paid for souk.evt.order.paid).
func typeOf(k subjects.EventKind) string { return strings.TrimPrefix(k.Kind, "souk.evt.") }

// webhookTypes are the event types that go to webhooks.
var webhookTypes = func() map[string]bool {
	m := make(map[string]bool, len(subjects.WebhookEventTypes))
	for _, t := range subjects.WebhookEventTypes {
		m[t] = true
	}
	return m
}()

// queueLetter queues into b the email delivery of l, the letter of event m (of type typ),
// to be sent in the trace of traceParent.
func queueLetter(b *pgx.Batch, m consumer.Msg, typ string, l letter, traceParent string) error {
	userID, err := consumer.ID("user_id", l.userID)
	if err != nil {
		return err
	}
	body, err := json.Marshal(l.data)
	if err != nil {
		return err
	}
	queueEmail(b, email{eventID: m.EventID, eventType: typ, template: l.template, userID: userID, data: body, traceParent: traceParent})
	return nil
}

// queueEventWebhooks queues into b the event's deliveries to the endpoints subscribed to typ.
// The body is the event as it was published, under {id, type, occurred_at, data}; they are
// sent in the trace of traceParent.
func queueEventWebhooks(b *pgx.Batch, m consumer.Msg, typ string, occurredAt time.Time, traceParent string) error {
	if occurredAt.IsZero() {
		occurredAt = time.Now()
	}
	body, err := json.Marshal(subjects.WebhookEvent{ID: m.EventID, Type: typ, OccurredAt: occurredAt.UTC(), Data: m.Data})
	if err != nil {
		return err
	}
	queueWebhooks(b, m.EventID, typ, body, traceParent)
	return nil
}

// registered keeps the new customer's recipient copy and, when the registration has a link,
// writes the verification email. The link is a secret: its delivery is marked so, and wiped
// once done.
func registered(ctx context.Context, tx pgx.Tx, ev subjects.UserRegistered) error {
	id, err := keep(ctx, tx, Recipient{Email: ev.Email, Name: ev.Name, Locale: ev.Locale}, ev.UserID, ev.OccurredAt)
	if err != nil || ev.VerifyLink == "" {
		return err
	}
	body, err := json.Marshal(Data{VerifyLink: ev.VerifyLink})
	if err != nil {
		return err
	}
	b := &pgx.Batch{}
	queueEmail(b, email{eventID: consumer.MsgOf(ctx).EventID, eventType: typeOf(subjects.EvtUserRegistered.EventKind),
		template: TemplateVerifyEmail, userID: id, data: body, secret: true, traceParent: trace.Parent(ctx)})
	return pg.Send(ctx, tx, b)
}

// keep writes r, the contact details of user userID as of version, into the recipient copy,
// and returns the user's id. A user event without a user id or an email is permanent.
func keep(ctx context.Context, tx pgx.Tx, r Recipient, userID string, version time.Time) (uuid.UUID, error) {
	id, err := uuid.Parse(userID)
	if err != nil || r.Email == "" {
		return uuid.Nil, consumer.Permanent(fmt.Errorf("%s: bad user_id or email", consumer.MsgOf(ctx).Subject))
	}
	r.UserID = id
	return id, keepRecipient(ctx, tx, r, version)
}
