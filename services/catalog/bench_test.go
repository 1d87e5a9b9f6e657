package catalog_test

import (
	"context"
	"encoding/json"
	"net/url"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/souk/souk/platform/pg"
	"github.com/souk/souk/platform/pgtest"
	"github.com/souk/souk/services/catalog"
	"github.com/souk/souk/subjects"
)

// Benchmarks of the catalog's two hot paths through NATS, as the gateway calls them:
//
//	go test -run '^$' -bench . -benchtime 5s ./services/catalog/
//
// They run on a database kept between runs (souk_bench_catalog on the test server), seeded
// with SOUK_BENCH_PRODUCTS demo products (100 000 when unset): the first run seeds it (about
// two minutes here), later runs find it seeded in seconds.

// benchEnv returns an env on the benchmark database and the ids of its products.
func benchEnv(b *testing.B) (*env, []uuid.UUID) {
	b.Helper()
	n := 100_000
	if s := os.Getenv("SOUK_BENCH_PRODUCTS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil {
			b.Fatalf("SOUK_BENCH_PRODUCTS=%q: %v", s, err)
		}
	}
	u, err := url.Parse(pgtest.ServerURL())
	if err != nil {
		b.Fatal(err)
	}
	u.Path = "/souk_bench_catalog"
	e := newEnv(b)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	db, err := pg.Open(ctx, u.String())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(db.Close)
	if _, err := seed(ctx, db, n); err != nil {
		b.Fatal(err)
	}
	// The benchmark database's outbox is never relayed; keep it from growing run after run.
	if _, err := db.Exec(ctx, `delete from catalog.outbox`); err != nil {
		b.Fatal(err)
	}
	e.db = db
	rows, err := db.Query(ctx, `select id from catalog.products where deleted_at is null order by seq limit 20000`)
	if err != nil {
		b.Fatal(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		b.Fatal(err)
	}
	return e, ids
}

// benchCall sends pre-encoded requests from parallel goroutines, as the gateway does.
func benchCall(b *testing.B, e *env, subject string, bodies [][]byte) {
	var next atomic.Uint64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := next.Add(1)
			ctx, cancel := context.WithTimeout(e.ctx, 5*time.Second)
			if _, err := subjects.Request(ctx, e.nc, subject, bodies[i%uint64(len(bodies))]); err != nil {
				b.Error(err)
			}
			cancel()
		}
	})
}

func encodeAll[T any](b *testing.B, reqs []T) [][]byte {
	out := make([][]byte, len(reqs))
	for i, r := range reqs {
		var err error
		if out[i], err = json.Marshal(r); err != nil {
			b.Fatal(err)
		}
	}
	return out
}

// cachedAndNot runs the requests against an instance with its caches warmed by hot, then
// against one whose caches are smaller than any reply (every request goes to PostgreSQL).
func cachedAndNot(b *testing.B, e *env, subject string, hot, all [][]byte) {
	b.Run("cached", func(b *testing.B) {
		_, stop := e.start(catalog.Config{})
		defer stop()
		for _, body := range hot {
			if _, err := subjects.Request(e.ctx, e.nc, subject, body); err != nil {
				b.Fatal(err)
			}
		}
		benchCall(b, e, subject, hot)
	})
	b.Run("uncached", func(b *testing.B) {
		_, stop := e.start(catalog.Config{ProductCacheBytes: 1, ListCacheBytes: 1})
		defer stop()
		benchCall(b, e, subject, all)
	})
}

func BenchmarkProductGet(b *testing.B) {
	e, ids := benchEnv(b)
	reqs := make([]subjects.ProductIDRequest, len(ids))
	for i, id := range ids {
		reqs[i] = subjects.ProductIDRequest{ID: id.String()}
	}
	bodies := encodeAll(b, reqs)
	cachedAndNot(b, e, subjects.ProductGet.Subject, bodies[:1000], bodies) // 1 000 hot products fit the cache
}

// searches are a shopper's mix: typos, prefixes, a German word, browsing with filters.
var searches = []subjects.SearchRequest{
	{Q: "heaphones"}, {Q: "headph"}, {Q: "wireless headphones", MaxPrice: ptr(int64(10000))}, {Q: "Kopfhörer"},
	{Q: "laptop"}, {Q: "chef knife"}, {Q: "yoga mat", Sort: subjects.SortPriceAsc}, {Q: "tent"}, {Q: "blak"},
	{Category: "electronics/audio", Sort: subjects.SortPriceAsc}, {Category: "fashion", Attributes: map[string][]string{"color": {"black"}}},
	{Category: "home-kitchen/kitchen", MinPrice: ptr(int64(2000)), MaxPrice: ptr(int64(10000))}, {Q: "running shoes", MinRating: ptr(0.0)},
	{Category: "books-media", Sort: subjects.SortNewest}, {Q: "garden"}, {Q: "camera", Sort: subjects.SortPriceDesc},
}

func BenchmarkSearch100k(b *testing.B) {
	e, _ := benchEnv(b)
	bodies := encodeAll(b, searches)
	cachedAndNot(b, e, subjects.ProductSearch.Subject, bodies, bodies)
}
