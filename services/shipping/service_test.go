package shipping_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/internal/shoptest"
	"github.com/souk/souk/services/shipping"
	"github.com/souk/souk/subjects"
)

// env is the shop's test environment with one shipping instance running; the tests publish
// the order service's events themselves, as its outbox relay would.
type env struct{ *shoptest.Env }

func newEnv(t *testing.T, cfg shipping.Config) env {
	e := env{shoptest.NewEnv(t)}
	e.StartShipping(cfg)
	return e
}

// paid publishes order.paid for a new order of user and returns the order's id and the event.
func (e env) paid(user string) (string, subjects.OrderPaid) {
	order := shoptest.NewID()
	ev := subjects.OrderPaid{EventID: shoptest.NewID(), OccurredAt: time.Now().UTC(), OrderID: order, UserID: user,
		Status: subjects.OrderStatusPaid, Total: shoptest.EUR(1500),
		Lines:           []subjects.OrderLine{{ProductID: shoptest.NewID(), SKU: "MUG-1", Quantity: 1, UnitPrice: shoptest.EUR(1500)}},
		ShippingAddress: &subjects.Address{Name: "Ada", Line1: "1 Main St", City: "Berlin", PostalCode: "10115", Country: "DE"}}
	e.Publish(subjects.EvtOrderPaid.Subject(order), ev.EventID, ev)
	return order, ev
}

// cancelled publishes order.cancelled for order.
func (e env) cancelled(order, user string) {
	ev := subjects.OrderCancelled{EventID: shoptest.NewID(), OccurredAt: time.Now().UTC(), OrderID: order, UserID: user,
		Status: subjects.OrderStatusCancelled, Reason: subjects.ReasonCustomer, From: subjects.OrderStatusPaid}
	e.Publish(subjects.EvtOrderCancelled.Subject(order), ev.EventID, ev)
}

// shipment waits for order's shipment to exist (as staff see it) and returns it.
func (e env) shipment(order string) subjects.Shipment {
	e.T.Helper()
	var s subjects.Shipment
	expect.Within(e.T, 10*time.Second, func() error {
		var err error
		s, err = subjects.ShipmentGet.Call(e.Staff, e.NC, subjects.ShipmentOrderRequest{OrderID: order})
		return err
	})
	return s
}

// move moves shipment id as staff.
func (e env) move(id, status, tracking string) (subjects.Shipment, error) {
	return subjects.ShipmentSetStatus.Call(e.Staff, e.NC, subjects.ShipmentStatusRequest{ID: id, Status: status, TrackingNumber: tracking})
}

// kinds returns the kinds of the SHIPPING events about order, oldest first, once the shop
// is at rest.
func (e env) kinds(order string) []string {
	e.T.Helper()
	e.AtRest(10 * time.Second)
	var out []string
	for _, m := range e.Messages("SHIPPING", "souk.evt.shipping.*."+order) {
		var ev subjects.ShipmentEvent
		if err := json.Unmarshal(m.Data(), &ev); err != nil || ev.OrderID != order || ev.EventID == "" || ev.OccurredAt.IsZero() {
			e.T.Fatalf("shipping event %s: %s (%v)", m.Subject(), m.Data(), err)
		}
		out = append(out, ev.Status)
	}
	return out
}

func statuses(s subjects.Shipment) []string {
	out := make([]string, len(s.History))
	for i, h := range s.History {
		out[i] = h.Status
	}
	return out
}

