package catalog

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/souk/souk/nats/bus"
	"github.com/souk/souk/platform/authn"
	"github.com/souk/souk/platform/background"
	"github.com/souk/souk/platform/cache"
	"github.com/souk/souk/platform/consumer"
	"github.com/souk/souk/platform/outbox"
	"github.com/souk/souk/platform/pg"
	"github.com/souk/souk/platform/rpc"
	"github.com/souk/souk/subjects"
)

//go:embed migrations/*.sql
var migrationsFS embed.FS

// Schema is the PostgreSQL schema the catalog service owns.
const Schema = "catalog"

// Defaults of Config.
const (
	DefaultLocale            = "en"
	DefaultCurrency          = "EUR"
	DefaultProductCacheBytes = 32 << 20
	DefaultListCacheBytes    = 16 << 20
	DefaultProductCacheTTL   = 10 * time.Minute
	DefaultListCacheTTL      = time.Minute
)

// Config configures the catalog service.
type Config struct {
	// DefaultLocale is the language of products' own name and description ("en").
	DefaultLocale string
	// DefaultCurrency is the currency of a price filter that names none ("EUR").
	DefaultCurrency string
	// ProductCacheBytes and ListCacheBytes bound the caches of encoded product replies and of
	// search pages with their facets.
	ProductCacheBytes int64
	ListCacheBytes    int64
	// ProductCacheTTL and ListCacheTTL bound how long an entry serves if no invalidation
	// reaches this instance (events are the normal way; this is the backstop).
	ProductCacheTTL time.Duration
	ListCacheTTL    time.Duration
	// Meili, when its URL is set, serves search from Meilisearch, fed from the CATALOG stream.
	Meili MeiliConfig
}

func (c *Config) defaults() error {
	if c.DefaultLocale == "" {
		c.DefaultLocale = DefaultLocale
	}
	l, ok := CheckLocale(c.DefaultLocale)
	if !ok {
		return fmt.Errorf("catalog: default locale %q is no BCP 47 tag", c.DefaultLocale)
	}
	c.DefaultLocale = l
	if c.DefaultCurrency == "" {
		c.DefaultCurrency = DefaultCurrency
	}
	cur, ok := CheckCurrency(c.DefaultCurrency)
	if !ok {
		return fmt.Errorf("catalog: default currency %q is no ISO 4217 code", c.DefaultCurrency)
	}
	c.DefaultCurrency = cur
	if c.ProductCacheBytes <= 0 {
		c.ProductCacheBytes = DefaultProductCacheBytes
	}
	if c.ListCacheBytes <= 0 {
		c.ListCacheBytes = DefaultListCacheBytes
	}
	if c.ProductCacheTTL <= 0 {
		c.ProductCacheTTL = DefaultProductCacheTTL
	}
	if c.ListCacheTTL <= 0 {
		c.ListCacheTTL = DefaultListCacheTTL
	}
	return nil
}

// Deps are what the catalog service needs from its process.
type Deps struct {
	Log      zerolog.Logger
	DB       *pgxpool.Pool
	NC       *nats.Conn
	JS       jetstream.JetStream
	Registry prometheus.Registerer
	// Keys is where callers' token keys come from: the auth service's JWKS over NATS when nil.
	Keys authn.KeySource
}

// Migrate applies the catalog's migrations, its outbox's and its consumers' processed table.
func Migrate(ctx context.Context, db *pgxpool.Pool) error {
	return errors.Join(pg.Migrate(ctx, db, Schema, migrationsFS), outbox.Migrate(ctx, db, Schema), consumer.Migrate(ctx, db, Schema))
}

// Run migrates the schema and serves the catalog until ctx ends: the endpoints, the outbox
// relay, the consumers of order and inventory events, the cache invalidator and, with
// Meilisearch configured, the search indexer. Then it stops them all gracefully.
func Run(ctx context.Context, cfg Config, deps Deps) error {
	if err := cfg.defaults(); err != nil {
		return err
	}
	if err := Migrate(ctx, deps.DB); err != nil {
		return err
	}
	if err := bus.EnsureStreams(ctx, deps.JS); err != nil {
		return fmt.Errorf("catalog: %w", err)
	}
	log := deps.Log.With().Str("service", "catalog").Logger()
	relay := outbox.NewRelay(Schema, deps.DB, deps.JS, log)
	relay.Metrics = deps.Registry
	store := NewStore(deps.DB, cfg.DefaultLocale, relay.Kick)
	if err := store.EnsureLocale(ctx, cfg.DefaultLocale); err != nil {
		return fmt.Errorf("catalog: %w", err)
	}
	h, closeCaches, err := newHandlers(ctx, cfg, store, deps)
	if err != nil {
		return err
	}
	defer closeCaches()

	g := background.Start(ctx, log)
	defer g.Stop()
	if err := (&invalidator{h: h, js: deps.JS, log: log}).start(g); err != nil {
		return err
	}
	g.Go("outbox relay", relay.Run)
	for _, c := range []*consumer.Consumer{
		{Name: "catalog-purchases", Stream: "ORDERS", Subjects: purchaseSubjects, Handle: applyOrderEvent},
		{Name: "catalog-stock", Stream: "INVENTORY", Subjects: stockSubjects, Handle: store.applyStockEvent,
			AfterCommit: func([]consumer.Msg) { relay.Kick() }},
	} {
		c.Schema, c.DB, c.JS, c.Log, c.Metrics = Schema, deps.DB, deps.JS, log, deps.Registry
		g.Go("consumer "+c.Name, c.Run)
	}
	if cfg.Meili.URL != "" {
		ix, err := newIndexer(cfg.Meili, store, deps, log)
		if err != nil {
			return err
		}
		g.Run("search indexer", ix.run)
	}
	log.Info().Str("engine", h.engine.Name()).Msg("catalog: searching with this engine")
	return serve(ctx, h, deps, g)
}

