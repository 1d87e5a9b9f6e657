package pg_test

import (
	"context"
	"errors"
	"maps"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/souk/souk/platform/pg"
	"github.com/souk/souk/platform/pgtest"
)

const (
	initSQL = "create table things (id int primary key);\n"
	moreSQL = "insert into things values (1);\n"
)

// shipped is a migration set as a release ships it; each test edits its own copy.
func shipped() fstest.MapFS {
	return fstest.MapFS{
		"migrations/0001_init.sql": {Data: []byte(initSQL)},
		"migrations/0002_more.sql": {Data: []byte(moreSQL)},
	}
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// TestMigrateRecordsChecksums: each applied file's row carries its sha256.
func TestMigrateRecordsChecksums(t *testing.T) {
	ctx := testContext(t)
	db := pgtest.Pool(t, ctx)
	if err := pg.Migrate(ctx, db, "demo", shipped()); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"0001_init": pg.Checksum([]byte(initSQL)), "0002_more": pg.Checksum([]byte(moreSQL))}
	if got := checksums(t, ctx, db); !maps.Equal(got, want) {
		t.Fatalf("recorded %v, want %v", got, want)
	}
}

// TestMigrateRefusesAnEditedMigration: a file changed after it was applied stops Migrate
// before it applies anything else, with an error that names the schema, the file and both
// checksums; a file whose line ends alone changed (CRLF) is the same file.
func TestMigrateRefusesAnEditedMigration(t *testing.T) {
	ctx := testContext(t)
	db := pgtest.Pool(t, ctx)
	files := shipped()
	delete(files, "migrations/0002_more.sql")
	if err := pg.Migrate(ctx, db, "demo", files); err != nil {
		t.Fatal(err)
	}

	edited := shipped() // 0002 is pending: it must not run on top of an edited history
	edited["migrations/0001_init.sql"] = &fstest.MapFile{Data: []byte("create table things (id bigint primary key);\n")}
	err := pg.Migrate(ctx, db, "demo", edited)
	var changed *pg.ChecksumError
	if !errors.As(err, &changed) {
		t.Fatalf("an edited migration must stop Migrate with a *pg.ChecksumError, got %v", err)
	}
	applied, current := pg.Checksum([]byte(initSQL)), pg.Checksum(edited["migrations/0001_init.sql"].Data)
	if changed.Schema != "demo" || changed.File != "migrations/0001_init.sql" || changed.Applied != applied || changed.Current != current {
		t.Fatalf("error %+v, want schema demo, file migrations/0001_init.sql, applied %s, current %s", changed, applied, current)
	}
	for _, part := range []string{"demo", "migrations/0001_init.sql", applied, current, "new migration file"} {
		if !strings.Contains(err.Error(), part) {
			t.Errorf("error %q does not say %q", err, part)
		}
	}
	if got := checksums(t, ctx, db); len(got) != 1 {
		t.Fatalf("nothing may be applied after an edited migration, applied %v", got)
	}

	crlf := shipped()
	crlf["migrations/0001_init.sql"] = &fstest.MapFile{Data: []byte(strings.ReplaceAll(initSQL, "\n", "\r\n"))}
	if err := pg.Migrate(ctx, db, "demo", crlf); err != nil {
		t.Fatalf("a file whose line ends alone changed must pass: %v", err)
	}
}

// TestMigrateAdoptsLegacyRows: a schema migrated before checksums (no checksum column) gets
// the current files' checksums recorded once, without refusing, and is checked from then on.
func TestMigrateAdoptsLegacyRows(t *testing.T) {
	ctx := testContext(t)
	db := pgtest.Pool(t, ctx)
	migrateLegacy(t, ctx, db)

	if err := pg.Migrate(ctx, db, "demo", shipped()); err != nil {
		t.Fatalf("legacy rows must be adopted, not refused: %v", err)
	}
	want := map[string]string{"0001_init": pg.Checksum([]byte(initSQL)), "0002_more": pg.Checksum([]byte(moreSQL))}
	if got := checksums(t, ctx, db); !maps.Equal(got, want) {
		t.Fatalf("recorded %v, want %v", got, want)
	}
	edited := shipped()
	edited["migrations/0002_more.sql"] = &fstest.MapFile{Data: []byte("insert into things values (2);\n")}
	var changed *pg.ChecksumError
	if err := pg.Migrate(ctx, db, "demo", edited); !errors.As(err, &changed) {
		t.Fatalf("after adoption an edit must be refused, got %v", err)
	}
}

