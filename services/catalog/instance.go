package catalog

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/souk/souk/platform/cache"
	"github.com/souk/souk/platform/kit"
	"github.com/souk/souk/platform/pg"
	"github.com/souk/souk/platform/rpc"
	"github.com/souk/souk/services/catalog/product"
	"github.com/souk/souk/services/catalog/search"
	"github.com/souk/souk/subjects"
)

// What each instance holds besides the database: its caches of encoded replies, its
// category tree and attribute names, and the follower of the CATALOG stream that keeps them
// current. The declaration (Service) builds the handlers without I/O; Start fills them in.

// newHandlers returns the handlers of cfg, without caches or tree yet (see start). The
// engine is Meilisearch when configured; PostgreSQL's is set at start, with the list cache.
func newHandlers(cfg Config, store *Store, deps kit.Deps) (*handlers, error) {
	h := &handlers{store: store, cats: &categoryIndex{store: store}, attrs: &attrIndex{store: store},
		prefs: product.NewPrefsCache(cfg.DefaultLocale), defaultLocale: cfg.DefaultLocale, defaultCurrency: cfg.DefaultCurrency,
		cfg: cfg, deps: deps, log: deps.Logger("catalog")}
	if cfg.Meili.URL != "" {
		e, err := search.NewMeiliEngine(cfg.Meili)
		if err != nil {
			return nil, err
		}
		h.engine = e
	}
	return h, nil
}

// endpoints binds the handlers to the contract.
func (h *handlers) endpoints() []rpc.Binding {
	return []rpc.Binding{
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
	}
}

// start records the default locale, builds the caches, loads the category tree and attribute
// names, and follows the CATALOG stream, before the endpoints serve.
func (h *handlers) start(ctx context.Context) error {
	if err := h.store.EnsureLocale(ctx, h.defaultLocale); err != nil {
		return err
	}
	var err error
	if h.started, err = h.store.Snapshot(ctx); err != nil { // before anything is cached
		return err
	}
	reg := h.deps.Registry
	if reg == nil { // the kit gives one; a declaration run by hand may not
		reg = prometheus.NewRegistry()
	}
	h.products, err = cache.New(cache.Config{Name: "product", MaxBytes: h.cfg.ProductCacheBytes, TTL: h.cfg.ProductCacheTTL}, reg)
	if err != nil {
		return err
	}
	if h.lists, err = cache.New(cache.Config{Name: "search", MaxBytes: h.cfg.ListCacheBytes, TTL: h.cfg.ListCacheTTL}, reg); err != nil {
		return err
	}
	if h.engine == nil {
		conns := h.cfg.SearchConns
		if conns == 0 {
			conns = int(h.deps.DB.Config().MaxConns+1) / 2
		}
		h.engine = &search.PGEngine{DB: h.deps.DB, Lists: h.lists, MaxMatches: h.cfg.SearchMaxMatches, Conns: conns}
	}
	if err := errors.Join(h.cats.reload(ctx), h.attrs.reload(ctx)); err != nil {
		return err
	}
	h.listChanges = newCoalescer(listsQuiet, listsQuietMax, func(time.Time) { h.lists.MarkStale() })
	if h.follow, err = follow(ctx, h.deps.JS, h.onChange(ctx)); err != nil {
		return err
	}
	h.log.Info().Str("engine", h.engine.Name()).Msg("catalog: searching with this engine")
	return nil
}

// stop stops following the stream and the caches' goroutines; after the endpoints drained.
func (h *handlers) stop() {
	if h.follow != nil {
		h.follow.Stop()
	}
	if h.listChanges != nil {
		h.listChanges.stop()
	}
	if h.products != nil {
		h.products.Close()
	}
	if h.lists != nil {
		h.lists.Close()
	}
}

