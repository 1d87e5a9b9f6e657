package subjects

import "time"

// The shipping service: one shipment per paid order, its carrier, tracking number and status
// history. Shipments are created from order.paid and cancelled from order.cancelled; staff
// move them forward; the order service follows their events.
var (
	// ShipmentGet returns an order's shipment: the order owner's, or any to staff; another
	// customer's, or an order with no shipment yet, is 404.
	ShipmentGet = Endpoint[ShipmentOrderRequest, Shipment]{Subject: "souk.shipping.v1.shipment.get", Access: profileAccess}
	// ShipmentSetStatus moves a shipment forward (staff): pending → packed → shipped →
	// in_transit → delivered, steps may be skipped but never undone. Reaching shipped or
	// beyond needs a tracking number (given, or booked by the carrier's integration). A move
	// backwards, a repeat, or a move of a cancelled shipment is 409 and changes nothing.
	ShipmentSetStatus = Endpoint[ShipmentStatusRequest, Shipment]{Subject: "souk.shipping.v1.shipment.status", Access: Require(PermShipmentsWrite)}
	// ShipmentCancel stops an order's shipment before it leaves (the order's owner or staff;
	// the order service calls it before cancelling an order): a pending or packed shipment is
	// cancelled, a cancelled one returned as it is; one that has shipped is 409, an order
	// with no shipment 404.
	ShipmentCancel = Endpoint[ShipmentCancelRequest, Shipment]{Subject: "souk.shipping.v1.shipment.cancel", Access: profileAccess}
	// ShipmentList lists the shipments staff work on, oldest first: those in the statuses
	// asked for, pending when none is (GET /v1/admin/shipments).
	ShipmentList = Endpoint[ShipmentListRequest, ShipmentPage]{Subject: "souk.shipping.v1.shipment.list", Access: Require(PermShipmentsWrite)}
)

// Shipment statuses, in the order they are reached; cancelled may follow pending or packed.
const (
	ShipmentPending   = "pending"
	ShipmentPacked    = "packed"
	ShipmentShipped   = "shipped"
	ShipmentInTransit = "in_transit"
	ShipmentDelivered = "delivered"
	ShipmentCancelled = "cancelled"
)

// ShipmentStatuses are the shipment statuses, in the order they are reached (cancelled last).
var ShipmentStatuses = []string{ShipmentPending, ShipmentPacked, ShipmentShipped, ShipmentInTransit, ShipmentDelivered, ShipmentCancelled}

// CarrierManual is the built-in carrier: staff hand the parcel over and type in its tracking
// number.
const CarrierManual = "manual"

// Shipping events, on the SHIPPING stream: souk.evt.shipping.<event>.<order id>, one per
// status the shipment reaches. They are keyed by the order's id, so a follower of an order
// filters souk.evt.shipping.*.<order id>.
var (
	// EvtShipping stands for every shipping event, whatever status it reports: the order
	// service follows them as one family.
	EvtShipping          = Event[ShipmentEvent]{EventKind{Stream: StreamShipping, Kind: "souk.evt.shipping", Family: true}}
	EvtShipmentCreated   = event[ShipmentEvent](StreamShipping, "souk.evt.shipping.created")
	EvtShipmentPacked    = event[ShipmentEvent](StreamShipping, "souk.evt.shipping.packed")
	EvtShipmentShipped   = event[ShipmentEvent](StreamShipping, "souk.evt.shipping.shipped")
	EvtShipmentInTransit = event[ShipmentEvent](StreamShipping, "souk.evt.shipping.in_transit")
	EvtShipmentDelivered = event[ShipmentEvent](StreamShipping, "souk.evt.shipping.delivered")
	EvtShipmentCancelled = event[ShipmentEvent](StreamShipping, "souk.evt.shipping.cancelled")
)

// ShipmentEventKind is the event kind (EvtShipmentPacked, …) a shipment reaching status
// publishes; pending is created.
func ShipmentEventKind(status string) Event[ShipmentEvent] {
	if status == ShipmentPending {
		return EvtShipmentCreated
	}
	return event[ShipmentEvent](StreamShipping, EvtShipping.Kind+"."+status)
}

// ShipmentOrderRequest names an order, for its shipment.
type ShipmentOrderRequest struct {
	OrderID string `json:"order_id"`
}

