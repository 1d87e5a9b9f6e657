package shipping

import (
	"context"
	"embed"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/souk/souk/nats/bus"
	"github.com/souk/souk/platform/authn"
	"github.com/souk/souk/platform/background"
	"github.com/souk/souk/platform/consumer"
	"github.com/souk/souk/platform/outbox"
	"github.com/souk/souk/platform/pg"
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

// Deps are what the shipping service needs from its process.
type Deps struct {
	Log      zerolog.Logger
	DB       *pgxpool.Pool
	NC       *nats.Conn
	JS       jetstream.JetStream
	Registry prometheus.Registerer
	// Keys is where callers' token keys come from: the auth service's JWKS over NATS when nil.
	Keys authn.KeySource
}

// Migrate applies the shipping schema's migrations, its outbox's and its consumer's
// processed table.
func Migrate(ctx context.Context, db *pgxpool.Pool) error {
	return errors.Join(pg.Migrate(ctx, db, Schema, migrationsFS), outbox.Migrate(ctx, db, Schema), consumer.Migrate(ctx, db, Schema))
}

// Run migrates the schema and serves shipments until ctx ends: the endpoints, the outbox
// relay and the consumer of order events. Then it stops them all gracefully.
func Run(ctx context.Context, cfg Config, deps Deps) error {
	carriers, err := cfg.carriers()
	if err != nil {
		return err
	}
	if err := Migrate(ctx, deps.DB); err != nil {
		return err
	}
	if err := bus.EnsureStreams(ctx, deps.JS); err != nil {
		return fmt.Errorf("shipping: %w", err)
	}
	log := deps.Log.With().Str("service", "shipping").Logger()
	relay := outbox.NewRelay(Schema, deps.DB, deps.JS, log)
	relay.Metrics = deps.Registry
	store := NewStore(deps.DB, relay.Kick)

	g := background.Start(ctx, log)
	defer g.Stop()
	g.Go("outbox relay", relay.Run)
	o := newOrders(store, cfg.DefaultCarrier, log, deps.Registry)
	c := &consumer.Consumer{Name: "shipping-orders", Stream: "ORDERS", Subjects: orderSubjects,
		Schema: Schema, DB: deps.DB, JS: deps.JS, Log: log, Metrics: deps.Registry, Handle: o.apply,
		AfterCommit: func([]consumer.Msg) { relay.Kick() }}
	g.Go("consumer "+c.Name, c.Run)
	return serve(ctx, cfg, &handlers{store: store, carriers: carriers}, deps, g)
}

// serve registers the endpoints and serves until ctx ends.
func serve(ctx context.Context, cfg Config, h *handlers, deps Deps, loops *background.Group) error {
	return rpc.Serve(ctx, rpc.Config{Name: "shipping", Version: "0.1.0", Description: "shipments, carriers and tracking", MaxInFlight: cfg.MaxInFlight},
		rpc.Deps{Log: deps.Log, NC: deps.NC, Registry: deps.Registry, Verifier: authn.NewVerifierFor(deps.Keys, deps.NC), Loops: loops},
		func(svc *rpc.Service) error {
			return svc.Add(
				rpc.Bind(subjects.ShipmentGet, h.get),
				rpc.Bind(subjects.ShipmentCancel, h.cancel),
				rpc.Bind(subjects.ShipmentSetStatus, h.setStatus),
			)
		})
}
