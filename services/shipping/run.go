package shipping

import (
	"embed"

	"github.com/souk/souk/platform/consumer"
	"github.com/souk/souk/platform/kit"
	"github.com/souk/souk/platform/rpc"
	"github.com/souk/souk/subjects"
)

//go:embed migrations/*.sql
var migrationsFS embed.FS

// Schema is the PostgreSQL schema the shipping service owns.
const Schema = "shipping"

// Config configures the shipping service.
type Config struct {
	// Carriers are the carrier integrations, by their Name; the built-in manual carrier is
	// always there.
	Carriers []Carrier
	// DefaultCarrier is the carrier a new shipment starts with; manual when empty. It must
	// be the name of one of Carriers (or manual).
	DefaultCarrier string
	// MaxInFlight bounds the requests handled at once by this instance; 256 when zero.
	MaxInFlight int
}

// Service declares the shipping service: its endpoints, the consumer of the order events
// that create and cancel shipments, and the shipment events it publishes.
func Service(cfg Config, deps kit.Deps) (kit.Service, error) {
	carriers, err := cfg.carriers()
	if err != nil {
		return kit.Service{}, err
	}
	store := NewStore(deps.DB)
	h := &handlers{store: store, carriers: carriers}
	o := newOrders(store, cfg.DefaultCarrier, deps.Logger("shipping"), deps.Registry)
	return kit.Service{
		Name: "shipping", Version: "0.1.0", Description: "shipments, carriers and tracking",
		Schema: Schema, Migrations: migrationsFS, MaxInFlight: cfg.MaxInFlight,
		Publishes: []subjects.EventKind{subjects.EvtShipmentCreated.EventKind, subjects.EvtShipmentPacked.EventKind,
			subjects.EvtShipmentShipped.EventKind, subjects.EvtShipmentInTransit.EventKind,
			subjects.EvtShipmentDelivered.EventKind, subjects.EvtShipmentCancelled.EventKind},
		Endpoints: []rpc.Binding{
			rpc.Bind(subjects.ShipmentGet, h.get),
			rpc.Bind(subjects.ShipmentCancel, h.cancel),
			rpc.Bind(subjects.ShipmentSetStatus, h.setStatus),
			rpc.Bind(subjects.ShipmentList, h.list),
		},
		Consumers: []*consumer.Consumer{{Name: "shipping-orders", On: o.routes(), Idempotent: true}},
	}, nil
}
