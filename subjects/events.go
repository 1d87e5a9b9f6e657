package subjects

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Streams: one per publishing domain, plus the dead letters. Their configuration (retention,
// limits) is in nats/bus; their names and subjects are here, once.
const (
	StreamUsers      = "USERS"
	StreamCatalog    = "CATALOG"
	StreamInventory  = "INVENTORY"
	StreamOrders     = "ORDERS"
	StreamPayments   = "PAYMENTS"
	StreamPromotions = "PROMOTIONS"
	StreamShipping   = "SHIPPING"
	// StreamDLQ holds the dead letters, on souk.dlq.<stream>.<consumer>.
	StreamDLQ = "DLQ"
)

// The event families: every event of one publishing domain, one per stream. A stream holds its
// family's Filter (souk.evt.order.>); a follower of one entity filters Entity(id).
var (
	EvtUser      = family(StreamUsers, "souk.evt.user")
	EvtInventory = family(StreamInventory, "souk.evt.inventory")
	EvtOrder     = family(StreamOrders, "souk.evt.order")
	EvtPayment   = family(StreamPayments, "souk.evt.payment")
	EvtPromotion = family(StreamPromotions, "souk.evt.promotion")
	// EvtCatalog and EvtShipping are declared with their services' events.
)

// StreamSubjects is the subject space each stream holds, by stream name.
var StreamSubjects = map[string]string{
	StreamUsers:      EvtUser.Filter(),
	StreamCatalog:    EvtCatalog.Filter(),
	StreamInventory:  EvtInventory.Filter(),
	StreamOrders:     EvtOrder.Filter(),
	StreamPayments:   EvtPayment.Filter(),
	StreamPromotions: EvtPromotion.Filter(),
	StreamShipping:   EvtShipping.Filter(),
	StreamDLQ:        DLQPrefix + ".>",
	StreamQuotas:     "souk.evt.quota.>",
}

// family declares every event under kind, on stream, read as raw JSON.
func family(stream, kind string) Event[json.RawMessage] {
	return Event[json.RawMessage]{EventKind{Stream: stream, Kind: kind, Family: true}}
}

// DLQPrefix starts the subject of every dead letter: souk.dlq.<stream>.<consumer>.
const DLQPrefix = "souk.dlq"

// DLQSubject is the subject a dead letter of consumer, from stream, is stored on.
func DLQSubject(stream, consumer string) string { return DLQPrefix + "." + stream + "." + consumer }

// EventKind is what an event descriptor says without its payload type: enough to filter,
// route, list and match. Event[T] embeds it.
type EventKind struct {
	// Stream is the stream the event is stored in (StreamOrders, …).
	Stream string
	// Kind is the event's subject without its entity id: souk.evt.order.paid. The subject of
	// one event is Kind + "." + the entity id.
	Kind string
	// Family is set on a descriptor that stands for every kind under Kind (souk.evt.shipping
	// with each status a shipment reaches): its filter takes souk.evt.shipping.>, and it
	// matches every subject under Kind. A family is consumed, never published.
	Family bool
}

// Filter is the JetStream filter that takes this kind of event of every entity:
// souk.evt.order.paid.* (souk.evt.shipping.> for a family).
func (k EventKind) Filter() string {
	if k.Family {
		return k.Kind + ".>"
	}
	return k.Kind + ".*"
}

// Matches reports whether subject is an event of this kind (of any entity).
func (k EventKind) Matches(subject string) bool {
	rest, ok := strings.CutPrefix(subject, k.Kind+".")
	return ok && rest != "" && (k.Family || !strings.Contains(rest, "."))
}

// Entity is the filter of every event of a family about one entity: souk.evt.order.*.<id>
// follows one order's whole life.
func (k EventKind) Entity(id string) string { return k.Kind + ".*." + id }

// Subject is the subject of the event about entity id: souk.evt.order.paid.<id>.
func (k EventKind) Subject(id string) string { return k.Kind + "." + id }

// String is the event's kind.
func (k EventKind) String() string { return k.Kind }

// Event describes one kind of event: its stream, its subject and its payload T. Publishers
// build the subject with Subject, consumers register a typed handler for it
// (platform/consumer.On), which decodes T in one place.
type Event[T any] struct {
	EventKind
}

// Decode reads the payload of an event of this kind.
func (e Event[T]) Decode(data []byte) (T, error) {
	var v T
	if err := json.Unmarshal(data, &v); err != nil {
		return v, fmt.Errorf("%s: unreadable payload: %w", e.Kind, err)
	}
	return v, nil
}

// event declares the event kind under prefix on stream.
func event[T any](stream, kind string) Event[T] {
	return Event[T]{EventKind{Stream: stream, Kind: kind}}
}

// Events lists every event kind of the contract, families excluded: what the streams carry.
// The tests check that each lies in its stream's subjects.
func Events() []EventKind {
	return []EventKind{
		EvtUserRegistered.EventKind, EvtUserUpdated.EventKind,
		EvtUserVerificationRequested.EventKind, EvtUserEmailChangeRequested.EventKind,
		EvtUserPasswordResetRequested.EventKind, EvtUserPasswordChanged.EventKind,
		EvtUserRevoked.EventKind,
		EvtProductCreated.EventKind, EvtProductUpdated.EventKind, EvtPriceChanged.EventKind,
		EvtProductDeleted.EventKind, EvtStockChanged.EventKind, EvtRatingChanged.EventKind,
		EvtCategoryCreated.EventKind, EvtCategoryUpdated.EventKind,
		EvtStockLevel.EventKind, EvtInventoryReserved.EventKind, EvtInventoryRejected.EventKind,
		EvtInventoryExpired.EventKind, EvtInventoryCommitted.EventKind, EvtInventoryReleased.EventKind,
		EvtOrderPlaced.EventKind, EvtOrderReserved.EventKind, EvtOrderPaid.EventKind,
		EvtOrderCancelled.EventKind, EvtOrderFulfilling.EventKind, EvtOrderShipped.EventKind,
		EvtOrderDelivered.EventKind,
		EvtPaymentSucceeded.EventKind, EvtPaymentFailed.EventKind, EvtPaymentRefunded.EventKind,
		EvtCouponRedeemed.EventKind, EvtCouponReturned.EventKind, EvtCouponRefused.EventKind,
		EvtShipmentCreated.EventKind, EvtShipmentPacked.EventKind, EvtShipmentShipped.EventKind,
		EvtShipmentInTransit.EventKind, EvtShipmentDelivered.EventKind, EvtShipmentCancelled.EventKind,
		EvtQuotaGranted.EventKind,
	}
}
