package payment

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/souk/souk/platform/consumer"
	"github.com/souk/souk/platform/outbox"
	"github.com/souk/souk/subjects"
)

// ordersConsumer is the durable consumer that keeps the service's copy of orders.
const ordersConsumer = "payment-orders"

// orderSubjects are the order events the copy is kept from.
var orderSubjects = []string{
	subjects.EvtOrderPlaced.Filter(), subjects.EvtOrderReserved.Filter(),
	subjects.EvtOrderPaid.Filter(), subjects.EvtOrderCancelled.Filter(),
}

// orderEvent is what the copy takes from any order event; each kind fills what it carries.
type orderEvent struct {
	OrderID       string         `json:"order_id"`
	UserID        string         `json:"user_id"`
	Total         subjects.Money `json:"total"`
	PaymentMethod string         `json:"payment_method"`
}

// applyOrderEvent keeps the copy of orders in the consumer's transaction: placed and paid
// are remembered; reserved is remembered and, with a payment method, starts the payment
// (the provider is called by the worker after the commit); cancelled refunds what was
// captured. An event it cannot read is permanent: no retry makes it readable.
func (s *service) applyOrderEvent(ctx context.Context, tx pgx.Tx, m consumer.Msg) error {
	kind, status := orderEventKind(m.Subject)
	if kind == "" {
		return nil
	}
	var ev orderEvent
	if err := json.Unmarshal(m.Data, &ev); err != nil {
		return consumer.Permanent(fmt.Errorf("%s: %w", kind, err))
	}
	id, err := uuid.Parse(ev.OrderID)
	if err != nil || checkText(ev.UserID, maxKeyBytes) != "" {
		return consumer.Permanent(fmt.Errorf("%s: bad order_id or user_id", kind))
	}
	o := Order{ID: id, UserID: ev.UserID, Status: status}
	// A cancellation's total says nothing new; an event without one leaves it unknown.
	if kind != subjects.EvtOrderCancelled.Kind && ev.Total != (subjects.Money{}) {
		if !validMoney(ev.Total) {
			return consumer.Permanent(fmt.Errorf("%s %s: bad total", kind, id))
		}
		o.Total = ev.Total
	}
	if checkText(ev.PaymentMethod, maxMethodBytes) == "" {
		o.PaymentMethod = ev.PaymentMethod
	}
	switch kind {
	case subjects.EvtOrderCancelled.Kind:
		_, err := s.store.cancelOrder(ctx, tx, o)
		return err
	case subjects.EvtOrderReserved.Kind:
		if ev.PaymentMethod != "" {
			return s.startPayment(ctx, tx, o, ev.PaymentMethod)
		}
	}
	_, err = s.store.upsertOrder(ctx, tx, o)
	return err
}

// orderEventKind returns the event kind of subject (one of the Evt constants) and the
// copy's status it means.
func orderEventKind(subject string) (kind, status string) {
	for _, k := range []struct{ kind, status string }{
		{subjects.EvtOrderPlaced.Kind, orderPlaced}, {subjects.EvtOrderReserved.Kind, orderReserved},
		{subjects.EvtOrderPaid.Kind, orderPaid}, {subjects.EvtOrderCancelled.Kind, orderCancelled},
	} {
		if strings.HasPrefix(subject, k.kind+".") {
			return k.kind, k.status
		}
	}
	return "", ""
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
	return outbox.Add(ctx, tx, Schema, outcomeEvent(rec))
}
