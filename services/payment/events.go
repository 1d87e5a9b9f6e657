package payment

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/souk/souk/platform/consumer"
	"github.com/souk/souk/platform/outbox"
	"github.com/souk/souk/platform/pg"
	"github.com/souk/souk/platform/trace"
	"github.com/souk/souk/subjects"
)

// What the payment service consumes: order.reserved and order.cancelled, on the durable
// consumer payment-orders. It publishes on PAYMENTS: payment.succeeded, failed (see
// store.recordIntent) and refunded (recordRefund), each through the outbox in the
// transaction of the change.

// orders routes the order events into the copy: reserved is remembered and, with a payment
// method, starts the payment (the provider is called by the worker after the commit);
// cancelled refunds what was captured. order.reserved carries all a payment needs (the
// owner, the total, the method), so the copy takes no other event: order.placed and
// order.paid told it nothing a payment uses, at two applied events per checkout (issue 17).
// An order the payer pays before it is reserved is asked of the order service (askOrder).
// Both handlers are idempotent by the copy's state: the order's row lock, a status that
// never moves back, at most one live payment and one cancellation refund per order (unique
// indexes); so the consumer keeps no processed rows.
func (s *service) orders() []consumer.Route {
	return []consumer.Route{
		keep(s, subjects.EvtOrderReserved, orderReserved, func(ev subjects.OrderReserved) orderNews {
			return orderNews{OrderID: ev.OrderID, UserID: ev.UserID, Total: ev.Total, PaymentMethod: ev.PaymentMethod}
		}),
		// A cancellation's total says nothing new.
		keep(s, subjects.EvtOrderCancelled, orderCancelled, func(ev subjects.OrderCancelled) orderNews {
			return orderNews{OrderID: ev.OrderID, UserID: ev.UserID}
		}),
	}
}

// orderNews is what an order event says of its order; each kind fills what it carries.
type orderNews struct {
	OrderID, UserID string
	// Total is the zero Money when the event does not say: the copy's total stays as it is.
	Total         subjects.Money
	PaymentMethod string
}

// keep routes the events of evt into the copy, as the copy's status: news reads the order
// from the payload.
func keep[E any](s *service, evt subjects.Event[E], status string, news func(E) orderNews) consumer.Route {
	return consumer.On(evt, func(ctx context.Context, tx pgx.Tx, ev E) error {
		return s.applyOrder(ctx, tx, evt.Kind, status, news(ev))
	})
}

// applyOrder keeps the copy of order n, in status, in the consumer's transaction (see
// orders). An event whose ids or total make no sense is permanent: no retry fixes it.
func (s *service) applyOrder(ctx context.Context, tx pgx.Tx, kind, status string, n orderNews) error {
	id, err := uuid.Parse(n.OrderID)
	if err != nil || checkText(n.UserID, maxKeyBytes) != "" {
		return consumer.Permanent(fmt.Errorf("%s: bad order_id or user_id", kind))
	}
	o := Order{ID: id, UserID: n.UserID, Status: status, TraceParent: trace.Parent(ctx)}
	if n.Total != (subjects.Money{}) { // an event without one leaves the total unknown
		if !validMoney(n.Total) {
			return consumer.Permanent(fmt.Errorf("%s %s: bad total", kind, id))
		}
		o.Total = n.Total
	}
	if checkText(n.PaymentMethod, maxMethodBytes) == "" {
		o.PaymentMethod = n.PaymentMethod
	}
	switch {
	case status == orderCancelled:
		_, err := s.store.cancelOrder(ctx, tx, o)
		return err
	case status == orderReserved && n.PaymentMethod != "":
		return s.startPayment(ctx, tx, o, n.PaymentMethod)
	}
	_, err = s.store.upsertOrder(ctx, tx, o)
	return err
}

// startPayment merges the reserved order o into the copy and writes a payment of it with
// the payment method given at checkout, due for the worker at once, unless the order is not
// payable or has a live payment already (a redelivered or repeated reserved event). A
// method the provider cannot charge is decided at once: the payment fails with
// invalid_payment_method.
func (s *service) startPayment(ctx context.Context, tx pgx.Tx, o Order, method string) error {
	p := newPayment(o, method, s.provider.Name())
	if s.checkMethod(method) != "" {
		if checkText(method, maxMethodBytes) != "" || !strings.HasPrefix(method, "pm_") {
			p.Method = "" // not an id: not kept
		}
		p.Status, p.DeclineCode = subjects.PaymentStatusFailed, declineInvalidMethod
	}
	rec, written, err := s.store.reserveOrder(ctx, tx, o, p)
	if err != nil || !written || rec.Status != subjects.PaymentStatusFailed {
		return err
	}
	pg.AfterCommit(ctx, func() { s.counts.count(outcome(rec)) }) // the consumer's transaction
	return outbox.Add(ctx, tx, Schema, outcomeEvent(rec))
}