// ShipmentStatusRequest is the body of POST /v1/admin/shipments/{id}/status.
type ShipmentStatusRequest struct {
	// ID is the shipment's id (the path parameter).
	ID string `json:"id"`
	// Status is the status to move to: packed, shipped, in_transit or delivered.
	Status string `json:"status" required:"true" enum:"ShipmentPending"`
	// TrackingNumber is the carrier's parcel number, up to 64 letters, digits, spaces, dots,
	// dashes and underscores; required when the shipment reaches shipped without one, unless
	// the carrier's integration books the parcel.
	TrackingNumber string `json:"tracking_number,omitempty"`
	// Carrier names who carries the parcel (dhl, ups…), up to 32 lowercase letters, digits,
	// dashes and underscores; a carrier with an integration books the parcel itself, any
	// other is handled manually. The shipment's carrier stays when absent.
	Carrier string `json:"carrier,omitempty"`
}

// ShipmentCancelRequest asks to stop an order's shipment.
type ShipmentCancelRequest struct {
	OrderID string `json:"order_id"`
	// Reason is the order's cancellation reason (customer, staff…).
	Reason string `json:"reason"`
}

// ShipmentListRequest is the query of GET /v1/admin/shipments. A cursor continues only the
// list of the same statuses.
type ShipmentListRequest struct {
	// Status keeps shipments in any of these statuses (ShipmentStatuses); pending when none.
	Status []string `json:"status,omitempty"`
	// Limit is the page size, 1..100; 20 when zero.
	Limit int `json:"limit,omitempty"`
	// Cursor is the opaque next_cursor of the previous page.
	Cursor string `json:"cursor,omitempty"`
}

// ShipmentPage is one page of shipments, each with what a packer needs: its lines, its
// address and its history.
type ShipmentPage struct {
	Items      []Shipment `json:"items" required:"true"`
	NextCursor string     `json:"next_cursor,omitempty"`
}

// Shipment is an order's shipment as its owner and staff see it.
type Shipment struct {
	ID      string `json:"id" required:"true"`
	OrderID string `json:"order_id" required:"true"`
	// Status is pending, packed, shipped, in_transit, delivered or cancelled.
	Status string `json:"status" required:"true" enum:"ShipmentPending"`
	// Carrier is who carries the parcel; manual until staff name one.
	Carrier string `json:"carrier" required:"true"`
	// TrackingNumber is set from shipped on; empty before.
	TrackingNumber string `json:"tracking_number" required:"true"`
	// Lines are what the parcel holds: the order's lines as paid.
	Lines []OrderLine `json:"lines" required:"true"`
	// ShippingAddress is where the parcel goes, as the order was placed.
	ShippingAddress *Address `json:"shipping_address,omitempty"`
	// History lists every status the shipment reached, the first (pending) included.
	History   []ShipmentStatus `json:"history" required:"true"`
	CreatedAt time.Time        `json:"created_at" required:"true"`
	UpdatedAt time.Time        `json:"updated_at" required:"true"`
}

// ShipmentStatus is one entry of a shipment's history.
type ShipmentStatus struct {
	Status string    `json:"status" required:"true" enum:"ShipmentPending"`
	At     time.Time `json:"at" required:"true"`
	// Reason says why a shipment was cancelled (the order's cancellation reason).
	Reason string `json:"reason,omitempty"`
	// TrackingNumber is the tracking number the move set, when it set one.
	TrackingNumber string `json:"tracking_number,omitempty"`
}

// ShipmentEvent is the payload of every shipping event: the shipment after the change.
type ShipmentEvent struct {
	EventID    string    `json:"event_id"`
	OccurredAt time.Time `json:"occurred_at"`
	ShipmentID string    `json:"shipment_id"`
	OrderID    string    `json:"order_id"`
	UserID     string    `json:"user_id"`
	// Status is the status reached; From the one left (empty for created).
	Status         string      `json:"status"`
	From           string      `json:"from,omitempty"`
	Carrier        string      `json:"carrier"`
	TrackingNumber string      `json:"tracking_number,omitempty"`
	Lines          []OrderLine `json:"lines"`
	// Reason is the cancellation reason of a cancelled shipment.
	Reason string `json:"reason,omitempty"`
}
