package cart

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/souk/souk/nats/bus"
	"github.com/souk/souk/platform/consumer"
	"github.com/souk/souk/platform/kit"
	"github.com/souk/souk/platform/metrics"
	"github.com/souk/souk/platform/rpc"
	"github.com/souk/souk/subjects"
)

// Schema is the PostgreSQL schema of the cart service: only its consumer's processed table;
// the carts are in the KV bucket carts.
const Schema = "cart"

// Config configures the cart service. Zero fields take the defaults (config.go).
type Config struct {
	// DefaultCurrency prices an empty cart ("EUR"); a cart with lines is in its products'
	// currency.
	DefaultCurrency string
	// MaxLines is the most distinct products in one cart (100).
	MaxLines int
	// MaxQuantity is the most units of one product in a cart (999).
	MaxQuantity int
	// CatalogConcurrency bounds the catalog calls in flight to price one cart (8).
	CatalogConcurrency int
}

// Service declares the cart service: its endpoints over the carts bucket (opened at start)
// and the consumer of order.placed (events.go). It publishes nothing.
func Service(cfg Config, deps kit.Deps) (kit.Service, error) {
	if err := cfg.defaults(); err != nil {
		return kit.Service{}, err
	}
	store := NewStore(nil, writePatience, metrics.Register(deps.Registry, prometheus.NewCounter(prometheus.CounterOpts{
		Name: "souk_cart_write_conflicts_total",
		Help: "Cart writes that lost a compare-and-swap race and were retried.",
	})))
	h := &handlers{
		store:  store,
		pricer: &pricer{nc: deps.NC, concurrency: cfg.CatalogConcurrency, defaultCurrency: cfg.DefaultCurrency},
		limits: Limits{MaxLines: cfg.MaxLines, MaxQuantity: cfg.MaxQuantity},
	}
	return kit.Service{
		Name: "cart", Version: "0.1.0", Description: "carts and their coupons",
		Schema: Schema, Buckets: []string{bus.BucketCarts},
		Calls: []subjects.Callee{subjects.ProductGet, subjects.CouponQuote},
		Endpoints: []rpc.Binding{
			rpc.Bind(subjects.CartGet, h.get),
			rpc.Bind(subjects.CartAddItem, h.addItem),
			rpc.Bind(subjects.CartSetItem, h.setItem),
			rpc.Bind(subjects.CartRemoveItem, h.removeItem),
			rpc.Bind(subjects.CartClear, h.clear),
			rpc.Bind(subjects.CartCheckedOut, h.checkedOut),
			rpc.Bind(subjects.CartApplyCoupon, h.applyCoupon),
			rpc.Bind(subjects.CartRemoveCoupon, h.removeCoupon),
		},
		Consumers: []*consumer.Consumer{{Name: ordersConsumer, MaxDeliver: ordersMaxDeliver, Idempotent: true, // CheckOut's record (events.go)
			On: []consumer.Route{consumer.On(subjects.EvtOrderPlaced, store.checkOut)}}},
		Start: func(ctx context.Context) error { return store.open(ctx, deps.JS) },
	}, nil
}