// An order paid once gets one shipment, however often its order.paid arrives: the same
// event again (JetStream drops it, or the processed table does) and a copy under another
// event id (the shipment's unique order id does).
func TestPaidCreatesOneShipmentEvenWhenDeliveredTwice(t *testing.T) {
	e := newEnv(t, shipping.Config{})
	order, ev := e.paid(e.CustomerID)
	subject := subjects.EvtOrderPaid.Subject(order)
	e.Publish(subject, ev.EventID, ev)
	e.Publish(subject, ev.EventID+"-again", ev)
	s := e.shipment(order)
	if got := e.kinds(order); !slices.Equal(got, []string{subjects.ShipmentPending}) {
		t.Fatalf("shipping events of an order paid thrice over: %v", got)
	}
	s2, err := subjects.ShipmentGet.Call(e.Customer, e.NC, subjects.ShipmentOrderRequest{OrderID: order})
	if err != nil || s2.ID != s.ID || s.Status != subjects.ShipmentPending || s.Carrier != subjects.CarrierManual ||
		!slices.Equal(statuses(s2), []string{subjects.ShipmentPending}) || len(s.Lines) != 1 || s.ShippingAddress == nil || s.TrackingNumber != "" {
		t.Fatalf("the owner's view %+v (%v), staff's %+v", s2, err, s)
	}
	var n int
	if err := e.DB.QueryRow(e.Ctx, `select count(*) from shipping.shipments where order_id = $1`, order).Scan(&n); err != nil || n != 1 {
		t.Fatalf("%d shipments for one order (%v)", n, err)
	}
}

// Staff move a shipment forward, step by step or skipping; every refusal (409 for a move
// that is not forward, 400 naming the field, 404, 403 for a customer) changes nothing.
func TestStaffMoveAShipmentForwardOnly(t *testing.T) {
	e := newEnv(t, shipping.Config{})
	order, _ := e.paid(e.CustomerID)
	s := e.shipment(order)

	if _, err := e.move(s.ID, subjects.ShipmentPacked, ""); err != nil {
		t.Fatalf("pending → packed: %v", err)
	}
	refusals := []struct {
		ctx        context.Context
		req        subjects.ShipmentStatusRequest
		code       int
		slug, name string
	}{
		{e.Staff, subjects.ShipmentStatusRequest{ID: s.ID, Status: subjects.ShipmentPacked}, 409, "illegal_move", ""},
		{e.Staff, subjects.ShipmentStatusRequest{ID: s.ID, Status: subjects.ShipmentPending}, 409, "illegal_move", ""},
		{e.Staff, subjects.ShipmentStatusRequest{ID: s.ID, Status: subjects.ShipmentCancelled}, 409, "illegal_move", ""},
		{e.Staff, subjects.ShipmentStatusRequest{ID: s.ID, Status: subjects.ShipmentShipped}, 400, "validation", "tracking_number"},
		{e.Staff, subjects.ShipmentStatusRequest{ID: s.ID, Status: subjects.ShipmentShipped, Carrier: "dhl"}, 400, "validation", "tracking_number"},
		{e.Staff, subjects.ShipmentStatusRequest{ID: s.ID, Status: "lost"}, 400, "validation", "status"},
		{e.Staff, subjects.ShipmentStatusRequest{ID: s.ID, Status: subjects.ShipmentShipped, TrackingNumber: "<script>"}, 400, "validation", "tracking_number"},
		{e.Staff, subjects.ShipmentStatusRequest{ID: "nope", Status: subjects.ShipmentShipped}, 400, "validation", "id"},
		{e.Staff, subjects.ShipmentStatusRequest{ID: shoptest.NewID(), Status: subjects.ShipmentShipped, TrackingNumber: "1Z"}, 404, "shipment_not_found", ""},
		{e.Customer, subjects.ShipmentStatusRequest{ID: s.ID, Status: subjects.ShipmentShipped, TrackingNumber: "1Z"}, 403, "", ""},
	}
	for _, r := range refusals {
		_, err := subjects.ShipmentSetStatus.Call(r.ctx, e.NC, r.req)
		expect.Error(t, err, r.code, r.slug, r.name)
	}
	if got := e.shipment(order); got.Status != subjects.ShipmentPacked || len(got.History) != 2 || got.TrackingNumber != "" {
		t.Fatalf("the refusals changed the shipment: %+v", got)
	}

	shipped, err := subjects.ShipmentSetStatus.Call(e.Staff, e.NC, subjects.ShipmentStatusRequest{ID: s.ID, Status: subjects.ShipmentShipped,
		TrackingNumber: "00340434161094042557", Carrier: "DHL"})
	if err != nil || shipped.TrackingNumber != "00340434161094042557" || shipped.Carrier != "dhl" {
		t.Fatalf("packed → shipped: %+v %v", shipped, err)
	}
	if _, err := e.move(s.ID, subjects.ShipmentDelivered, ""); err != nil { // in_transit skipped
		t.Fatalf("shipped → delivered: %v", err)
	}
	for _, to := range []string{subjects.ShipmentInTransit, subjects.ShipmentDelivered, subjects.ShipmentShipped} {
		_, err := e.move(s.ID, to, "")
		expect.Error(t, err, 409, "illegal_move", "")
	}
	_, err = subjects.ShipmentCancel.Call(e.Staff, e.NC, subjects.ShipmentCancelRequest{OrderID: order, Reason: subjects.ReasonStaff})
	expect.Error(t, err, 409, "shipment_left", "")

	want := []string{subjects.ShipmentPending, subjects.ShipmentPacked, subjects.ShipmentShipped, subjects.ShipmentDelivered}
	got, err := subjects.ShipmentGet.Call(e.Customer, e.NC, subjects.ShipmentOrderRequest{OrderID: order})
	if err != nil || !slices.Equal(statuses(got), want) || got.History[2].TrackingNumber != "00340434161094042557" {
		t.Fatalf("the owner's view: %+v %v", got, err)
	}
	if kinds := e.kinds(order); !slices.Equal(kinds, want) {
		t.Fatalf("shipping events: %v, want %v", kinds, want)
	}
	_, other := e.NewCustomer()
	_, err = subjects.ShipmentGet.Call(other, e.NC, subjects.ShipmentOrderRequest{OrderID: order})
	expect.Error(t, err, 404, "shipment_not_found", "")
	_, err = subjects.ShipmentGet.Call(e.Customer, e.NC, subjects.ShipmentOrderRequest{OrderID: "nope"})
	expect.Error(t, err, 400, "validation", "order_id")
}

