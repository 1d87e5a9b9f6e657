// Package pgtest gives each test a fresh PostgreSQL database on the server of
// SOUK_TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres), dropped when
// the test ends. Tests use the real server; there is no fake.
//
// A test that needs migrated schemas clones a template (Clone, MigratedPool): the template is
// migrated once per migration set and copied with CREATE DATABASE … TEMPLATE, which copies
// files instead of replaying SQL (see template.go).
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/souk/souk/platform/pg"
)

// ServerURL is the URL of the test server's maintenance database.
func ServerURL() string {
	if u := os.Getenv("SOUK_TEST_DATABASE_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

// NewDatabase creates an empty database for t and returns its URL. It is dropped (with any
// connections still open to it) when t ends.
func NewDatabase(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn := connect(t, ctx)
	defer conn.Close(context.Background())
	url, err := createDatabase(t, ctx, conn, "")
	if err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	return url
}

// createDatabase creates a database for t on conn, a copy of template when it is not empty,
// and returns its URL; it is dropped when t ends.
func createDatabase(t testing.TB, ctx context.Context, conn *pgx.Conn, template string) (string, error) {
	name := "souk_test_" + randomHex(6)
	sql := "create database " + name
	if template != "" {
		sql += " template " + pgx.Identifier{template}.Sanitize()
	}
	if _, err := conn.Exec(ctx, sql); err != nil {
		return "", err
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, ServerURL())
		if err != nil {
			t.Logf("pgtest: drop %s: %v", name, err)
			return
		}
		defer c.Close(context.Background())
		if _, err := c.Exec(ctx, "drop database if exists "+name+" with (force)"); err != nil {
			t.Logf("pgtest: drop %s: %v", name, err)
		}
	})
	return databaseURL(name)
}

// connect opens a connection to the server's maintenance database, failing t if it cannot.
func connect(t testing.TB, ctx context.Context) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(ctx, ServerURL())
	if err != nil {
		t.Fatalf("pgtest: connect to %s: %v (is PostgreSQL running?)", ServerURL(), err)
	}
	return conn
}

// databaseURL is ServerURL with its database replaced by name.
func databaseURL(name string) (string, error) {
	u, err := url.Parse(ServerURL())
	if err != nil {
		return "", err
	}
	u.Path = "/" + name
	return u.String(), nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Pool creates a fresh database for t (see NewDatabase) and opens a pool on it, closed when
// t ends; ctx bounds the opening.
func Pool(t testing.TB, ctx context.Context) *pgxpool.Pool {
	t.Helper()
	return open(t, ctx, NewDatabase(t))
}

// open opens a pool on the database at url, closed when t ends.
func open(t testing.TB, ctx context.Context, url string) *pgxpool.Pool {
	t.Helper()
	db, err := pg.Open(ctx, url)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(db.Close)
	return db
}
