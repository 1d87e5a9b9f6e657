package pg_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/souk/souk/internal/promtest"
	"github.com/souk/souk/platform/pg"
	"github.com/souk/souk/platform/pgtest"
)

// The pool collector shows connections in use against the pool's bound, an acquire given up
// for want of a free connection, and the database's size.
func TestPoolCollectorShowsAnExhaustedPool(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, err := pg.Open(ctx, pgtest.NewDatabase(t)+"&pool_max_conns=2")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	reg := prometheus.NewRegistry()
	reg.MustRegister(pg.NewPoolCollector(db))
	if size := promtest.Sum(t, reg, "souk_pg_database_size_bytes"); size < 1<<20 {
		t.Fatalf("souk_pg_database_size_bytes %v, want a database's few MiB", size)
	}
	for range 2 {
		conn, err := db.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Release()
	}
	short, cancelShort := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancelShort()
	if conn, err := db.Acquire(short); err == nil {
		conn.Release()
		t.Fatal("a third connection from a pool of two")
	}
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"souk_pg_pool_connections", []string{"state", "acquired"}, 2},
		{"souk_pg_pool_connections", []string{"state", "idle"}, 0},
		{"souk_pg_pool_max_connections", nil, 2},
		{"souk_pg_pool_canceled_acquires_total", nil, 1},
	} {
		if got := promtest.Sum(t, reg, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if n := promtest.Sum(t, reg, "souk_pg_pool_acquires_total"); n < 2 {
		t.Errorf("souk_pg_pool_acquires_total %v, want at least the 2 held", n)
	}
	// pgx adds up the successful acquires' waits only: opening the held ones took some.
	if w := promtest.Sum(t, reg, "souk_pg_pool_acquire_wait_seconds_total"); w <= 0 {
		t.Errorf("souk_pg_pool_acquire_wait_seconds_total %v, want the waits for new connections", w)
	}
}
