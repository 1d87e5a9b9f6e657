package shipping

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/attribute"
	oteltrace "go.opentelemetry.io/otel/trace"

	"github.com/souk/souk/platform/authn"
	"github.com/souk/souk/platform/page"
	"github.com/souk/souk/platform/trace"
	"github.com/souk/souk/subjects"
)

// BookTimeout bounds a carrier's booking of one parcel.
const BookTimeout = 10 * time.Second

// handlers serve the shipping endpoints.
type handlers struct {
	store *Store
	// carriers are the integrations by name; manual is always there.
	carriers map[string]Carrier
}

// visible returns the order's shipment when the caller may see it: the order's owner, or
// staff. Another customer's is ErrNotFound, as is an order with no shipment.
func (h *handlers) visible(ctx context.Context, rawOrderID string) (*Shipment, error) {
	claims, err := authn.MustClaims(ctx)
	if err != nil {
		return nil, err
	}
	order, err := uuid.Parse(rawOrderID)
	if err != nil {
		return nil, subjects.BadRequest("order_id", "must be an order id (a UUID)")
	}
	sh, err := h.store.ByOrder(ctx, order)
	if err != nil {
		return nil, wireError(err)
	}
	if !owns(claims, sh) && !claims.Can(subjects.PermOrdersAll) {
		return nil, wireError(ErrNotFound)
	}
	return sh, nil
}

func owns(claims authn.Claims, sh *Shipment) bool {
	user, err := uuid.Parse(claims.Subject) // staff may hold a token whose subject is no customer id
	return err == nil && user == sh.UserID
}

func (h *handlers) get(ctx context.Context, req subjects.ShipmentOrderRequest) (subjects.Shipment, error) {
	sh, err := h.visible(ctx, req.OrderID)
	if err != nil {
		return subjects.Shipment{}, err
	}
	return sh.Wire(), nil
}

// setStatus moves a shipment forward (staff). A move that ships the parcel without a
// tracking number asks the carrier's integration to book it first, outside the transaction;
// the move itself is then checked again under the row lock, so two racing moves apply one
// after the other and the second is refused if it is no longer forward.
func (h *handlers) setStatus(ctx context.Context, req subjects.ShipmentStatusRequest) (subjects.Shipment, error) {
	id, m, err := CheckMove(req)
	if err != nil {
		return subjects.Shipment{}, err
	}
	sh, err := h.store.Get(ctx, id)
	if err != nil {
		return subjects.Shipment{}, wireError(err)
	}
	// Staff's move is a step of the checkout: a span of its trace, linked to this request.
	ctx, span := trace.Resume(ctx, sh.TraceParent, "shipping.move", oteltrace.WithAttributes(attribute.String("shipment.status", m.Status)))
	defer span.End()
	probe := *sh
	probe.History = nil
	if err := probe.move(m, now()); errors.Is(err, ErrTrackingRequired) {
		if m.TrackingNumber, err = h.book(ctx, sh, m); err != nil {
			return subjects.Shipment{}, err
		}
	} else if err != nil {
		return subjects.Shipment{}, wireError(err)
	}
	sh, err = h.store.UpdateNow(ctx, id, false, func(sh *Shipment) error { return sh.move(m, now()) })
	if err != nil {
		return subjects.Shipment{}, wireError(err)
	}
	return sh.Wire(), nil
}

