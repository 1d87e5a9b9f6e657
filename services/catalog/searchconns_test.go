package catalog_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/services/catalog/search"
	"github.com/souk/souk/subjects"
)

// A burst of slow searches holds at most the engine's share of the pool (Conns): the rest
// still serves short statements. The searches are held on a lock of the products table;
// on a pool of 4 with a bound of 2, two of six wait in PostgreSQL, the others wait for a
// slot, and a short statement gets a connection at once. (Without the bound the six took
// the pool's four connections, and the short statement waited for the searches.) Released,
// every search is answered.
func TestSlowSearchesLeaveThePoolToShortStatements(t *testing.T) {
	e := newEnv(t)
	cfg := e.db.Config()
	cfg.MaxConns = 4
	narrow, err := pgxpool.NewWithConfig(e.ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(narrow.Close)
	engine := &search.PGEngine{DB: narrow, Conns: 2}
	q, err := search.NewQuery(e.ctx, subjects.SearchRequest{Sort: subjects.SortNewest}, nil, nil, "EUR")
	if err != nil {
		t.Fatal(err)
	}

	lock, err := e.db.Begin(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Rollback(e.ctx)
	if _, err := lock.Exec(e.ctx, `lock table catalog.products in access exclusive mode`); err != nil {
		t.Fatal(err)
	}
	const searches = 6
	answered := make(chan error, searches)
	for range searches {
		go func() {
			_, _, err := engine.Page(e.ctx, q)
			answered <- err
		}()
	}
	waiting := func() (n int, err error) {
		err = e.db.QueryRow(e.ctx, `select count(*) from pg_stat_activity
			where datname = current_database() and wait_event_type = 'Lock' and query like '%catalog.products%'`).Scan(&n)
		return n, err
	}
	expect.Within(t, 20*time.Second, func() error {
		n, err := waiting()
		if err == nil && n < 2 {
			err = fmt.Errorf("%d searches wait on the lock", n)
		}
		return err
	})

	short, cancel := context.WithTimeout(e.ctx, 5*time.Second)
	defer cancel()
	var one int
	if err := narrow.QueryRow(short, `select 1`).Scan(&one); err != nil {
		t.Fatalf("a short statement beside %d held searches: %v", searches, err)
	}
	if n, err := waiting(); err != nil || n != engine.Conns {
		t.Fatalf("%d searches hold connections, want the bound %d (%v)", n, engine.Conns, err)
	}

	if err := lock.Rollback(e.ctx); err != nil {
		t.Fatal(err)
	}
	var errs []error
	for range searches {
		errs = append(errs, <-answered)
	}
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("searches after the lock: %v", err)
	}
}