// order.cancelled cancels a shipment that has not left, leaves one that has (raising the
// operator's alarm), and keeps an order cancelled before its order.paid from getting one. ShipmentCancel, the order
// service's question before it cancels, answers the same way.
func TestACancelledOrderCancelsAShipmentThatHasNotLeft(t *testing.T) {
	e := env{shoptest.NewEnv(t)}
	inst := e.StartShipping(shipping.Config{})
	user := e.CustomerID
	pending, _ := e.paid(user)
	packed, _ := e.paid(user)
	left, _ := e.paid(user)
	if _, err := e.move(e.shipment(packed).ID, subjects.ShipmentPacked, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := e.move(e.shipment(left).ID, subjects.ShipmentShipped, "1Z999"); err != nil {
		t.Fatal(err)
	}
	early := shoptest.NewID()
	e.cancelled(early, user) // before its order.paid
	ev := subjects.OrderPaid{EventID: shoptest.NewID(), OccurredAt: time.Now().UTC(), OrderID: early, UserID: user}
	e.Publish(subjects.EvtOrderPaid.Subject(early), ev.EventID, ev)
	for _, o := range []string{pending, packed, left} {
		e.cancelled(o, user)
	}
	e.AtRest(10 * time.Second)

	for o, want := range map[string][]string{
		pending: {"pending", "cancelled"}, packed: {"pending", "packed", "cancelled"}, left: {"pending", "shipped"},
	} {
		s := e.shipment(o)
		if !slices.Equal(statuses(s), want) || !slices.Equal(e.kinds(o), want) {
			t.Errorf("shipment of order %s: %v, events %v; want %v", o, statuses(s), e.kinds(o), want)
		}
		if s.Status == subjects.ShipmentCancelled && s.History[len(s.History)-1].Reason != subjects.ReasonCustomer {
			t.Errorf("cancelled without the order's reason: %+v", s.History)
		}
	}
	if n := inst.Counter(t, "souk_shipping_cancelled_after_left_total"); n != 1 {
		t.Errorf("the alarm of the order cancelled after its parcel left was raised %v times, want once", n)
	}
	_, err := subjects.ShipmentGet.Call(e.Staff, e.NC, subjects.ShipmentOrderRequest{OrderID: early})
	expect.Error(t, err, 404, "shipment_not_found", "")

	// The order service's question: its own customer's pending shipment is stopped, once.
	asked, _ := e.paid(user)
	e.shipment(asked)
	_, other := e.NewCustomer()
	_, err = subjects.ShipmentCancel.Call(other, e.NC, subjects.ShipmentCancelRequest{OrderID: asked, Reason: subjects.ReasonCustomer})
	expect.Error(t, err, 404, "shipment_not_found", "")
	_, err = subjects.ShipmentCancel.Call(e.Customer, e.NC, subjects.ShipmentCancelRequest{OrderID: asked, Reason: "because"})
	expect.Error(t, err, 400, "validation", "reason")
	for range 2 {
		s, err := subjects.ShipmentCancel.Call(e.Customer, e.NC, subjects.ShipmentCancelRequest{OrderID: asked, Reason: subjects.ReasonCustomer})
		if err != nil || s.Status != subjects.ShipmentCancelled {
			t.Fatalf("cancel asked by the order's owner: %+v %v", s, err)
		}
	}
	if kinds := e.kinds(asked); !slices.Equal(kinds, []string{"pending", "cancelled"}) {
		t.Fatalf("events of a shipment cancelled twice: %v", kinds)
	}
	_, err = e.move(e.shipment(asked).ID, subjects.ShipmentPacked, "")
	expect.Error(t, err, 409, "illegal_move", "")
}

// acme is a carrier integration that books every parcel, as a carrier's API would: the
// carrier's network is the process boundary.
type acme struct {
	mu     sync.Mutex
	booked []shipping.Parcel
}

func (a *acme) Name() string { return "acme" }
func (a *acme) Book(_ context.Context, p shipping.Parcel) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.booked = append(a.booked, p)
	return fmt.Sprintf("ACME-%d", len(a.booked)), nil
}

