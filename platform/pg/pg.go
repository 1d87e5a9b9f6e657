// Package pg opens Souk's PostgreSQL pool, creates the database when it is missing, and runs
// each service's embedded migrations in its own schema.
package pg

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	pgxuuid "github.com/vgarvardt/pgx-google-uuid/v5"
)

// DefaultMaxConns bounds a pool whose DSN sets no pool_max_conns. Measured on two cores
// (docs/performance.md, "The pool's width"): with 8 instead of 16 the uncached searches
// ran 1.2–1.7 × as fast with a third to half the p99, and a checkout took 3–16 % less
// PostgreSQL CPU at the same rate: backends beyond what the server's cores run only
// contend. The catalog's searches hold at most half of it (catalog.Config.SearchConns), so
// that a burst of them leaves the short statements the rest.
const DefaultMaxConns = 8

// Open connects to the database of dsn, creating it first when it does not exist, and pings
// it. Every attempt is bounded by ctx; pass one with a deadline.
func Open(ctx context.Context, dsn string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	}
	if !strings.Contains(dsn, "pool_max_conns") {
		// pgx's default is max(4, cores): one slow search would hold a quarter of the pool
		// that every service of the process shares. The DSN's pool_max_conns wins.
		cfg.MaxConns = DefaultMaxConns
	}
	// google/uuid values, as Souk's ids are, encode as uuid Valuers: without this pgx takes
	// its database/sql Valuer path, which built an error on every parameter (13 % of the CPU
	// of an uncached product read).
	cfg.AfterConnect = func(_ context.Context, conn *pgx.Conn) error {
		pgxuuid.Register(conn.TypeMap())
		return nil
	}
	if err := EnsureDatabase(ctx, dsn); err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open pool: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("ping %s: %w", Redact(dsn), err)
	}
	return pool, nil
}

// EnsureDatabase creates the database named in dsn when it is missing. It connects to the
// server's "postgres" database to do so; two processes racing to create it both succeed.
func EnsureDatabase(ctx context.Context, dsn string) error {
	// Parsed as a pool's DSN: pgx.ParseConfig would send pool_max_conns and its kin to the
	// server as run-time parameters, which it refuses.
	poolCfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return fmt.Errorf("DATABASE_URL: %w", err)
	}
	cfg := poolCfg.ConnConfig
	name := cfg.Database
	if name == "" || name == "postgres" {
		return nil
	}
	cfg.Database = "postgres"
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 5 * time.Second
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("connect to PostgreSQL at %s: %w", Redact(dsn), err)
	}
	defer conn.Close(context.Background())
	var exists bool
	if err := conn.QueryRow(ctx, `select exists(select 1 from pg_database where datname = $1)`, name).Scan(&exists); err != nil {
		return fmt.Errorf("look up database %s: %w", name, err)
	}
	if exists {
		return nil
	}
	_, err = conn.Exec(ctx, "create database "+pgx.Identifier{name}.Sanitize())
	if c := Code(err); c == DuplicateDatabase || c == UniqueViolation {
		return nil // created by a concurrent start
	}
	if err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}

// Redact returns dsn with its password replaced, for logs and errors.
func Redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		if strings.Contains(dsn, "password=") {
			return "(connection string with password)"
		}
		return dsn
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// SQLSTATEs the services act on.
const (
	UniqueViolation      = "23505"
	ForeignKeyViolation  = "23503"
	DeadlockDetected     = "40P01"
	SerializationFailure = "40001"
	DuplicateDatabase    = "42P04"
)

// Code returns the SQLSTATE of err, or "" when err is not a PostgreSQL error.
func Code(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

// Batcher sends a batch: a pool or connection (one implicit transaction), or a transaction.
type Batcher interface {
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// Send sends b through q in one round trip and reads every result; an empty b sends nothing.
func Send(ctx context.Context, q Batcher, b *pgx.Batch) error {
	if b.Len() == 0 {
		return nil
	}
	return q.SendBatch(ctx, b).Close()
}
