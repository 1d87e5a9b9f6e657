package catalog

import (
	"embed"
	"time"

	"github.com/souk/souk/nats/bus"
	"github.com/souk/souk/platform/consumer"
	"github.com/souk/souk/platform/kit"
	"github.com/souk/souk/services/catalog/search"
	"github.com/souk/souk/subjects"
)

//go:embed migrations/*.sql
var migrationsFS embed.FS

// Schema is the PostgreSQL schema the catalog service owns.
const Schema = "catalog"

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
	// SearchMaxMatches caps the matches a PostgreSQL search reads to rank by relevance and to
	// count facets (search.PGEngine.MaxMatches): DefaultSearchMaxMatches when zero, no cap
	// when negative.
	SearchMaxMatches int
	// SearchConns bounds the database connections the PostgreSQL search's statements hold
	// at once (search.PGEngine.Conns), so that a burst of uncached searches leaves the rest
	// of the pool to the short statements: half the pool (rounded up) when zero, no bound
	// when negative.
	SearchConns int
	// RelayRate is the most catalog events a second the relay publishes once it has a
	// backlog: an import of 100 000 products or a start that relays them all trickles out
	// instead of taking the cores the storefront's reads need (kit.Service.RelayRate). The
	// caches of other instances and the edge sites' product documents trail such a bulk
	// change by its events. DefaultRelayRate when zero, no pacing when negative.
	RelayRate float64
	// Meili, when its URL is set, serves search from Meilisearch, fed from the CATALOG stream.
	Meili search.MeiliConfig
}

// Service declares the catalog: its endpoints, the catalog events it publishes, its
// consumers of order and inventory events, and with Meilisearch the search indexer. Each
// instance loads its category tree and starts its caches and their invalidation at Start.
func Service(cfg Config, deps kit.Deps) (kit.Service, error) {
	if err := cfg.defaults(); err != nil {
		return kit.Service{}, err
	}
	store := NewStore(deps.DB, cfg.DefaultLocale)
	h, err := newHandlers(cfg, store, deps)
	if err != nil {
		return kit.Service{}, err
	}
	svc := kit.Service{
		Name: "catalog", Version: "0.1.0", Description: "categories, products, reviews, search",
		Schema: Schema, Migrations: migrationsFS, Publishes: published, Endpoints: h.endpoints(),
		RelayRate: max(cfg.RelayRate, 0),
		Consumers: []*consumer.Consumer{
			{Name: "catalog-purchases", On: purchases()},
			// A level older than the one kept changes nothing (its version): no processed rows.
			{Name: "catalog-stock", On: []consumer.Route{consumer.On(subjects.EvtStockLevel, store.applyStockLevel)}, Idempotent: true},
			(&documents{js: deps.JS, store: store, locale: cfg.DefaultLocale}).consumer(),
		},
		Follows: []string{subjects.StreamCatalog}, // the caches' invalidation (follow)
		Buckets: []string{bus.BucketProducts},     // the documents for edge sites (documents)
		Start:   h.start, Stop: h.stop,
	}
	if cfg.Meili.URL != "" {
		ix, err := search.NewIndexer(cfg.Meili, deps.DB, store, deps.Logger("catalog"))
		if err != nil {
			return kit.Service{}, err
		}
		svc.Consumers = append(svc.Consumers, ix.Consumer())
		svc.Loops = append(svc.Loops, ix.Loop())
	}
	return svc, nil
}