// TestMigrateWritesNothingOnReadOnlyDatabase: a service restarting while its database
// refuses writes (a failover's read-only minute) starts, whether its schema is up to date
// with checksums or still has legacy rows to adopt; nothing is written, and the adoption
// happens on the first start after the database takes writes again.
func TestMigrateWritesNothingOnReadOnlyDatabase(t *testing.T) {
	ctx := testContext(t)
	db := pgtest.Pool(t, ctx)
	if err := pg.Migrate(ctx, db, "current", shipped()); err != nil {
		t.Fatal(err)
	}
	migrateLegacy(t, ctx, db)
	name := pgx.Identifier{db.Config().ConnConfig.Database}.Sanitize()
	if _, err := db.Exec(ctx, `alter database `+name+` set default_transaction_read_only = on`); err != nil {
		t.Fatal(err)
	}
	readOnly, err := pgxpool.New(ctx, db.Config().ConnString()) // the setting applies to new sessions
	if err != nil {
		t.Fatal(err)
	}
	defer readOnly.Close()
	if _, err := readOnly.Exec(ctx, `insert into demo.things values (3)`); pg.Code(err) != pg.ReadOnlyTransaction {
		t.Fatalf("the database must refuse writes for this test, got %v", err)
	}

	for _, schema := range []string{"current", "demo"} {
		if err := pg.Migrate(ctx, readOnly, schema, shipped()); err != nil {
			t.Fatalf("%s: a read-only database with nothing pending must let the service start: %v", schema, err)
		}
	}
	var column bool
	if err := db.QueryRow(ctx, `select exists(select 1 from information_schema.columns
		where table_schema = 'demo' and table_name = 'schema_migrations' and column_name = 'checksum')`).Scan(&column); err != nil {
		t.Fatal(err)
	}
	if column {
		t.Fatal("adoption wrote to a read-only database")
	}

	if _, err := db.Exec(ctx, `alter database `+name+` reset default_transaction_read_only`); err != nil {
		t.Fatal(err)
	}
	writable, err := pgxpool.New(ctx, db.Config().ConnString())
	if err != nil {
		t.Fatal(err)
	}
	defer writable.Close()
	if err := pg.Migrate(ctx, writable, "demo", shipped()); err != nil {
		t.Fatal(err)
	}
	if got := checksums(t, ctx, db); got["0001_init"] == "" || got["0002_more"] == "" {
		t.Fatalf("the first writable start must adopt the legacy rows, recorded %v", got)
	}
}

// migrateLegacy leaves schema demo as Migrate did before checksums: both files applied, a
// schema_migrations table without a checksum column.
func migrateLegacy(t *testing.T, ctx context.Context, db *pgxpool.Pool) {
	t.Helper()
	if _, err := db.Exec(ctx, `create schema demo;
		create table demo.schema_migrations (version text primary key, applied_at timestamptz not null default now());
		insert into demo.schema_migrations (version) values ('0001_init'), ('0002_more');
		set search_path = demo; `+initSQL+moreSQL+`reset search_path`); err != nil {
		t.Fatal(err)
	}
}

// checksums reads demo's schema_migrations: version → checksum ("" when none).
func checksums(t *testing.T, ctx context.Context, db *pgxpool.Pool) map[string]string {
	t.Helper()
	rows, err := db.Query(ctx, `select version, coalesce(checksum, '') from demo.schema_migrations`)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	var v, c string
	if _, err := pgx.ForEachRow(rows, []any{&v, &c}, func() error { got[v] = c; return nil }); err != nil {
		t.Fatal(err)
	}
	return got
}
