package pg

import (
	"context"
	"fmt"
	"hash/fnv"
	"io/fs"
	"path"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Migrate applies the *.sql files of migrations (in name order: 0001_init.sql, 0002_…) that
// schema has not applied yet. Each file runs in its own transaction together with its row in
// <schema>.schema_migrations. A transaction-scoped advisory lock per schema serialises
// concurrent starts: the second instance waits, then finds nothing left to do.
//
// Files run with search_path set to schema, so they create unqualified tables in it. When
// every file is applied already, Migrate only reads: a service restarting while its
// database refuses writes (a failover's read-only minute) starts, and its loops ride the
// outage out.
func Migrate(ctx context.Context, pool *pgxpool.Pool, schema string, migrations fs.FS) error {
	files, err := fs.Glob(migrations, "*.sql")
	if err != nil {
		return err
	}
	if len(files) == 0 {
		files, err = fs.Glob(migrations, "migrations/*.sql")
		if err != nil {
			return err
		}
	}
	slices.Sort(files)
	applied, err := appliedVersions(ctx, pool, schema)
	if err != nil {
		return fmt.Errorf("migrate %s: %w", schema, err)
	}
	for _, f := range files {
		if applied[strings.TrimSuffix(path.Base(f), ".sql")] {
			continue
		}
		if err := migrateOne(ctx, pool, schema, migrations, f); err != nil {
			return fmt.Errorf("migrate %s: %w", schema, err)
		}
	}
	return nil
}

// appliedVersions reads the versions schema has applied, without writing anything; none when
// it has no schema_migrations table yet.
func appliedVersions(ctx context.Context, pool *pgxpool.Pool, schema string) (map[string]bool, error) {
	var table *string
	if err := pool.QueryRow(ctx, `select to_regclass($1)::text`, pgx.Identifier{schema, "schema_migrations"}.Sanitize()).Scan(&table); err != nil || table == nil {
		return nil, err
	}
	rows, err := pool.Query(ctx, `select version from `+*table)
	if err != nil {
		return nil, err
	}
	versions, err := pgx.CollectRows(rows, pgx.RowTo[string])
	applied := make(map[string]bool, len(versions))
	for _, v := range versions {
		applied[v] = true
	}
	return applied, err
}

func migrateOne(ctx context.Context, pool *pgxpool.Pool, schema string, migrations fs.FS, file string) error {
	version := strings.TrimSuffix(path.Base(file), ".sql")
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `select pg_advisory_xact_lock($1)`, lockKey(schema)); err != nil {
			return err
		}
		ident := pgx.Identifier{schema}.Sanitize()
		if _, err := tx.Exec(ctx, `create schema if not exists `+ident+`;
			create table if not exists `+ident+`.schema_migrations (
				version text primary key,
				applied_at timestamptz not null default now())`); err != nil {
			return err
		}
		var done bool
		if err := tx.QueryRow(ctx, `select exists(select 1 from `+ident+`.schema_migrations where version = $1)`, version).Scan(&done); err != nil {
			return err
		}
		if done {
			return nil
		}
		sql, err := fs.ReadFile(migrations, file)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `select set_config('search_path', $1, true)`, schema+", public"); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, string(sql)); err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		_, err = tx.Exec(ctx, `insert into `+ident+`.schema_migrations (version) values ($1)`, version)
		return err
	})
}

func lockKey(schema string) int64 {
	h := fnv.New64a()
	h.Write([]byte("souk.migrate." + schema))
	return int64(h.Sum64())
}
