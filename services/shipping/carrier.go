package shipping

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/souk/souk/subjects"
)

// Carrier is a carrier integration: what a real carrier's API (DHL, UPS, a label broker)
// plugs into. The service calls it outside any transaction and under a deadline; an
// implementation makes its own HTTP calls with that context.
type Carrier interface {
	// Name is the carrier's name as shipments show it and staff name it: lowercase letters,
	// digits, dashes and underscores (dhl, ups).
	Name() string
	// Book hands the parcel to the carrier as the shipment is moved to shipped without a
	// tracking number: it creates the label and returns the parcel's tracking number. The
	// parcel's ShipmentID is the idempotency key to send, so that a retried move books one
	// parcel. ErrNoBooking says the carrier books nothing: staff must type the number in.
	Book(ctx context.Context, p Parcel) (trackingNumber string, err error)
	// Track looks a parcel up at the carrier: where it is now. ErrNoTracking says the
	// carrier has no tracking to ask. What a tracking poller or a carrier's webhook would
	// move shipments with; Souk's built-in manual carrier has none.
	Track(ctx context.Context, trackingNumber string) (Tracking, error)
}

// Parcel is what a carrier needs to book a shipment.
type Parcel struct {
	ShipmentID string
	OrderID    string
	Address    *subjects.Address
	Lines      []subjects.OrderLine
}

// Tracking is a carrier's latest word on a parcel.
type Tracking struct {
	// Status is shipped, in_transit or delivered.
	Status string
	// At is when the carrier saw it.
	At time.Time
}

// Carrier errors.
var (
	// ErrNoBooking is the answer of a carrier that books no parcels.
	ErrNoBooking = errors.New("the carrier books no parcels: give the tracking number")
	// ErrNoTracking is the answer of a carrier with no tracking to ask.
	ErrNoTracking = errors.New("the carrier has no tracking to ask")
)

// manual is the built-in carrier: staff hand the parcel over (to any carrier they like, named
// in the move) and type in its tracking number. It books nothing and tracks nothing.
type manual struct{}

func (manual) Name() string                                    { return subjects.CarrierManual }
func (manual) Book(context.Context, Parcel) (string, error)    { return "", ErrNoBooking }
func (manual) Track(context.Context, string) (Tracking, error) { return Tracking{}, ErrNoTracking }

// Manual returns the built-in manual carrier.
func Manual() Carrier { return manual{} }

// carriers indexes the integrations by name, manual included, and checks the default.
func (c *Config) carriers() (map[string]Carrier, error) {
	out := map[string]Carrier{subjects.CarrierManual: Manual()}
	for _, cr := range c.Carriers {
		if cr == nil || !carrierPattern.MatchString(cr.Name()) {
			return nil, errors.New("shipping: a carrier needs a name of lowercase letters, digits, dashes or underscores")
		}
		out[cr.Name()] = cr
	}
	if c.DefaultCarrier == "" {
		c.DefaultCarrier = subjects.CarrierManual
	}
	if _, ok := out[c.DefaultCarrier]; !ok {
		return nil, fmt.Errorf("shipping: default carrier %q has no integration", c.DefaultCarrier)
	}
	return out, nil
}
