package promotion

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
	"github.com/souk/souk/platform/metrics"
	"github.com/souk/souk/platform/outbox"
	"github.com/souk/souk/platform/pg"
	"github.com/souk/souk/platform/rpc"
	"github.com/souk/souk/subjects"
)

//go:embed migrations/*.sql
var migrationsFS embed.FS

// Schema is the PostgreSQL schema the promotion service owns.
const Schema = "promo"

// Defaults of Config.
const (
	DefaultHoldTTL    = 10 * time.Minute
	DefaultSweepEvery = 30 * time.Second
)

// Config configures the promotion service.
type Config struct {
	// HoldTTL is how long a hold may wait for its order.placed before the sweeper returns it
	// (the order service died between the hold and storing the order); 10 min when zero. It
	// must exceed the order service's placement time plus the ORDERS consumer's usual lag: a
	// placed event later than that brings the hold back, but its slot may have been given
	// away meanwhile.
	HoldTTL time.Duration
	// SweepEvery is the pause between sweeps for expired holds; 30 s when zero.
	SweepEvery time.Duration
}

func (c *Config) defaults() error {
	if c.HoldTTL < 0 || c.SweepEvery < 0 {
		return errors.New("promotion: HoldTTL and SweepEvery must not be negative")
	}
	if c.HoldTTL == 0 {
		c.HoldTTL = DefaultHoldTTL
	}
	if c.SweepEvery == 0 {
		c.SweepEvery = DefaultSweepEvery
	}
	return nil
}

// Deps are what the promotion service needs from its process.
type Deps struct {
	Log      zerolog.Logger
	DB       *pgxpool.Pool
	NC       *nats.Conn
	JS       jetstream.JetStream
	Registry prometheus.Registerer
	// Keys is where callers' token keys come from: the auth service's JWKS over NATS when nil.
	Keys authn.KeySource
}

// Migrate applies the promotion service's migrations, its outbox's and its consumer's
// processed table.
func Migrate(ctx context.Context, db *pgxpool.Pool) error {
	return errors.Join(pg.Migrate(ctx, db, Schema, migrationsFS), outbox.Migrate(ctx, db, Schema), consumer.Migrate(ctx, db, Schema))
}

// Run migrates the schema and serves the promotion service until ctx ends: the endpoints,
// the outbox relay, the consumer of order events and the sweeper of expired holds. Then it
// stops them all gracefully.
func Run(ctx context.Context, cfg Config, deps Deps) error {
	if err := cfg.defaults(); err != nil {
		return err
	}
	if err := Migrate(ctx, deps.DB); err != nil {
		return stoppedOr(ctx, err)
	}
	if err := bus.EnsureStreams(ctx, deps.JS); err != nil {
		return stoppedOr(ctx, fmt.Errorf("promotion: %w", err))
	}
	log := deps.Log.With().Str("service", "promotion").Logger()
	relay := outbox.NewRelay(Schema, deps.DB, deps.JS, log)
	relay.Metrics = deps.Registry
	store := NewStore(deps.DB, relay.Kick)

	g := background.Start(ctx, log)
	defer g.Stop()
	g.Go("outbox relay", relay.Run)
	orders := &consumer.Consumer{Name: "promotion-orders", Stream: "ORDERS", Subjects: orderSubjects,
		Schema: Schema, DB: deps.DB, JS: deps.JS, Log: log, Metrics: deps.Registry, Handle: applyOrderEvent,
		AfterCommit: func([]consumer.Msg) { relay.Kick() }}
	g.Go("consumer "+orders.Name, orders.Run)
	sw := &sweeper{store: store, ttl: cfg.HoldTTL, every: cfg.SweepEvery, log: log,
		expired: metrics.Register(deps.Registry, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "souk_promotion_holds_expired_total",
			Help: "Coupon holds returned because no order.placed confirmed them within the hold TTL.",
		}))}
	g.Run("sweeper", sw.run)
	return serve(ctx, &handlers{store: store, holds: newHolder(store)}, deps, g)
}

// serve registers the endpoints and serves until ctx ends.
func serve(ctx context.Context, h *handlers, deps Deps, loops *background.Group) error {
	return rpc.Serve(ctx, rpc.Config{Name: "promotion", Version: "0.1.0", Description: "coupons and redemptions"},
		rpc.Deps{Log: deps.Log, NC: deps.NC, Registry: deps.Registry, Verifier: authn.NewVerifierFor(deps.Keys, deps.NC), Loops: loops},
		func(svc *rpc.Service) error {
			return svc.Add(
				rpc.Bind(subjects.CouponCreate, h.couponCreate),
				rpc.Bind(subjects.CouponList, h.couponList),
				rpc.Bind(subjects.CouponQuote, h.couponQuote),
				rpc.Bind(subjects.CouponHold, h.couponHold),
				rpc.Bind(subjects.CouponRelease, h.couponRelease),
			)
		})
}

// stoppedOr is err, unless ctx ended: a service stopped while it was starting has failed at
// nothing (a scaled-out test stops an instance still ensuring its streams).
func stoppedOr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}
