// Package cache is Souk's cache of encoded replies: a ristretto cache bounded in bytes, whose
// entries are grouped (all the language variants of one product form one group) and carry
// the generation of their group at the time their source was read. Invalidating a group or
// the whole cache bumps a generation, so a fill that read the source before an invalidation
// can never be served after it, however the two race. Concurrent misses of one key load the
// source once (singleflight). An entry marked stale (MarkStale) is still answered by Load
// while one load replaces it in the background, Config.Refreshes entries at a time. Hits,
// misses, the bytes held and the hit ratio are exported to Prometheus.
package cache

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/dgraph-io/ristretto/v2"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/singleflight"
)

// Config sizes one cache.
type Config struct {
	// Name labels the cache's metrics ("product", "search").
	Name string
	// MaxBytes bounds the bytes of the values held; ristretto evicts by TinyLFU past it.
	MaxBytes int64
	// TTL bounds how long an entry is served even if no invalidation reaches this instance (a
	// backstop for a missed event); 10 minutes when zero.
	TTL time.Duration
	// Groups is the number of generation stripes; groups that hash to one stripe invalidate
	// each other (harmless: a miss). 4096 when zero.
	Groups int
	// Refreshes is the most background reloads of stale entries at once; a stale entry found
	// while they are all busy is answered as it is, and reloaded by a later Load. 1 when zero:
	// a stale mark reloads the cache's hot entries one after another rather than all at once.
	Refreshes int
}

// Bytes caches encoded replies by key. It is safe for concurrent use.
type Bytes struct {
	c      *ristretto.Cache[string, entry]
	ttl    time.Duration
	global atomic.Uint64
	groups []atomic.Uint64
	// stale is the generation MarkStale bumps; refreshing holds the keys being reloaded in
	// the background, reloads those reloads (Close waits for them).
	stale      atomic.Uint64
	refreshing sync.Map
	slots      chan struct{} // a token per background reload running
	reloads    sync.WaitGroup
	flight     singleflight.Group
	hits       atomic.Uint64
	misses     atomic.Uint64
}

// entry is a value with the generations it was read under.
type entry struct {
	global, group, stale uint64
	val                  []byte
}

// New builds a cache and registers its metrics on reg.
func New(cfg Config, reg prometheus.Registerer) (*Bytes, error) {
	if cfg.MaxBytes <= 0 || cfg.Name == "" {
		return nil, errors.New("cache: Name and MaxBytes are required")
	}
	if cfg.TTL <= 0 {
		cfg.TTL = 10 * time.Minute
	}
	if cfg.Groups <= 0 {
		cfg.Groups = 4096
	}
	if cfg.Refreshes <= 0 {
		cfg.Refreshes = 1
	}
	// Ristretto wants ~10 counters per item it may hold; assume items of ~1 KiB.
	counters := max(cfg.MaxBytes/1024*10, 10_000)
	c, err := ristretto.NewCache(&ristretto.Config[string, entry]{
		NumCounters: counters,
		MaxCost:     cfg.MaxBytes,
		BufferItems: 64,
		// Cost is the value's bytes: with ristretto's own per-item overhead counted as well,
		// a measurement here saw the hit ratio fall from 81 % to 57 % (docs/architecture.md).
		IgnoreInternalCost: true,
	})
	if err != nil {
		return nil, fmt.Errorf("cache %s: %w", cfg.Name, err)
	}
	b := &Bytes{c: c, ttl: cfg.TTL, groups: make([]atomic.Uint64, cfg.Groups), slots: make(chan struct{}, cfg.Refreshes)}
	if err := b.register(cfg.Name, reg); err != nil {
		c.Close()
		return nil, fmt.Errorf("cache %s: metrics: %w", cfg.Name, err)
	}
	return b, nil
}

