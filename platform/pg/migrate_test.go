package pg_test

import (
	"context"
	"net/url"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/souk/souk/platform/pg"
	"github.com/souk/souk/platform/pgtest"
)

func TestOpenCreatesDatabaseAndMigrateIsSafeConcurrently(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	// A database that does not exist yet: Open creates it.
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.Path += "_new"
	missing := u.String()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, err := pg.Open(ctx, missing)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		db.Close()
		// Not ctx: it is cancelled when the test function returns, before cleanups run, and
		// the database was left behind.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		admin, err := pg.Open(ctx, dsn)
		if err != nil {
			t.Errorf("drop the created database: %v", err)
			return
		}
		defer admin.Close()
		if _, err := admin.Exec(ctx, "drop database if exists "+db.Config().ConnConfig.Database+" with (force)"); err != nil {
			t.Errorf("drop the created database: %v", err)
		}
	})
	files := fstest.MapFS{
		"0001_init.sql": {Data: []byte(`create table things (id int primary key);`)},
		"0002_more.sql": {Data: []byte(`insert into things values (1);`)},
		"notes.txt":     {Data: []byte(`ignored`)},
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() { defer wg.Done(); errs <- pg.Migrate(ctx, db, "demo", files) }()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	var n, applied int
	if err := db.QueryRow(ctx, `select count(*) from demo.things`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(ctx, `select count(*) from demo.schema_migrations`).Scan(&applied); err != nil {
		t.Fatal(err)
	}
	if n != 1 || applied != 2 {
		t.Fatalf("each migration must run once: rows %d, applied %d", n, applied)
	}
}

func TestRedactHidesPassword(t *testing.T) {
	got := pg.Redact("postgres://souk:s3cret@db:5432/souk")
	if got != "postgres://souk:xxxxx@db:5432/souk" {
		t.Fatalf("got %s", got)
	}
}
