package pg_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

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
	if size := value(t, reg, "souk_pg_database_size_bytes", ""); size < 1<<20 {
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
		name, state string
		want        float64
	}{
		{"souk_pg_pool_connections", "acquired", 2},
		{"souk_pg_pool_connections", "idle", 0},
		{"souk_pg_pool_max_connections", "", 2},
		{"souk_pg_pool_canceled_acquires_total", "", 1},
	} {
		if got := value(t, reg, c.name, c.state); got != c.want {
			t.Errorf("%s{state=%q} = %v, want %v", c.name, c.state, got, c.want)
		}
	}
	if n := value(t, reg, "souk_pg_pool_acquires_total", ""); n < 2 {
		t.Errorf("souk_pg_pool_acquires_total %v, want at least the 2 held", n)
	}
	// pgx adds up the successful acquires' waits only: opening the held ones took some.
	if w := value(t, reg, "souk_pg_pool_acquire_wait_seconds_total", ""); w <= 0 {
		t.Errorf("souk_pg_pool_acquire_wait_seconds_total %v, want the waits for new connections", w)
	}
}

// value is the value of the counter or gauge name{state} in reg (state "" for a series
// without it); -1 when absent.
func value(t *testing.T, reg *prometheus.Registry, name, state string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if len(m.GetLabel()) > 0 && m.GetLabel()[0].GetValue() != state {
				continue
			}
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return -1
}