// follow follows the CATALOG stream on this instance with an ordered consumer from the newest
// message (each instance sees every change) and passes each event's subject and headers to
// apply. It returns once the consumer exists, so that no change committed after start is
// missed. An ordered consumer resumes where it was after a reconnect, so no change is missed
// while the connection blips; the caches' TTL bounds the damage of anything worse.
func follow(ctx context.Context, js jetstream.JetStream, apply func(subject string, header nats.Header)) (jetstream.ConsumeContext, error) {
	cons, err := js.OrderedConsumer(ctx, subjects.StreamCatalog, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{subjects.EvtCatalog.Filter()},
		DeliverPolicy:  jetstream.DeliverNewPolicy,
	})
	if err != nil {
		return nil, fmt.Errorf("catalog: follow CATALOG: %w", err)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) { apply(m.Subject(), m.Headers()) })
	if err != nil {
		return nil, fmt.Errorf("catalog: follow CATALOG: %w", err)
	}
	return cc, nil
}

// onChange returns what a change does to this instance's caches: drop the product's cached
// replies and every cached list; a category change also reloads the tree. A change the
// database had committed when this instance started (heldAtStart) is in everything its
// caches hold: the product replies and the category tree are read from the database after
// that, and so are the lists when PostgreSQL answers the searches. Meilisearch's index follows
// the stream, so with it the lists are dropped all the same.
func (h *handlers) onChange(ctx context.Context) func(subject string, header nats.Header) {
	return func(subject string, header nats.Header) {
		held := h.heldAtStart(header)
		_, listsFromDB := h.engine.(*search.PGEngine)
		keepLists := held && listsFromDB
		if subjects.EvtCategoryCreated.Matches(subject) || subjects.EvtCategoryUpdated.Matches(subject) {
			if !held {
				rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				defer cancel()
				if err := h.cats.reload(rctx); err != nil {
					h.log.Warn().Err(err).Msg("catalog: reload categories after a change")
				}
			}
			if !keepLists {
				h.lists.InvalidateAll()
			}
			return
		}
		if !held {
			h.products.Invalidate(subject[strings.LastIndexByte(subject, '.')+1:]) // the product's id
		}
		if !keepLists {
			h.listChanges.touch() // at most every listsQuiet during a burst: see coalescer
		}
	}
}

// heldAtStart reports whether the snapshot taken as this instance started held the change of
// an event: the transaction that wrote it (its Souk-Xact-Id, which the outbox relay sets) had
// committed by then. A start that relays a large backlog (the first after a bulk import, one
// after the relay or NATS was down, an operator's resend) then keeps its caches through it:
// each of those events used to mark every cached search stale, and the reloads that followed
// held cached searches at p99 23 ms for as long as the backlog lasted, against 15 ms without
// one (docs/performance.md). An event without the header, or with one that does not parse,
// is not held: it invalidates as before. The transaction ids are those of the catalog's own
// database, which writes every CATALOG event in the transaction of its change.
func (h *handlers) heldAtStart(header nats.Header) bool {
	xid, err := pg.ParseXactID(header.Get(subjects.HeaderXactID))
	return err == nil && h.started.Holds(xid)
}

// attrIndex holds the attribute names in use on this instance. A name it does not hold is
// looked up in the database (a primary-key read) before a filter on it is refused: a product
// imported or created elsewhere moments ago (souk seed, another instance) makes its
// attributes filterable at once. An earlier version reloaded at most once a second and so
// refused, for up to a second, a name a product already had.
type attrIndex struct {
	store *Store
	mu    sync.RWMutex
	names map[string]bool
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
	a.names = m
	a.mu.Unlock()
	return nil
}

// known reports whether a product has (or had) attribute name; names are never removed, so
// a name once known stays known.
func (a *attrIndex) known(ctx context.Context, name string) (bool, error) {
	a.mu.RLock()
	ok := a.names[name]
	a.mu.RUnlock()
	if ok {
		return true, nil
	}
	ok, err := a.store.HasAttributeName(ctx, name)
	if err != nil || !ok {
		return false, err
	}
	a.mu.Lock()
	a.names[name] = true
	a.mu.Unlock()
	return true, nil
}