func (a *acme) parcels() []shipping.Parcel {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.booked)
}
func (a *acme) Track(context.Context, string) (shipping.Tracking, error) {
	return shipping.Tracking{}, shipping.ErrNoTracking
}

// A carrier with an integration books the parcel when staff ship without a tracking number.
func TestACarrierIntegrationBooksTheParcel(t *testing.T) {
	a := &acme{}
	e := newEnv(t, shipping.Config{Carriers: []shipping.Carrier{a}, DefaultCarrier: "acme"})
	order, _ := e.paid(e.CustomerID)
	s := e.shipment(order)
	if s.Carrier != "acme" {
		t.Fatalf("carrier %q, want the default acme", s.Carrier)
	}
	s, err := e.move(s.ID, subjects.ShipmentShipped, "")
	if booked := a.parcels(); err != nil || s.TrackingNumber != "ACME-1" || len(booked) != 1 || booked[0].Address == nil || booked[0].ShipmentID != s.ID {
		t.Fatalf("shipped with acme: %+v %v, booked %+v", s, err, booked)
	}
	// Handed to a carrier without an integration, the tracking number is staff's to give.
	order, _ = e.paid(e.CustomerID)
	_, err = subjects.ShipmentSetStatus.Call(e.Staff, e.NC, subjects.ShipmentStatusRequest{ID: e.shipment(order).ID, Status: subjects.ShipmentShipped, Carrier: "ups"})
	expect.Error(t, err, 400, "validation", "tracking_number")
}
