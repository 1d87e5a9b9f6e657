package order

import (
	"errors"
	"time"

	"github.com/souk/souk/platform/outbox"
	"github.com/souk/souk/subjects"
)

// The saga's transitions. Each is a Change applied under the order's row lock; each is
// idempotent (a second delivery finds the order moved on and changes nothing), and none ever
// moves an order backwards.

func now() time.Time { return time.Now().UTC() }

// event is the outbox row of o's event evt, its payload of evt's own type (the compiler checks
// that a payload matches its kind).
func event[T any](evt subjects.Event[T], o *Order, payload func(id string, at time.Time) T) outbox.Event {
	id := outbox.NewID()
	return outbox.Event{ID: id, Subject: evt.Subject(o.ID.String()), Payload: payload(id.String(), o.UpdatedAt)}
}

func placedEvent(o *Order) outbox.Event {
	return event(subjects.EvtOrderPlaced, o, func(id string, at time.Time) subjects.OrderPlaced {
		return subjects.OrderPlaced{EventID: id, OccurredAt: at, OrderID: o.ID.String(), UserID: o.UserID.String(),
			Status: o.Status, Lines: o.Lines(), Subtotal: o.money(o.Subtotal), Discount: o.money(o.Discount),
			Total: o.money(o.Total), Coupon: o.Coupon, PaymentMethod: o.PaymentMethod}
	})
}

func reservedEvent(o *Order) outbox.Event {
	return event(subjects.EvtOrderReserved, o, func(id string, at time.Time) subjects.OrderReserved {
		return subjects.OrderReserved{EventID: id, OccurredAt: at, OrderID: o.ID.String(), UserID: o.UserID.String(),
			Status: o.Status, Total: o.money(o.Total), PaymentMethod: o.PaymentMethod, ReservedUntil: *o.ReservedUntil}
	})
}

func paidEvent(o *Order) outbox.Event {
	return event(subjects.EvtOrderPaid, o, func(id string, at time.Time) subjects.OrderPaid {
		ev := subjects.OrderPaid{EventID: id, OccurredAt: at, OrderID: o.ID.String(), UserID: o.UserID.String(),
			Status: o.Status, Lines: o.Lines(), Total: o.money(o.Total), Coupon: o.Coupon}
		if o.Payment != nil {
			ev.PaymentID = o.Payment.ID
		}
		addr := o.ShippingAddress
		ev.ShippingAddress = &addr
		return ev
	})
}

func cancelledEvent(o *Order, from string) outbox.Event {
	return event(subjects.EvtOrderCancelled, o, func(id string, at time.Time) subjects.OrderCancelled {
		return subjects.OrderCancelled{EventID: id, OccurredAt: at, OrderID: o.ID.String(), UserID: o.UserID.String(),
			Status: o.Status, Reason: o.CancelReason, From: from, Coupon: o.Coupon}
	})
}

// cancel cancels the order for reason with its event: the compensations follow from it. A
// cancelled order stays as it is; a shipped one is ErrNotCancellable.
func cancel(reason string) Change {
	return func(o *Order) ([]outbox.Event, error) {
		if o.Status == subjects.OrderStatusCancelled {
			return nil, nil
		}
		from := o.Status
		if !o.move(subjects.OrderStatusCancelled, reason, now()) {
			return nil, ErrNotCancellable
		}
		return []outbox.Event{cancelledEvent(o, from)}, nil
	}
}

// cancelIfOpen cancels for reason an order that is still in one of statuses; otherwise it
// changes nothing (the order moved on, and the event is old news).
func cancelIfOpen(reason string, statuses ...string) Change {
	return func(o *Order) ([]outbox.Event, error) {
		for _, s := range statuses {
			if o.Status == s {
				return cancel(reason)(o)
			}
		}
		return nil, nil
	}
}

// errShippedWithoutStock is an out-of-stock verdict on an order whose parcel has left:
// nothing can be undone, so the order is left as it is and an operator alerted.
var errShippedWithoutStock = errors.New("out of stock after the parcel left")

// outOfStock: the inventory could not hold the order's stock, or could not take it again
// for a payment that came after the hold expired. An order not yet shipped is cancelled
// out_of_stock, fulfilling ones included: the rejection of a late payment's order.paid may
// land after shipping.created, and the order.cancelled it publishes then stops the shipment
// (the shipping service cancels one that has not left) and makes the payment service refund
// what was captured. A shipped or delivered order is errShippedWithoutStock.
func outOfStock(subjects.ReservationEvent) Change {
	return func(o *Order) ([]outbox.Event, error) {
		if o.Status == subjects.OrderStatusShipped || o.Status == subjects.OrderStatusDelivered {
			return nil, errShippedWithoutStock
		}
		return cancelIfOpen(subjects.ReasonOutOfStock, subjects.OrderStatusPending, subjects.OrderStatusReserved,
			subjects.OrderStatusPaid, subjects.OrderStatusFulfilling)(o)
	}
}

// reserved: the stock is held. A payment that already succeeded (the customer paid while the
// order was pending) makes it paid at once, and so does a total of zero (a coupon that covers
// everything): there is nothing to pay, and the payment service starts no payment for it.
func reserved(ev subjects.ReservationEvent) Change {
	return func(o *Order) ([]outbox.Event, error) {
		if o.Status != subjects.OrderStatusPending {
			return nil, nil
		}
		until := ev.ExpiresAt.UTC()
		o.ReservedUntil = &until
		o.move(subjects.OrderStatusReserved, "", now())
		events := []outbox.Event{reservedEvent(o)}
		if o.Total == 0 || o.Payment != nil && o.Payment.Status == subjects.PaymentStatusSucceeded {
			o.move(subjects.OrderStatusPaid, "", now())
			events = append(events, paidEvent(o))
		}
		return events, nil
	}
}

