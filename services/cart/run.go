package cart

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"golang.org/x/text/currency"

	"github.com/souk/souk/nats/bus"
	"github.com/souk/souk/platform/authn"
	"github.com/souk/souk/platform/background"
	"github.com/souk/souk/platform/metrics"
	"github.com/souk/souk/platform/rpc"
	"github.com/souk/souk/subjects"
)

// Defaults of Config.
const (
	DefaultCurrency           = "EUR"
	DefaultMaxLines           = 100
	DefaultMaxQuantity        = 999
	DefaultCatalogConcurrency = 8
	// writeAttempts bounds the compare-and-swap loop of one write; then it is a 409.
	writeAttempts = 10
)

// Config configures the cart service. Zero fields take the defaults above.
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

func (c *Config) defaults() error {
	if c.DefaultCurrency == "" {
		c.DefaultCurrency = DefaultCurrency
	}
	c.DefaultCurrency = strings.ToUpper(c.DefaultCurrency)
	if _, err := currency.ParseISO(c.DefaultCurrency); err != nil || len(c.DefaultCurrency) != 3 {
		return fmt.Errorf("cart: default currency %q is no ISO 4217 code", c.DefaultCurrency)
	}
	if c.MaxLines <= 0 {
		c.MaxLines = DefaultMaxLines
	}
	if c.MaxQuantity <= 0 {
		c.MaxQuantity = DefaultMaxQuantity
	}
	if c.CatalogConcurrency <= 0 {
		c.CatalogConcurrency = DefaultCatalogConcurrency
	}
	return nil
}

// Deps are what the cart service needs from its process. It has no database.
type Deps struct {
	Log      zerolog.Logger
	NC       *nats.Conn
	JS       jetstream.JetStream
	Registry prometheus.Registerer
	// Keys is where callers' token keys come from: the auth service's JWKS over NATS when nil.
	Keys authn.KeySource
}

// Run ensures the carts bucket and the streams, consumes order.placed (events.go) and serves
// the cart endpoints until ctx ends, then stops gracefully.
func Run(ctx context.Context, cfg Config, deps Deps) error {
	if err := cfg.defaults(); err != nil {
		return err
	}
	if err := errors.Join(bus.EnsureBuckets(ctx, deps.JS), bus.EnsureStreams(ctx, deps.JS)); err != nil {
		if ctx.Err() != nil {
			return nil // stopped while starting: nothing failed
		}
		return fmt.Errorf("cart: %w", err)
	}
	kv, err := deps.JS.KeyValue(ctx, bus.BucketCarts)
	if err != nil {
		return fmt.Errorf("cart: carts bucket: %w", err)
	}
	conflicts := metrics.Register(deps.Registry, prometheus.NewCounter(prometheus.CounterOpts{
		Name: "souk_cart_write_conflicts_total",
		Help: "Cart writes that lost a compare-and-swap race and were retried.",
	}))
	store := NewStore(kv, writeAttempts, conflicts)
	log := deps.Log.With().Str("service", "cart").Logger()
	g := background.Start(ctx, log)
	defer g.Stop()
	g.Go("consumer "+ordersConsumer, (&checkouts{store: store, js: deps.JS, log: log}).run)
	h := &handlers{
		store:  store,
		pricer: &pricer{nc: deps.NC, concurrency: cfg.CatalogConcurrency, defaultCurrency: cfg.DefaultCurrency},
		limits: Limits{MaxLines: cfg.MaxLines, MaxQuantity: cfg.MaxQuantity},
	}
	return rpc.Serve(ctx, rpc.Config{Name: "cart", Version: "0.1.0", Description: "carts and their coupons"},
		rpc.Deps{Log: deps.Log, NC: deps.NC, Registry: deps.Registry, Verifier: authn.NewVerifierFor(deps.Keys, deps.NC), Loops: g},
		func(svc *rpc.Service) error {
			return svc.Add(
				rpc.Bind(subjects.CartGet, h.get),
				rpc.Bind(subjects.CartAddItem, h.addItem),
				rpc.Bind(subjects.CartSetItem, h.setItem),
				rpc.Bind(subjects.CartRemoveItem, h.removeItem),
				rpc.Bind(subjects.CartClear, h.clear),
				rpc.Bind(subjects.CartCheckedOut, h.checkedOut),
				rpc.Bind(subjects.CartApplyCoupon, h.applyCoupon),
				rpc.Bind(subjects.CartRemoveCoupon, h.removeCoupon),
			)
		})
}
