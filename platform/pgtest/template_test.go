package pgtest_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/souk/souk/platform/consumer"
	"github.com/souk/souk/platform/outbox"
	"github.com/souk/souk/platform/pg"
	"github.com/souk/souk/platform/pgtest"
)

// orderMigrations is the order service's migration set as its tests need it: its own files,
// the outbox and the processed table, in schema orders.
func orderMigrations(t testing.TB) pgtest.Template {
	t.Helper()
	files := os.DirFS("../../services/order/migrations")
	hash, err := pgtest.Hash([]string{"orders", "outbox", "processed"}, files)
	if err != nil {
		t.Fatal(err)
	}
	return pgtest.Template{Set: "pgtestorder", Hash: hash, Migrate: func(ctx context.Context, db *pgxpool.Pool) error {
		return errors.Join(pg.Migrate(ctx, db, "orders", files), outbox.Migrate(ctx, db, "orders"), consumer.Migrate(ctx, db, "orders"))
	}}
}

// TestCloneIsMigratedAndPrivate: a clone has the template's tables, a write to one clone is
// not seen by the next, and migrating a clone again finds nothing to do.
func TestCloneIsMigratedAndPrivate(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tmpl := orderMigrations(t)
	a := pgtest.MigratedPool(t, ctx, tmpl)
	if _, err := a.Exec(ctx, `insert into orders.outbox (id, subject, payload) values (gen_random_uuid(), 'x', '{}')`); err != nil {
		t.Fatalf("the clone is not migrated: %v", err)
	}
	b := pgtest.MigratedPool(t, ctx, tmpl)
	var n int
	if err := b.QueryRow(ctx, `select count(*) from orders.outbox`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("second clone: %d outbox rows, %v; want 0, nil", n, err)
	}
	var before int
	if err := b.QueryRow(ctx, `select count(*) from orders.schema_migrations`).Scan(&before); err != nil {
		t.Fatal(err)
	}
	if err := tmpl.Migrate(ctx, b); err != nil {
		t.Fatal(err)
	}
	var after int
	if err := b.QueryRow(ctx, `select count(*) from orders.schema_migrations`).Scan(&after); err != nil || after != before {
		t.Fatalf("migrating a clone again: %d migrations recorded, then %d (%v)", before, after, err)
	}
}

// TestStaleTemplateIsDropped: making the template of a set drops the set's templates of
// other hashes (other migrations) made StaleAfter ago, keeps those made since (another
// checkout may be cloning them), and leaves other sets' alone.
func TestStaleTemplateIsDropped(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	migrate := func(sql string) func(ctx context.Context, db *pgxpool.Pool) error {
		return func(ctx context.Context, db *pgxpool.Pool) error {
			return pg.Migrate(ctx, db, "stale", fstest.MapFS{"0001_init.sql": {Data: []byte(sql)}})
		}
	}
	set := "pgteststale" + pgtestSuffix(t)
	t.Cleanup(func() { dropTemplates(t, set) })
	old := pgtest.Template{Set: set, Hash: "00000000000000000000", Migrate: migrate(`create table t (a int)`)}
	recent := pgtest.Template{Set: set, Hash: "22222222222222222222", Migrate: migrate(`create table t (a int, c int)`)}
	other := pgtest.Template{Set: set + "x", Hash: "00000000000000000000", Migrate: migrate(`create table t (a int)`)}
	pgtest.Clone(t, ctx, old)
	backdate(t, pgtest.TemplatePrefix+set+"_0000000000000000")
	pgtest.Clone(t, ctx, recent)
	pgtest.Clone(t, ctx, other)
	backdate(t, pgtest.TemplatePrefix+set+"x_0000000000000000")
	cur := pgtest.Template{Set: set, Hash: "11111111111111111111", Migrate: migrate(`create table t (a int, b int)`)}
	db := pgtest.MigratedPool(t, ctx, cur)
	if _, err := db.Exec(ctx, `insert into stale.t (a, b) values (1, 2)`); err != nil {
		t.Fatalf("the clone is not of the new migrations: %v", err)
	}
	want := []string{pgtest.TemplatePrefix + set + "_1111111111111111", pgtest.TemplatePrefix + set + "_2222222222222222",
		pgtest.TemplatePrefix + set + "x_0000000000000000"}
	if got := templates(t, set); !slices.Equal(got, want) {
		t.Fatalf("templates %v, want %v: the new one, the recent one of %s and the other set's", got, want, set)
	}
}

// backdate makes the template name look made long ago.
func backdate(t testing.TB, name string) {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), pgtest.ServerURL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), `comment on database `+pgx.Identifier{name}.Sanitize()+` is '2000-01-01T00:00:00Z'`); err != nil {
		t.Fatal(err)
	}
}

// pgtestSuffix keeps concurrent runs of this test (two checkouts) apart.
func pgtestSuffix(t testing.TB) string {
	t.Helper()
	return strconv.FormatUint(rand.Uint64(), 36)
}

// templates lists the template databases whose set starts with set, by name.
func templates(t testing.TB, set string) []string {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), pgtest.ServerURL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	rows, _ := conn.Query(context.Background(), `select datname from pg_database where starts_with(datname, $1) order by datname`, pgtest.TemplatePrefix+set)
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// dropTemplates drops the templates of the sets starting with set.
func dropTemplates(t testing.TB, set string) {
	conn, err := pgx.Connect(context.Background(), pgtest.ServerURL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	for _, name := range templates(t, set) {
		if err := pgtest.DropTemplate(context.Background(), conn, name); err != nil {
			t.Error(err)
		}
	}
}

// BenchmarkReadyDatabase is the time to a database on which the order service starts with
// nothing to migrate: an empty one migrated from scratch (as before templates) against a
// clone of the migrated template.
func BenchmarkReadyDatabase(b *testing.B) {
	tmpl := orderMigrations(b)
	b.Run("migrate", func(b *testing.B) {
		for b.Loop() {
			ready(b, func(ctx context.Context) *pgxpool.Pool {
				db := pgtest.Pool(b, ctx)
				if err := tmpl.Migrate(ctx, db); err != nil {
					b.Fatal(err)
				}
				return db
			})
		}
	})
	b.Run("clone", func(b *testing.B) {
		pgtest.Clone(b, context.Background(), tmpl) // the template, made once per hash
		for b.Loop() {
			ready(b, func(ctx context.Context) *pgxpool.Pool { return pgtest.MigratedPool(b, ctx, tmpl) })
		}
	})
}

// ready makes one database with mk and checks it is migrated; it is dropped when the
// benchmark ends.
func ready(b *testing.B, mk func(ctx context.Context) *pgxpool.Pool) {
	db := mk(context.Background())
	if _, err := db.Exec(context.Background(), `select 1 from orders.outbox`); err != nil {
		b.Fatal(err)
	}
}
