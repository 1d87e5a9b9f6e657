package order

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"time"

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

// Schema is the PostgreSQL schema the order service owns.
const Schema = "orders"

// Config configures the order service.
type Config struct {
	// MaxInFlight bounds the requests handled at once by this instance; 256 when zero.
	MaxInFlight int
	// PendingTimeout is how long an order may stay pending (its order.placed not yet answered
	// by the inventory) before the sweeper cancels it not_confirmed; DefaultPendingTimeout
	// (15 min, the inventory's default hold) when zero.
	PendingTimeout time.Duration
	// PendingSweepEvery is how often the sweeper looks (DefaultPendingSweepEvery, 10 s, when
	// zero).
	PendingSweepEvery time.Duration
}

// Deps are what the order service needs from its process.
type Deps struct {
	Log      zerolog.Logger
	DB       *pgxpool.Pool
	NC       *nats.Conn
	JS       jetstream.JetStream
	Registry prometheus.Registerer
	// Keys is where callers' token keys come from: the auth service's JWKS over NATS when nil.
	Keys authn.KeySource
}

// Migrate applies the order schema's migrations, its outbox's and its consumers' processed
// table.
func Migrate(ctx context.Context, db *pgxpool.Pool) error {
	return errors.Join(pg.Migrate(ctx, db, Schema, migrationsFS), outbox.Migrate(ctx, db, Schema), consumer.Migrate(ctx, db, Schema))
}

// Run migrates the schema and serves orders until ctx ends: the endpoints, the outbox relay
// and the saga's consumers of inventory, payment, shipping and promotion events.
func Run(ctx context.Context, cfg Config, deps Deps) error {
	if err := Migrate(ctx, deps.DB); err != nil {
		return err
	}
	if err := errors.Join(bus.EnsureStreams(ctx, deps.JS), bus.EnsureBuckets(ctx, deps.JS)); err != nil {
		return fmt.Errorf("order: %w", err)
	}
	log := deps.Log.With().Str("service", "order").Logger()
	relay := outbox.NewRelay(Schema, deps.DB, deps.JS, log)
	relay.Metrics = deps.Registry
	store := NewStore(deps.DB, relay.Kick)
	h := &handlers{store: store, nc: deps.NC, log: log}

	sg := newSaga(store, log, deps.Registry)
	sweep, err := newSweeper(store, cfg, log, deps.Registry)
	if err != nil {
		return err
	}

	g := background.Start(ctx, log)
	defer g.Stop()
	g.Go("outbox relay", relay.Run)
	g.Go("pending sweeper", sweep.Run)
	for _, c := range []*consumer.Consumer{
		{Name: "order-inventory", Stream: "INVENTORY", Subjects: inventorySubjects},
		{Name: "order-payments", Stream: "PAYMENTS", Subjects: paymentSubjects},
		{Name: "order-shipping", Stream: "SHIPPING", Subjects: shippingSubjects},
	} {
		c.Schema, c.DB, c.JS, c.Log, c.Handle, c.Metrics = Schema, deps.DB, deps.JS, log, sg.apply, deps.Registry
		c.AfterCommit = func([]consumer.Msg) { relay.Kick() }
		g.Go("consumer "+c.Name, c.Run)
	}
	refused := &consumer.Consumer{Name: "order-promotions", Stream: "PROMOTIONS", Subjects: promotionSubjects,
		Schema: Schema, DB: deps.DB, JS: deps.JS, Log: log, Metrics: deps.Registry, Handle: store.applyCouponRefused,
		AfterCommit: func([]consumer.Msg) { relay.Kick() }}
	g.Go("consumer "+refused.Name, refused.Run)
	return serve(ctx, cfg, h, deps, g)
}

// serve registers the endpoints and serves until ctx ends.
func serve(ctx context.Context, cfg Config, h *handlers, deps Deps, loops *background.Group) error {
	return rpc.Serve(ctx, rpc.Config{Name: "order", Version: "0.1.0", Description: "orders and the checkout saga", MaxInFlight: cfg.MaxInFlight},
		rpc.Deps{Log: deps.Log, NC: deps.NC, Registry: deps.Registry, Verifier: authn.NewVerifierFor(deps.Keys, deps.NC), Loops: loops},
		func(svc *rpc.Service) error {
			return svc.Add(
				rpc.Bind(subjects.OrderPlace, h.place),
				rpc.Bind(subjects.OrderGet, h.get),
				rpc.Bind(subjects.OrderList, h.list),
				rpc.Bind(subjects.OrderCancel, h.cancel),
			)
		})
}