// paymentSucceeded records the payment; a reserved order becomes paid. On a cancelled order
// it is only recorded: the payment service refunds what a cancelled order captured.
func paymentSucceeded(ev subjects.PaymentSucceeded) Change {
	return func(o *Order) ([]outbox.Event, error) {
		if o.Payment != nil && o.Payment.Status != subjects.PaymentStatusFailed && o.Payment.ID != ev.PaymentID {
			return nil, nil // a second payment never replaces the one that counts
		}
		if o.Payment == nil || o.Payment.Status == subjects.PaymentStatusFailed {
			o.Payment = &subjects.OrderPayment{ID: ev.PaymentID, Status: subjects.PaymentStatusSucceeded, Amount: ev.Amount,
				Refunded: subjects.Money{Currency: ev.Amount.Currency}, Provider: ev.Provider}
		}
		if o.Status != subjects.OrderStatusReserved || ev.Amount != o.money(o.Total) {
			return nil, nil
		}
		o.move(subjects.OrderStatusPaid, "", now())
		return []outbox.Event{paidEvent(o)}, nil
	}
}

// paymentFailed records the decline and cancels an unpaid order with payment_failed.
func paymentFailed(ev subjects.PaymentFailedEvent) Change {
	return func(o *Order) ([]outbox.Event, error) {
		if o.Payment != nil && o.Payment.Status != subjects.PaymentStatusFailed {
			return nil, nil // the payment that counts succeeded
		}
		o.Payment = &subjects.OrderPayment{ID: ev.PaymentID, Status: subjects.PaymentStatusFailed, Amount: ev.Amount,
			Refunded: subjects.Money{Currency: ev.Amount.Currency}, Provider: ev.Provider, FailureReason: ev.Reason}
		return cancelIfOpen(subjects.ReasonPaymentFailed, subjects.OrderStatusPending, subjects.OrderStatusReserved)(o)
	}
}

// paymentRefunded keeps the order's copy of what was refunded.
func paymentRefunded(ev subjects.PaymentRefunded) Change {
	return func(o *Order) ([]outbox.Event, error) {
		if o.Payment == nil || o.Payment.ID != ev.PaymentID || o.Payment.Refunded.Amount >= ev.TotalRefunded.Amount {
			return nil, nil
		}
		p := *o.Payment
		p.Refunded = ev.TotalRefunded
		p.Status = "refunded"
		o.Payment = &p
		return nil, nil
	}
}

// shipmentRank orders the shipment statuses the order's copy may take; cancelled is last
// because nothing follows it.
var shipmentRank = map[string]int{
	subjects.ShipmentPending: 1, subjects.ShipmentPacked: 2, subjects.ShipmentShipped: 3,
	subjects.ShipmentInTransit: 4, subjects.ShipmentDelivered: 5, subjects.ShipmentCancelled: 6,
}

// followed is the order status a shipment status means: the order follows its shipment.
// Shipping may skip steps (packed → in_transit), so in transit means shipped too.
var followed = map[string]string{
	subjects.ShipmentPending: subjects.OrderStatusFulfilling, subjects.ShipmentPacked: subjects.OrderStatusFulfilling,
	subjects.ShipmentShipped: subjects.OrderStatusShipped, subjects.ShipmentInTransit: subjects.OrderStatusShipped,
	subjects.ShipmentDelivered: subjects.OrderStatusDelivered,
}

// fulfilmentKinds are the events of the statuses an order reaches by following its shipment.
var fulfilmentKinds = map[string]subjects.Event[subjects.OrderFulfilment]{
	subjects.OrderStatusFulfilling: subjects.EvtOrderFulfilling, subjects.OrderStatusShipped: subjects.EvtOrderShipped,
	subjects.OrderStatusDelivered: subjects.EvtOrderDelivered,
}

func fulfilmentEvent(o *Order) outbox.Event {
	return event(fulfilmentKinds[o.Status], o, func(id string, at time.Time) subjects.OrderFulfilment {
		ev := subjects.OrderFulfilment{EventID: id, OccurredAt: at, OrderID: o.ID.String(), UserID: o.UserID.String(),
			Status: o.Status, Lines: o.Lines()}
		if o.Shipment != nil {
			ev.Shipment = *o.Shipment
		}
		return ev
	})
}

// shipmentChanged follows the order's shipment: it keeps the order's copy of it (never an
// older status over a newer one, events may come late) and moves the order to the status the
// shipment's means (created → fulfilling, shipped → shipped, delivered → delivered), with
// its event; never backwards, so a repeated or late event changes nothing. A cancelled
// shipment cancels an order that is still open: the order service cancelled it first (then
// this is old news), or asked for it and failed to cancel itself afterwards.
func shipmentChanged(ev subjects.ShipmentEvent) Change {
	return func(o *Order) ([]outbox.Event, error) {
		if o.Shipment == nil || shipmentRank[ev.Status] > shipmentRank[o.Shipment.Status] {
			o.Shipment = &subjects.OrderShipment{ID: ev.ShipmentID, Status: ev.Status, Carrier: ev.Carrier, TrackingNumber: ev.TrackingNumber}
		}
		if ev.Status == subjects.ShipmentCancelled {
			reason := ev.Reason
			if reason == "" {
				reason = subjects.ReasonStaff
			}
			return cancelIfOpen(reason, subjects.OrderStatusPaid, subjects.OrderStatusFulfilling)(o)
		}
		status, ok := followed[ev.Status]
		if !ok || !o.move(status, "", now()) {
			return nil, nil
		}
		return []outbox.Event{fulfilmentEvent(o)}, nil
	}
}