// newHandlers builds the caches, loads the category tree and attribute names, and picks
// the search engine. closeCaches stops the caches' goroutines.
func newHandlers(ctx context.Context, cfg Config, store *Store, deps Deps) (*handlers, func(), error) {
	products, err := cache.New(cache.Config{Name: "product", MaxBytes: cfg.ProductCacheBytes, TTL: cfg.ProductCacheTTL}, deps.Registry)
	if err != nil {
		return nil, nil, err
	}
	lists, err := cache.New(cache.Config{Name: "search", MaxBytes: cfg.ListCacheBytes, TTL: cfg.ListCacheTTL}, deps.Registry)
	if err != nil {
		products.Close()
		return nil, nil, err
	}
	closeCaches := func() { products.Close(); lists.Close() }
	h := &handlers{store: store, cats: &categoryIndex{store: store}, attrs: &attrIndex{store: store},
		products: products, lists: lists, prefs: newPrefsCache(cfg.DefaultLocale),
		defaultLocale: cfg.DefaultLocale, defaultCurrency: cfg.DefaultCurrency}
	h.engine = &PGEngine{DB: deps.DB, Lists: lists}
	if cfg.Meili.URL != "" {
		if h.engine, err = NewMeiliEngine(cfg.Meili); err != nil {
			closeCaches()
			return nil, nil, err
		}
	}
	if err := errors.Join(h.cats.reload(ctx), h.attrs.reload(ctx)); err != nil {
		closeCaches()
		return nil, nil, fmt.Errorf("catalog: %w", err)
	}
	return h, closeCaches, nil
}

// serve registers the endpoints and serves until ctx ends.
func serve(ctx context.Context, h *handlers, deps Deps, loops *background.Group) error {
	return rpc.Serve(ctx, rpc.Config{Name: "catalog", Version: "0.1.0", Description: "categories, products, reviews, search"},
		rpc.Deps{Log: deps.Log, NC: deps.NC, Registry: deps.Registry, Verifier: authn.NewVerifierFor(deps.Keys, deps.NC), Loops: loops},
		func(svc *rpc.Service) error {
			return svc.Add(
				rpc.Bind(subjects.CategoryList, h.categoryList),
				rpc.Bind(subjects.CategoryCreate, h.categoryCreate),
				rpc.Bind(subjects.CategoryUpdate, h.categoryUpdate),
				rpc.BindFast(subjects.ProductGet, h.productFast, h.productGet),
				rpc.BindRaw(subjects.ProductSearch, h.productSearch),
				rpc.Bind(subjects.ProductCreate, h.productCreate),
				rpc.Bind(subjects.ProductUpdate, h.productUpdate),
				rpc.Bind(subjects.ProductDelete, h.productDelete),
				rpc.Bind(subjects.ReviewList, h.reviewList),
				rpc.Bind(subjects.ReviewCreate, h.reviewCreate),
				rpc.Bind(subjects.ReviewModerate, h.reviewModerate),
			)
		})
}

// attrIndex holds the attribute names in use on this instance; an unknown name reloads them
// (at most once a second) before a filter on it is refused.
type attrIndex struct {
	store    *Store
	mu       sync.RWMutex
	names    map[string]bool
	loadedAt time.Time
}

func (a *attrIndex) reload(ctx context.Context) error {
	names, err := a.store.AttributeNames(ctx)
	if err != nil {
		return err
	}
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	a.mu.Lock()
	a.names, a.loadedAt = m, time.Now()
	a.mu.Unlock()
	return nil
}

// known reports whether a product has (or had) attribute name.
func (a *attrIndex) known(ctx context.Context, name string) (bool, error) {
	a.mu.RLock()
	ok, stale := a.names[name], time.Since(a.loadedAt) > time.Second
	a.mu.RUnlock()
	if ok || !stale {
		return ok, nil
	}
	if err := a.reload(ctx); err != nil {
		return false, err
	}
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.names[name], nil
}
