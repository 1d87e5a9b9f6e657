package shipping

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/subjects"
)

var statuses = []string{subjects.ShipmentPending, subjects.ShipmentPacked, subjects.ShipmentShipped,
	subjects.ShipmentInTransit, subjects.ShipmentDelivered, subjects.ShipmentCancelled}

// Every move from every status to every status, with and without a tracking number: only
// forward moves pass (steps may be skipped), a parcel never leaves without a tracking
// number, and a refused move changes nothing.
func TestShipmentsOnlyMoveForward(t *testing.T) {
	at := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	for _, from := range statuses {
		for _, to := range statuses {
			for _, tracking := range []string{"", "1Z999"} {
				s := &Shipment{Status: from, Carrier: "manual"}
				if rank[from] >= rank[subjects.ShipmentShipped] {
					s.TrackingNumber = "OLD-1" // a parcel that left has one
				}
				before := *s
				err := s.move(Move{Status: to, TrackingNumber: tracking, Carrier: "dhl"}, at)
				var want error
				switch {
				case from == subjects.ShipmentCancelled || to == subjects.ShipmentCancelled || rank[to] <= rank[from]:
					want = ErrIllegalMove
				case rank[to] >= rank[subjects.ShipmentShipped] && tracking == "" && before.TrackingNumber == "":
					want = ErrTrackingRequired
				}
				if !errors.Is(err, want) || (want == nil) != (err == nil) {
					t.Errorf("%s → %s (tracking %q): %v, want %v", from, to, tracking, err, want)
					continue
				}
				if err != nil {
					if s.Status != before.Status || s.TrackingNumber != before.TrackingNumber || s.Carrier != before.Carrier || len(s.History) != 0 {
						t.Errorf("%s → %s refused but changed the shipment: %+v", from, to, s)
					}
					continue
				}
				wantTracking := before.TrackingNumber
				if tracking != "" {
					wantTracking = tracking
				}
				if s.Status != to || s.Carrier != "dhl" || s.TrackingNumber != wantTracking || len(s.History) != 1 || s.History[0].Status != to || !s.History[0].At.Equal(at) {
					t.Errorf("%s → %s: %+v", from, to, s)
				}
			}
		}
	}
}

// A shipment is cancelled only before it leaves; a second cancel changes nothing.
func TestOnlyAShipmentThatHasNotLeftIsCancelled(t *testing.T) {
	at := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	for _, from := range statuses {
		s := &Shipment{Status: from}
		changed, err := s.cancel(subjects.ReasonCustomer, at)
		switch from {
		case subjects.ShipmentPending, subjects.ShipmentPacked:
			if !changed || err != nil || s.Status != subjects.ShipmentCancelled || s.CancelReason != subjects.ReasonCustomer ||
				len(s.History) != 1 || s.History[0].Reason != subjects.ReasonCustomer {
				t.Errorf("cancel %s: %v %v %+v", from, changed, err, s)
			}
		case subjects.ShipmentCancelled:
			if changed || err != nil || len(s.History) != 0 {
				t.Errorf("cancel a cancelled shipment: %v %v %+v", changed, err, s)
			}
		default:
			if changed || !errors.Is(err, ErrLeft) || s.Status != from || len(s.History) != 0 {
				t.Errorf("cancel %s: %v %v %+v", from, changed, err, s)
			}
		}
	}
}

func TestCheckMoveNamesTheBadField(t *testing.T) {
	id := "0190c0de-0000-7000-8000-000000000001"
	cases := []struct {
		req   subjects.ShipmentStatusRequest
		field string
	}{
		{subjects.ShipmentStatusRequest{ID: "nope", Status: "packed"}, "id"},
		{subjects.ShipmentStatusRequest{ID: id}, "status"},
		{subjects.ShipmentStatusRequest{ID: id, Status: "lost"}, "status"},
		{subjects.ShipmentStatusRequest{ID: id, Status: "shipped", TrackingNumber: "1Z\x00"}, "tracking_number"},
		{subjects.ShipmentStatusRequest{ID: id, Status: "shipped", TrackingNumber: string(make([]byte, 65))}, "tracking_number"},
		{subjects.ShipmentStatusRequest{ID: id, Status: "shipped", TrackingNumber: "1Z", Carrier: "DHL Express!"}, "carrier"},
	}
	for _, c := range cases {
		_, _, err := CheckMove(c.req)
		expect.Error(t, err, 400, "validation", c.field)
	}
	got, m, err := CheckMove(subjects.ShipmentStatusRequest{ID: id, Status: " shipped ", TrackingNumber: " 1Z 999 ", Carrier: " DHL "})
	if err != nil || got.String() != id || m != (Move{Status: "shipped", TrackingNumber: "1Z 999", Carrier: "dhl"}) {
		t.Fatalf("a good request: %v %+v %v", got, m, err)
	}
	// pending and cancelled are statuses of the path: refused as moves (409), not as input.
	for _, s := range []string{subjects.ShipmentPending, subjects.ShipmentCancelled} {
		if _, _, err := CheckMove(subjects.ShipmentStatusRequest{ID: id, Status: s}); err != nil {
			t.Errorf("status %s: %v", s, err)
		}
	}
	if !slices.Equal(targets, []string{"packed", "shipped", "in_transit", "delivered"}) {
		t.Fatalf("targets %v", targets)
	}
}
