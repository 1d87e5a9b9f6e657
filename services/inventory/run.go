package inventory

import (
	"cmp"
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
	"github.com/souk/souk/platform/metrics"
	"github.com/souk/souk/platform/outbox"
	"github.com/souk/souk/platform/pg"
	"github.com/souk/souk/platform/rpc"
	"github.com/souk/souk/subjects"
)

//go:embed migrations/*.sql
var migrationsFS embed.FS

// Schema is the PostgreSQL schema the inventory service owns.
const Schema = "inventory"

// Defaults of Config.
const (
	DefaultReservationTTL = 15 * time.Minute
	DefaultSweepEvery     = 5 * time.Second
	DefaultMaxBatch       = 256
	DefaultMaxQueue       = 1024
	DefaultCommitters     = 1
)

// Config configures the inventory service. Zero values take the defaults.
type Config struct {
	// ReservationTTL is how long a hold waits for its payment (15 min): the payment deadline,
	// after which the order service cancels with payment_timeout.
	ReservationTTL time.Duration
	// SweepEvery is how often expired holds are looked for (5 s).
	SweepEvery time.Duration
	// MaxBatch bounds the reservations decided in one transaction, and the holds expired in
	// one (256).
	MaxBatch int
	// MaxQueue bounds the reservation requests waiting for a transaction (1024); a request
	// that finds it full is refused at once with 503.
	MaxQueue int
	// Committers is how many reservation transactions may be under way at once (1). With
	// more, the next batch waits for the stock rows while one commits; on a hot SKU through
	// NATS on two cores one committer, with bigger batches, took more (docs/performance.md).
	Committers int
}

func (c *Config) defaults() error {
	if c.ReservationTTL < 0 || c.SweepEvery < 0 || c.MaxBatch < 0 || c.MaxQueue < 0 || c.Committers < 0 {
		return errors.New("inventory: negative ReservationTTL, SweepEvery, MaxBatch, MaxQueue or Committers")
	}
	c.ReservationTTL = cmp.Or(c.ReservationTTL, DefaultReservationTTL)
	c.SweepEvery = cmp.Or(c.SweepEvery, DefaultSweepEvery)
	c.MaxBatch = cmp.Or(c.MaxBatch, DefaultMaxBatch)
	c.MaxQueue = cmp.Or(c.MaxQueue, DefaultMaxQueue)
	c.Committers = cmp.Or(c.Committers, DefaultCommitters)
	return nil
}

// Deps are what the inventory service needs from its process.
type Deps struct {
	Log      zerolog.Logger
	DB       *pgxpool.Pool
	NC       *nats.Conn
	JS       jetstream.JetStream
	Registry prometheus.Registerer
	// Keys is where callers' token keys come from: the auth service's JWKS over NATS when nil.
	Keys authn.KeySource
}

// Migrate applies the inventory's migrations, its outbox's and its consumer's processed
// table.
func Migrate(ctx context.Context, db *pgxpool.Pool) error {
	return errors.Join(pg.Migrate(ctx, db, Schema, migrationsFS), outbox.Migrate(ctx, db, Schema), consumer.Migrate(ctx, db, Schema))
}

// Run migrates the schema and serves the inventory until ctx ends: the endpoints, the
// Reserver, the outbox relay, the saga consumer and the expiry sweeper. Then it stops them
// all gracefully: the endpoints drain first, so that no caller waits on a stopped Reserver.
func Run(ctx context.Context, cfg Config, deps Deps) error {
	if err := cfg.defaults(); err != nil {
		return err
	}
	if err := Migrate(ctx, deps.DB); err != nil {
		return err
	}
	if err := bus.EnsureStreams(ctx, deps.JS); err != nil {
		return fmt.Errorf("inventory: %w", err)
	}
	if deps.Registry == nil {
		deps.Registry = prometheus.NewRegistry()
	}
	log := deps.Log.With().Str("service", "inventory").Logger()
	relay := outbox.NewRelay(Schema, deps.DB, deps.JS, log)
	relay.Metrics = deps.Registry
	store := NewStore(deps.DB, cfg.ReservationTTL, relay.Kick)
	batches, took := reserverMetrics(deps.Registry)
	reserver := NewReserver(store, cfg.MaxBatch, cfg.MaxQueue, batches, took, log)

	g := background.Start(ctx, log)
	defer g.Stop()
	g.Run("reserver", func(ctx context.Context) { reserver.Run(ctx, cfg.Committers) })
	g.Go("outbox relay", relay.Run)
	orders := &consumer.Consumer{Name: "inventory-orders", Stream: "ORDERS", Subjects: orderSubjects,
		Schema: Schema, DB: deps.DB, JS: deps.JS, Log: log, Metrics: deps.Registry, Handle: store.applyOrderEvent,
		AfterCommit: func([]consumer.Msg) { relay.Kick() }}
	g.Go("consumer "+orders.Name, orders.Run)
	g.Run("sweeper", func(ctx context.Context) { store.sweep(ctx, cfg.SweepEvery, cfg.MaxBatch, log) })
	return serve(ctx, &handlers{store: store, reserver: reserver}, deps, g)
}

// reserverMetrics are the histograms of the Reserver's batch sizes and transaction times.
func reserverMetrics(r prometheus.Registerer) (batches, took prometheus.Observer) {
	batches = metrics.Register(r, prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "souk_inventory_reserve_batch_size",
		Help:    "Reservation requests decided per transaction.",
		Buckets: prometheus.ExponentialBuckets(1, 2, 9), // 1 … 256
	}))
	took = metrics.Register(r, prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "souk_inventory_reserve_batch_seconds",
		Help:    "Time of one reservation batch's transaction, attempts included.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 12), // 0.5 ms … 1 s
	}))
	return batches, took
}

// serve registers the endpoints and serves until ctx ends.
func serve(ctx context.Context, h *handlers, deps Deps, loops *background.Group) error {
	return rpc.Serve(ctx, rpc.Config{Name: "inventory", Version: "0.1.0", Description: "stock per SKU, reservations per order"},
		rpc.Deps{Log: deps.Log, NC: deps.NC, Registry: deps.Registry, Verifier: authn.NewVerifierFor(deps.Keys, deps.NC), Loops: loops},
		func(svc *rpc.Service) error {
			return svc.Add(
				rpc.Bind(subjects.InventoryGet, h.get),
				rpc.Bind(subjects.InventorySet, h.set),
				rpc.Bind(subjects.InventoryReserve, h.reserve),
			)
		})
}