// register exports the cache's figures; a second cache of the same name on one registry is
// an error (give each instance its own registry, as each process has).
func (b *Bytes) register(name string, reg prometheus.Registerer) error {
	labels := prometheus.Labels{"cache": name}
	collectors := []prometheus.Collector{
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "souk_cache_hits_total", Help: "Cache lookups served from the cache.", ConstLabels: labels},
			func() float64 { return float64(b.hits.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "souk_cache_misses_total", Help: "Cache lookups that went to the source.", ConstLabels: labels},
			func() float64 { return float64(b.misses.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "souk_cache_stale_marks_total", Help: "Times every entry was marked stale (MarkStale: changes another process made), each followed by reloads of the entries asked for again.", ConstLabels: labels},
			func() float64 { return float64(b.stale.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "souk_cache_hit_ratio", Help: "Hits over lookups since start.", ConstLabels: labels},
			b.HitRatio),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "souk_cache_cost_bytes", Help: "Bytes of values held.", ConstLabels: labels},
			func() float64 { return float64(b.c.MaxCost() - b.c.RemainingCost()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "souk_cache_max_bytes", Help: "The bound on the bytes held.", ConstLabels: labels},
			func() float64 { return float64(b.c.MaxCost()) }),
	}
	for _, c := range collectors {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// HitRatio is hits over lookups since the cache was made; 0 before the first lookup.
func (b *Bytes) HitRatio() float64 {
	h, m := b.hits.Load(), b.misses.Load()
	if h+m == 0 {
		return 0
	}
	return float64(h) / float64(h+m)
}

func (b *Bytes) stripe(group string) *atomic.Uint64 {
	return &b.groups[xxhash.Sum64String(group)%uint64(len(b.groups))]
}

// Get returns the value of key in group, if one is held that no invalidation has outdated.
func (b *Bytes) Get(group, key string) ([]byte, bool) {
	e, ok := b.c.Get(key)
	if ok && b.current(group, e) && e.stale == b.stale.Load() {
		b.hits.Add(1)
		return e.val, true
	}
	b.misses.Add(1)
	return nil, false
}

// Ticket is the generations of a group at one moment. Take it before reading the source;
// Put then keeps what was read only if no invalidation came in between.
type Ticket struct{ global, group, stale uint64 }

// Ticket records the generations of group now.
func (b *Bytes) Ticket(group string) Ticket {
	return Ticket{global: b.global.Load(), group: b.stripe(group).Load(), stale: b.stale.Load()}
}

// current tells whether no invalidation has outdated e (a stale mark aside).
func (b *Bytes) current(group string, e entry) bool {
	return e.global == b.global.Load() && e.group == b.stripe(group).Load()
}

// Put keeps val under key with the generations of t: if an invalidation has come since t
// was taken, the entry is never served.
func (b *Bytes) Put(t Ticket, key string, val []byte) {
	b.c.SetWithTTL(key, entry{global: t.global, group: t.group, stale: t.stale, val: val}, int64(len(val)), b.ttl)
}

// Load returns the value of key in group, calling load (once for all concurrent callers of
// the key) on a miss and keeping what it returns. load's errors are returned, not cached.
// An entry marked stale is answered as it is while one load replaces it in the background,
// except to a Load made inside a load: what a load builds from other entries is kept as
// fresh, so it must not be built from stale ones.
func (b *Bytes) Load(ctx context.Context, group, key string, load func(context.Context) ([]byte, error)) ([]byte, error) {
	if e, ok := b.c.Get(key); ok && b.current(group, e) {
		if e.stale == b.stale.Load() {
			b.hits.Add(1)
			return e.val, nil
		}
		if ctx.Value(loadingKey{}) == nil {
			b.hits.Add(1)
			b.refresh(ctx, group, key, load)
			return e.val, nil
		}
	}
	b.misses.Add(1)
	return b.fill(ctx, group, key, load)
}

// loadingKey marks the context of a load: Loads inside it never answer stale entries.
type loadingKey struct{}

// refreshTimeout bounds a background reload of a stale entry.
const refreshTimeout = 30 * time.Second

// refresh reloads a stale key in the background, once at a time per key and at most
// Refreshes keys at a time; a key that finds no slot free stays stale for a later Load.
func (b *Bytes) refresh(ctx context.Context, group, key string, load func(context.Context) ([]byte, error)) {
	select {
	case b.slots <- struct{}{}:
	default:
		return
	}
	if _, busy := b.refreshing.LoadOrStore(key, struct{}{}); busy {
		<-b.slots
		return
	}
	// The caller's request ends with its reply; the reload outlives it (with its values).
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), refreshTimeout)
	b.reloads.Go(func() {
		defer cancel()
		defer func() { <-b.slots }()
		defer b.refreshing.Delete(key)
		// No caller is left to return to: a panicking load must not end the process. The stale
		// entry stays until its TTL; then a caller's own Load panics, under its handler's
		// recovery, which logs it.
		defer func() { _ = recover() }()
		_, _ = b.fill(ctx, group, key, load) // an error leaves the stale entry for the next try
	})
}

// fill loads key once for all concurrent callers and keeps what the load returns.
func (b *Bytes) fill(ctx context.Context, group, key string, load func(context.Context) ([]byte, error)) ([]byte, error) {
	v, err, _ := b.flight.Do(key, func() (any, error) {
		// The generations are read before the source: an invalidation that lands while load
		// runs makes this entry stale at once.
		t := b.Ticket(group)
		val, err := load(context.WithValue(ctx, loadingKey{}, true))
		if err != nil {
			return nil, err
		}
		b.Put(t, key, val)
		return val, nil
	})
	if err != nil {
		return nil, err
	}
	return v.([]byte), nil
}

// Invalidate outdates every entry of group (and of the groups sharing its stripe).
func (b *Bytes) Invalidate(group string) { b.stripe(group).Add(1) }

// InvalidateAll outdates every entry.
func (b *Bytes) InvalidateAll() { b.global.Add(1) }

// MarkStale marks every entry stale: Get misses it, Load still answers it while one load
// replaces it in the background. For changes another process made, which reach this one
// late anyway (the stream's lag): its answers stay cached answers while they are rebuilt,
// instead of every caller waiting on the source at once.
func (b *Bytes) MarkStale() { b.stale.Add(1) }

// Wait blocks until the sets made so far are applied; for tests.
func (b *Bytes) Wait() { b.c.Wait() }

// Close stops the cache's goroutines, once the background reloads have ended (each within
// refreshTimeout): a reload's Put on a closed cache raced with the close. Call it after the
// cache's users have stopped.
func (b *Bytes) Close() {
	b.reloads.Wait()
	b.c.Close()
}
