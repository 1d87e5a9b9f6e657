package catalog

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/souk/souk/platform/cache"
	"github.com/souk/souk/platform/pg"
	"github.com/souk/souk/platform/pgtest"
	"github.com/souk/souk/services/catalog/search"
	"github.com/souk/souk/subjects"
)

// What a product's change seen on the stream does to an instance's caches, by the
// transaction that wrote it: one that had committed when the instance started is in all it
// cached and changes nothing; one that committed later (or was still running at the start)
// drops the product's replies and marks the lists stale, and so does an event that names no
// transaction. With Meilisearch, whose index follows the stream, the lists are marked stale
// whatever the transaction.
func TestOnlyChangesAfterTheStartOutdateTheCaches(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db := pgtest.Pool(t, ctx)
	begin := func() (pgx.Tx, string) {
		t.Helper()
		tx, err := db.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var xid string
		if err := tx.QueryRow(ctx, pg.XactIDQuery).Scan(&xid); err != nil {
			t.Fatal(err)
		}
		return tx, xid
	}
	commit := func(tx pgx.Tx) {
		t.Helper()
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
	}
	tx, before := begin()
	commit(tx)
	during, running := begin()
	started, err := NewStore(db, DefaultLocale).Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	commit(during)
	tx, after := begin()
	commit(tx)
	last, _ := strconv.ParseUint(after, 10, 64)

	meili, err := search.NewMeiliEngine(search.MeiliConfig{URL: "http://127.0.0.1:1"}) // never called
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name          string
		engine        search.Engine
		xid           string // "": no header
		keepsProduct  bool
		keepsTheLists bool
	}{
		{"committed before the start", &search.PGEngine{}, before, true, true},
		{"running at the start", &search.PGEngine{}, running, false, false},
		{"committed after the start", &search.PGEngine{}, after, false, false},
		{"not begun yet", &search.PGEngine{}, strconv.FormatUint(last+1000, 10), false, false},
		{"no transaction named", &search.PGEngine{}, "", false, false},
		{"a name that is no transaction", &search.PGEngine{}, "twelve", false, false},
		{"committed before the start, Meilisearch", meili, before, true, false},
		{"committed after the start, Meilisearch", meili, after, false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := &handlers{engine: c.engine, started: started}
			reg := prometheus.NewRegistry()
			if h.products, err = cache.New(cache.Config{Name: "product", MaxBytes: 1 << 20}, reg); err != nil {
				t.Fatal(err)
			}
			defer h.products.Close()
			if h.lists, err = cache.New(cache.Config{Name: "search", MaxBytes: 1 << 20}, reg); err != nil {
				t.Fatal(err)
			}
			defer h.lists.Close()
			h.listChanges = newCoalescer(listsQuiet, listsQuietMax, func(time.Time) { h.lists.MarkStale() })
			defer h.listChanges.stop()
			id := uuid.NewString()
			h.products.Put(h.products.Ticket(id), id+"|", []byte(`{}`))
			h.lists.Put(h.lists.Ticket(search.ListGroup), "page", []byte(`{}`))
			h.products.Wait()
			h.lists.Wait()

			header := nats.Header{}
			if c.xid != "" {
				header.Set(subjects.HeaderXactID, c.xid)
			}
			h.onChange(ctx)(subjects.EvtProductUpdated.Subject(id), header)

			if _, ok := h.products.Get(id, id+"|"); ok != c.keepsProduct {
				t.Errorf("the product's cached reply kept: %v, want %v", ok, c.keepsProduct)
			}
			if _, ok := h.lists.Get(search.ListGroup, "page"); ok != c.keepsTheLists {
				t.Errorf("the cached list kept fresh: %v, want %v", ok, c.keepsTheLists)
			}
		})
	}
}
