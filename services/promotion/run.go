package promotion

import (
	"embed"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/souk/souk/platform/consumer"
	"github.com/souk/souk/platform/kit"
	"github.com/souk/souk/platform/metrics"
	"github.com/souk/souk/platform/rpc"
	"github.com/souk/souk/subjects"
)

//go:embed migrations/*.sql
var migrationsFS embed.FS

// Schema is the PostgreSQL schema the promotion service owns.
const Schema = "promo"

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

// Service declares the promotion service: the coupon endpoints, the consumer of the order
// events that move a redemption (events.go), the coupon events it publishes, and the sweeper
// of holds no order confirmed.
func Service(cfg Config, deps kit.Deps) (kit.Service, error) {
	if err := cfg.defaults(); err != nil {
		return kit.Service{}, err
	}
	store := NewStore(deps.DB)
	h := &handlers{store: store, holds: newHolder(store)}
	sweep := newSweeper(store, cfg, deps.Logger("promotion"), deps.Registry)
	return kit.Service{
		Name: "promotion", Version: "0.1.0", Description: "coupons and redemptions",
		Schema: Schema, Migrations: migrationsFS,
		Publishes: []subjects.EventKind{subjects.EvtCouponRedeemed.EventKind, subjects.EvtCouponReturned.EventKind,
			subjects.EvtCouponRefused.EventKind},
		Endpoints: []rpc.Binding{
			rpc.Bind(subjects.CouponCreate, h.couponCreate),
			rpc.Bind(subjects.CouponList, h.couponList),
			rpc.Bind(subjects.CouponQuote, h.couponQuote),
			rpc.Bind(subjects.CouponHold, h.couponHold),
			rpc.Bind(subjects.CouponRelease, h.couponRelease),
		},
		Consumers: []*consumer.Consumer{{Name: "promotion-orders", On: orderRoutes(redemptions(deps.Registry)), Idempotent: true}},
		Loops:     []kit.Loop{{Name: "sweeper", Round: sweep.round, Every: cfg.SweepEvery}},
	}, nil
}

// redemptions is souk_promotion_redemptions_total on reg: coupon redemptions made final (the
// order paid), each counted once when its transaction committed; a late paid event that
// revives a swept hold counts too, a refused one does not. A redemption returned later (the
// order cancelled after payment) stays counted: the counter says how often coupons were used.
func redemptions(reg prometheus.Registerer) prometheus.Counter {
	return metrics.Register(reg, prometheus.NewCounter(prometheus.CounterOpts{
		Name: "souk_promotion_redemptions_total",
		Help: "Coupon redemptions made final (their order paid), each counted once.",
	}))
}
