package shipping_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/platform/page"
	"github.com/souk/souk/services/shipping"
	"github.com/souk/souk/subjects"
)

// list pages through the shipments of statuses as staff, limit a page, calling between
// after each page but the last; it returns the shipments listed and the cursors given.
func (e env) list(statuses []string, limit int, between func()) ([]subjects.Shipment, []string) {
	e.T.Helper()
	var got []subjects.Shipment
	var cursors []string
	req := subjects.ShipmentListRequest{Status: statuses, Limit: limit}
	for pages := 0; ; pages++ {
		if pages > 50 {
			e.T.Fatal("the list never ends")
		}
		p, err := subjects.ShipmentList.Call(e.Staff, e.NC, req)
		if err != nil {
			e.T.Fatalf("list %v: %v", statuses, err)
		}
		if len(p.Items) > limit || (p.NextCursor != "" && len(p.Items) != limit) {
			e.T.Fatalf("a page of %d shipments (limit %d), next %q", len(p.Items), limit, p.NextCursor)
		}
		got = append(got, p.Items...)
		if p.NextCursor == "" {
			return got, cursors
		}
		cursors = append(cursors, p.NextCursor)
		req.Cursor = p.NextCursor
		if between != nil {
			between()
		}
	}
}

// oldestFirst returns the ids of shipments sorted as the list sorts them.
func oldestFirst(shipments []subjects.Shipment) []string {
	s := slices.Clone(shipments)
	slices.SortFunc(s, func(a, b subjects.Shipment) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return shipmentIDs(s)
}

func shipmentIDs(shipments []subjects.Shipment) []string {
	out := make([]string, len(shipments))
	for i, s := range shipments {
		out[i] = s.ID
	}
	return out
}

// Staff's work list: the pending shipments, oldest first, each once across pages with what
// a packer needs (lines, address, history), while new paid orders keep arriving (they join
// at the end); other statuses on request, alone or together.
func TestStaffListShipmentsToWorkOn(t *testing.T) {
	e := newEnv(t, shipping.Config{})
	var pending, packed []subjects.Shipment
	for i := range 7 {
		order, _ := e.paid(e.CustomerID)
		s := e.shipment(order)
		if i%3 == 0 {
			if _, err := e.move(s.ID, subjects.ShipmentPacked, ""); err != nil {
				t.Fatal(err)
			}
			packed = append(packed, s)
			continue
		}
		pending = append(pending, s)
	}
	got, _ := e.list(nil, 2, func() { // an order paid while staff page through the list
		order, _ := e.paid(e.CustomerID)
		pending = append(pending, e.shipment(order))
	})
	if want := oldestFirst(pending); !slices.Equal(shipmentIDs(got), want) {
		t.Fatalf("pending shipments listed %v, want oldest first %v", shipmentIDs(got), want)
	}
	for _, s := range got {
		if s.Status != subjects.ShipmentPending || len(s.Lines) != 1 || s.ShippingAddress == nil || s.ShippingAddress.City != "Berlin" ||
			len(s.History) != 1 || s.OrderID == "" || s.Carrier != subjects.CarrierManual || s.CreatedAt.IsZero() {
			t.Fatalf("a listed shipment lacks what a packer needs: %+v", s)
		}
	}
	if got, _ := e.list([]string{subjects.ShipmentPacked}, 2, nil); !slices.Equal(shipmentIDs(got), oldestFirst(packed)) ||
		!slices.Equal(statuses(got[0]), []string{subjects.ShipmentPending, subjects.ShipmentPacked}) {
		t.Fatalf("packed shipments listed %v, want %v", shipmentIDs(got), oldestFirst(packed))
	}
	both, _ := e.list([]string{subjects.ShipmentPacked, subjects.ShipmentPending}, 3, nil)
	if want := oldestFirst(append(slices.Clone(pending), packed...)); !slices.Equal(shipmentIDs(both), want) {
		t.Fatalf("pending and packed listed %v, want %v", shipmentIDs(both), want)
	}
	if got, _ := e.list([]string{subjects.ShipmentDelivered}, 2, nil); len(got) != 0 {
		t.Fatalf("delivered shipments: %v", shipmentIDs(got))
	}
}

// A customer may not list shipments (403); an unknown status is a 400 naming it; a cursor
// of one status list continues no other (400 naming the cursor).
func TestStaffShipmentListRefusals(t *testing.T) {
	e := newEnv(t, shipping.Config{})
	for range 3 {
		order, _ := e.paid(e.CustomerID)
		e.shipment(order)
	}
	_, err := subjects.ShipmentList.Call(e.Customer, e.NC, subjects.ShipmentListRequest{})
	expect.Error(t, err, 403, "", "")
	_, err = subjects.ShipmentList.Call(e.Staff, e.NC, subjects.ShipmentListRequest{Status: []string{subjects.ShipmentPending, "lost"}})
	expect.Error(t, err, 400, "validation", "status")
	_, err = subjects.ShipmentList.Call(e.Staff, e.NC, subjects.ShipmentListRequest{Limit: page.Max + 1})
	expect.Error(t, err, 400, "validation", "limit")

	_, cursors := e.list(nil, 1, nil)
	for _, other := range [][]string{{subjects.ShipmentPacked}, {subjects.ShipmentPending, subjects.ShipmentPacked}} {
		_, err = subjects.ShipmentList.Call(e.Staff, e.NC, subjects.ShipmentListRequest{Status: other, Cursor: cursors[0]})
		expect.Error(t, err, 400, "validation", "cursor")
	}
	// pending named is the default list: its cursor continues it.
	if _, err := subjects.ShipmentList.Call(e.Staff, e.NC, subjects.ShipmentListRequest{Status: []string{subjects.ShipmentPending}, Cursor: cursors[0]}); err != nil {
		t.Fatalf("the default list's cursor with pending named: %v", err)
	}
}