// book asks the integration of the move's carrier (or the shipment's) to book the parcel and
// returns its tracking number. A carrier without an integration, or one that books nothing,
// leaves it to staff: 400 naming tracking_number.
func (h *handlers) book(ctx context.Context, sh *Shipment, m Move) (string, error) {
	name := m.Carrier
	if name == "" {
		name = sh.Carrier
	}
	c, ok := h.carriers[name]
	if !ok {
		return "", wireError(ErrTrackingRequired)
	}
	bctx, cancel := context.WithTimeout(ctx, BookTimeout)
	defer cancel()
	tracking, err := c.Book(bctx, Parcel{ShipmentID: sh.ID.String(), OrderID: sh.OrderID.String(), Address: sh.ShippingAddress, Lines: sh.Lines})
	switch {
	case errors.Is(err, ErrNoBooking):
		return "", wireError(ErrTrackingRequired)
	case err != nil:
		return "", subjects.Errorf(http.StatusBadGateway, "carrier_failed", "the carrier "+name+" could not book the parcel; try again")
	case !trackingPattern.MatchString(tracking):
		return "", subjects.Errorf(http.StatusBadGateway, "carrier_failed", "the carrier "+name+" returned no usable tracking number")
	}
	return tracking, nil
}

// cancel stops the order's shipment before it leaves: the order service asks before it
// cancels an order, with its caller's token.
func (h *handlers) cancel(ctx context.Context, req subjects.ShipmentCancelRequest) (subjects.Shipment, error) {
	if !slices.Contains(reasons, req.Reason) {
		return subjects.Shipment{}, subjects.BadRequest("reason", "must be one of "+strings.Join(reasons, ", "))
	}
	sh, err := h.visible(ctx, req.OrderID)
	if err != nil {
		return subjects.Shipment{}, err
	}
	sh, err = h.store.UpdateNow(ctx, sh.OrderID, true, cancelChange(req.Reason))
	if err != nil {
		return subjects.Shipment{}, wireError(err)
	}
	return sh.Wire(), nil
}

// reasons are the order cancellation reasons a shipment is cancelled for.
var reasons = []string{subjects.ReasonCustomer, subjects.ReasonStaff, subjects.ReasonOutOfStock, subjects.ReasonPaymentFailed, subjects.ReasonPaymentTimeout}

// wireError is the one domain → wire mapping of this service.
func wireError(err error) error {
	switch {
	case errors.Is(err, ErrNotFound):
		return subjects.Errorf(http.StatusNotFound, "shipment_not_found", "shipment not found")
	case errors.Is(err, ErrIllegalMove):
		return subjects.Errorf(http.StatusConflict, "illegal_move",
			"a shipment only moves forward (pending → packed → shipped → in_transit → delivered), and a cancelled one not at all; cancel the order to cancel its shipment")
	case errors.Is(err, ErrLeft):
		return subjects.Errorf(http.StatusConflict, "shipment_left", "the shipment has left and can no longer be cancelled")
	case errors.Is(err, ErrTrackingRequired):
		return subjects.BadRequest("tracking_number", "is required when the shipment ships (the carrier books no parcels)")
	case errors.Is(err, context.DeadlineExceeded):
		return subjects.Errorf(http.StatusServiceUnavailable, "timeout", "the shipping service ran out of time; try again")
	}
	return err
}

// list serves staff's shipments to work on: pending ones unless other statuses are asked
// for, oldest first (the first paid, the first packed). A cursor continues only the list of
// the same statuses.
func (h *handlers) list(ctx context.Context, req subjects.ShipmentListRequest) (subjects.ShipmentPage, error) {
	statuses, problem := subjects.CheckOneOf(req.Status, subjects.ShipmentStatuses)
	if problem != "" {
		return subjects.ShipmentPage{}, subjects.BadRequest("status", problem)
	}
	if len(statuses) == 0 {
		statuses = []string{subjects.ShipmentPending}
	}
	items, next, err := page.List(subjects.ListRequest{Limit: req.Limit, Cursor: req.Cursor}, "shipments?status="+strings.Join(statuses, ","),
		func(r page.Request) ([]*Shipment, error) { return h.store.List(ctx, statuses, r) },
		func(sh *Shipment) page.Key { return page.Key{At: sh.CreatedAt, ID: sh.ID} }, (*Shipment).Wire)
	if err != nil {
		return subjects.ShipmentPage{}, wireError(err)
	}
	return subjects.ShipmentPage{Items: items, NextCursor: next}, nil
}
