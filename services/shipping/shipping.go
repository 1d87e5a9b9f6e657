// Package shipping is Souk's shipping service: one shipment per paid order, its carrier,
// tracking number and status history.
//
// It owns the schema shipping (shipments, their history, the orders cancelled before their
// shipment existed) and serves souk.shipping.v1.shipment.{get,status,cancel,list}. It consumes
// ORDERS with the durable consumer shipping-orders: order.paid creates the order's shipment
// (pending, with the default carrier), order.cancelled cancels it while it has not left
// (pending or packed). Staff move a shipment forward only:
//
//	pending → packed → shipped → in_transit → delivered
//
// Steps may be skipped (a parcel handed straight to the carrier, a carrier that reports no
// in_transit), never undone; reaching shipped or beyond needs a tracking number, typed in by
// staff or booked by the carrier's integration (Carrier). Every status reached is a history
// entry and an event on SHIPPING, souk.evt.shipping.<created|packed|shipped|in_transit|
// delivered|cancelled>.<order id>, written through the outbox in the transaction of the
// change; the order service follows them (fulfilling, shipped, delivered).
package shipping

import (
	"errors"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/souk/souk/subjects"
)

// Domain errors; wireError maps them to the wire.
var (
	// ErrNotFound is an unknown shipment, an order without one, or another customer's.
	ErrNotFound = errors.New("shipment not found")
	// ErrIllegalMove is a move backwards, a repeat, or any move of a cancelled shipment.
	ErrIllegalMove = errors.New("illegal shipment move")
	// ErrLeft is a cancellation of a shipment that has shipped.
	ErrLeft = errors.New("the shipment has left")
	// ErrTrackingRequired is a move to shipped or beyond with no tracking number to be had.
	ErrTrackingRequired = errors.New("a tracking number is required")
)

// rank orders the statuses of the forward path; cancelled is off it.
var rank = map[string]int{
	subjects.ShipmentPending: 1, subjects.ShipmentPacked: 2, subjects.ShipmentShipped: 3,
	subjects.ShipmentInTransit: 4, subjects.ShipmentDelivered: 5,
}

// Shipment is the aggregate: one order's parcel and its history.
type Shipment struct {
	ID              uuid.UUID
	OrderID         uuid.UUID
	UserID          uuid.UUID
	Status          string
	Carrier         string
	TrackingNumber  string
	CancelReason    string
	Lines           []subjects.OrderLine
	ShippingAddress *subjects.Address
	History         []subjects.ShipmentStatus
	CreatedAt       time.Time
	UpdatedAt       time.Time
	// TraceParent is the trace context of the checkout that made the shipment
	// (platform/trace.Parent); staff's moves resume it.
	TraceParent string
}

// Left reports whether the parcel has left the warehouse: shipped, in transit or delivered.
func (s *Shipment) Left() bool { return rank[s.Status] >= rank[subjects.ShipmentShipped] }

// Move is a staff move, checked by CheckMove.
type Move struct {
	// Status is the status to reach: packed, shipped, in_transit or delivered (or, refused by
	// move, pending and cancelled).
	Status string
	// TrackingNumber and Carrier, when set, replace the shipment's.
	TrackingNumber string
	Carrier        string
}

// needsBooking reports whether m takes a shipment with tracking number tracking to shipped or
// beyond without any tracking number: the carrier must book the parcel first.
func (m Move) needsBooking(tracking string) bool {
	return rank[m.Status] >= rank[subjects.ShipmentShipped] && m.TrackingNumber == "" && tracking == ""
}

// move applies a staff move at at and records it in the history. It refuses a move of a
// cancelled shipment, backwards or in place, and a parcel leaving without a tracking number;
// a refused move changes nothing.
func (s *Shipment) move(m Move, at time.Time) error {
	target, ok := rank[m.Status]
	if s.Status == subjects.ShipmentCancelled || !ok || target <= rank[s.Status] {
		return ErrIllegalMove
	}
	if m.needsBooking(s.TrackingNumber) {
		return ErrTrackingRequired
	}
	entry := subjects.ShipmentStatus{Status: m.Status, At: at}
	if m.TrackingNumber != "" && m.TrackingNumber != s.TrackingNumber {
		s.TrackingNumber, entry.TrackingNumber = m.TrackingNumber, m.TrackingNumber
	}
	if m.Carrier != "" {
		s.Carrier = m.Carrier
	}
	s.Status, s.UpdatedAt = m.Status, at
	s.History = append(s.History, entry)
	return nil
}

// cancel cancels a shipment that has not left, for the order's reason. It reports false,
// changing nothing, for one cancelled already; one that has left is ErrLeft.
func (s *Shipment) cancel(reason string, at time.Time) (bool, error) {
	switch {
	case s.Status == subjects.ShipmentCancelled:
		return false, nil
	case s.Left():
		return false, ErrLeft
	}
	s.Status, s.CancelReason, s.UpdatedAt = subjects.ShipmentCancelled, reason, at
	s.History = append(s.History, subjects.ShipmentStatus{Status: subjects.ShipmentCancelled, At: at, Reason: reason})
	return true, nil
}

// Wire is the shipment as its owner and staff see it.
func (s *Shipment) Wire() subjects.Shipment {
	w := subjects.Shipment{ID: s.ID.String(), OrderID: s.OrderID.String(), Status: s.Status, Carrier: s.Carrier,
		TrackingNumber: s.TrackingNumber, Lines: s.Lines, ShippingAddress: s.ShippingAddress, History: s.History,
		CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt}
	if w.Lines == nil {
		w.Lines = []subjects.OrderLine{}
	}
	if w.History == nil {
		w.History = []subjects.ShipmentStatus{}
	}
	return w
}

var (
	trackingPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$`)
	carrierPattern  = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)
	// targets are the statuses staff may name; the rest of the path is refused by move.
	targets = []string{subjects.ShipmentPacked, subjects.ShipmentShipped, subjects.ShipmentInTransit, subjects.ShipmentDelivered}
)

// CheckMove validates a status request and returns the shipment id and the move (trimmed,
// the carrier lower-cased), or the field errors. A status of the shipment path that cannot
// be moved to (pending, cancelled) passes: move refuses it with 409, as the move it is.
func CheckMove(req subjects.ShipmentStatusRequest) (uuid.UUID, Move, error) {
	var p subjects.Problems
	id, err := uuid.Parse(req.ID)
	if err != nil {
		p.Add("id", "must be a shipment id (a UUID)")
	}
	m := Move{Status: strings.TrimSpace(req.Status), TrackingNumber: strings.TrimSpace(req.TrackingNumber),
		Carrier: strings.ToLower(strings.TrimSpace(req.Carrier))}
	if _, known := rank[m.Status]; !known && m.Status != subjects.ShipmentCancelled {
		p.Add("status", "must be one of "+strings.Join(targets, ", "))
	}
	if m.TrackingNumber != "" && !trackingPattern.MatchString(m.TrackingNumber) {
		p.Add("tracking_number", "must be 1 to 64 letters, digits, spaces, dots, dashes or underscores")
	}
	if m.Carrier != "" && !carrierPattern.MatchString(m.Carrier) {
		p.Add("carrier", "must be a carrier name of 1 to 32 lowercase letters, digits, dashes or underscores, such as dhl")
	}
	if err := p.Err(); err != nil {
		return uuid.Nil, Move{}, err
	}
	return id, m, nil
}
