package inventory

import (
	"cmp"
	"context"
	"embed"
	"errors"
	"time"

	"github.com/souk/souk/nats/bus"
	"github.com/souk/souk/platform/consumer"
	"github.com/souk/souk/platform/kit"
	"github.com/souk/souk/platform/liveconfig"
	"github.com/souk/souk/platform/rpc"
	"github.com/souk/souk/subjects"
)

//go:embed migrations/*.sql
var migrationsFS embed.FS

// Schema is the PostgreSQL schema the inventory service owns.
const Schema = "inventory"

// Config configures the inventory service. Zero values take the defaults.
type Config struct {
	// ReservationTTL is how long a hold waits for its payment (15 min): the payment deadline,
	// after which the order service cancels with payment_timeout. The live key
	// inventory.reservation_ttl overrides it while the config bucket holds one.
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

// Service declares the inventory service: its endpoints, the saga's consumer of order
// events, the stock and reservation events it publishes, the Reserver that coalesces
// reservations and the sweeper of expired holds. The kit stops the loops after the endpoints
// drained, so no caller waits on a stopped Reserver.
func Service(cfg Config, deps kit.Deps) (kit.Service, error) {
	if cfg.ReservationTTL < 0 || cfg.SweepEvery < 0 || cfg.MaxBatch < 0 || cfg.MaxQueue < 0 || cfg.Committers < 0 {
		return kit.Service{}, errors.New("inventory: negative ReservationTTL, SweepEvery, MaxBatch, MaxQueue or Committers")
	}
	log := deps.Logger("inventory")
	maxBatch := cmp.Or(cfg.MaxBatch, DefaultMaxBatch)
	ttl := cmp.Or(cfg.ReservationTTL, DefaultReservationTTL)
	store := NewStore(deps.DB, ttl)
	store.ttl = liveconfig.ReservationTTL.Bind(deps.Live, ttl)
	store.counts = newCounts(deps.Registry)
	batches, took := reserverMetrics(deps.Registry)
	reserver := NewReserver(store, maxBatch, cmp.Or(cfg.MaxQueue, DefaultMaxQueue), batches, took, log)
	h := &handlers{store: store, reserver: reserver}
	qh := &quotaHandlers{store: store, js: deps.JS, log: log, replicas: deps.Replicas}
	return kit.Service{
		Name: "inventory", Version: "0.1.0", Description: "stock per SKU, reservations per order",
		Schema: Schema, Migrations: migrationsFS,
		Publishes: []subjects.EventKind{subjects.EvtStockLevel.EventKind, subjects.EvtInventoryReserved.EventKind,
			subjects.EvtInventoryRejected.EventKind, subjects.EvtInventoryExpired.EventKind,
			subjects.EvtInventoryCommitted.EventKind, subjects.EvtInventoryReleased.EventKind, subjects.EvtQuotaGranted.EventKind},
		// SITE_SALES's and LOGS's sources follow the sites granted a quota (ensureSources); a site's
		// SALES and quota bucket are read through its domain (readSite).
		Streams:   []string{subjects.StreamSiteSales, subjects.StreamLogs},
		SiteReads: []string{subjects.StreamSales, "KV_" + bus.BucketQuota},
		Endpoints: []rpc.Binding{
			rpc.Bind(subjects.InventoryGet, h.get),
			rpc.Bind(subjects.InventorySet, h.set),
			rpc.Bind(subjects.InventoryReserve, h.reserve),
			rpc.Bind(subjects.QuotaGrant, qh.grant),
			rpc.Bind(subjects.QuotaReport, qh.report),
			rpc.Bind(subjects.QuotaReturn, qh.giveBack),
		},
		Consumers: []*consumer.Consumer{
			{Name: "inventory-orders", On: store.orderEvents(), Idempotent: true}, // keyed by order and status (events.go)
			{Name: "inventory-site-sales", On: []consumer.Route{consumer.On(subjects.EvtSale, store.recordSale)}},
		},
		Start: qh.ensureSources,
		Loops: []kit.Loop{
			{Name: "reserver", Run: func(ctx context.Context) error {
				reserver.Run(ctx, cmp.Or(cfg.Committers, DefaultCommitters))
				return nil
			}},
			{Name: "sweeper", Round: expiry{store: store, limit: maxBatch, log: log}.round, Every: cmp.Or(cfg.SweepEvery, DefaultSweepEvery)},
		},
	}, nil
}
