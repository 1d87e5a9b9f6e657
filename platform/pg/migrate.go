package pg

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
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
// <schema>.schema_migrations, which records the file's sha256 (see Checksum). A
// transaction-scoped advisory lock per schema serialises concurrent starts: the second
// instance waits, then finds nothing left to do.
//
// A file applied before whose checksum has changed since stops Migrate, before it applies
// anything, with a *ChecksumError per such file: a migration that has run is history, and
// the change belongs in a new file. A row with no file in migrations is no error: several
// sets share a schema's table (the service's own, the outbox's, the processed table's), and
// an instance of the previous release may start against a database a newer one migrated.
//
// Rows applied before checksums were recorded (an older Souk) have none: Migrate adopts the
// current file's checksum for them, once, trusting the file as it is now. Adoption is the
// only write Migrate makes when nothing is pending, and it is skipped while the database
// refuses writes; the next start adopts.
//
// Files run with search_path set to schema, so they create unqualified tables in it. When
// every file is applied already (and adopted), Migrate only reads: a service restarting
// while its database refuses writes (a failover's read-only minute) starts, and its loops
// ride the outage out.
func Migrate(ctx context.Context, pool *pgxpool.Pool, schema string, migrations fs.FS) error {
	files, err := readMigrations(migrations)
	if err != nil {
		return fmt.Errorf("migrate %s: %w", schema, err)
	}
	applied, err := appliedVersions(ctx, pool, schema)
	if err != nil {
		return fmt.Errorf("migrate %s: %w", schema, err)
	}
	var changed []error
	var legacy, pending []migration
	for _, m := range files {
		recorded, ok := applied[m.version]
		switch {
		case !ok:
			pending = append(pending, m)
		case recorded == "":
			legacy = append(legacy, m)
		case recorded != m.checksum:
			changed = append(changed, &ChecksumError{Schema: schema, File: m.file, Version: m.version, Applied: recorded, Current: m.checksum})
		}
	}
	if len(changed) > 0 {
		return errors.Join(changed...) // each names the schema
	}
	if len(legacy) > 0 {
		if err := adopt(ctx, pool, schema, legacy); err != nil {
			return fmt.Errorf("migrate %s: record checksums: %w", schema, err)
		}
	}
	for _, m := range pending {
		if err := migrateOne(ctx, pool, schema, m); err != nil {
			return fmt.Errorf("migrate %s: %w", schema, err)
		}
	}
	return nil
}

// ChecksumError reports a migration file that changed after schema applied it.
type ChecksumError struct {
	Schema  string
	File    string // the file's path in the migrations' fs.FS
	Version string // its row in schema_migrations: the file's name without .sql
	Applied string // the checksum recorded when it was applied
	Current string // the checksum of the file now
}

// Error names the schema, the file and both checksums, and says what to do.
func (e *ChecksumError) Error() string {
	return fmt.Sprintf("migrate %s: migration %s was edited after it was applied (applied sha256 %s, file now sha256 %s). "+
		"A migration that has run must not change: restore the file as it was applied and put the change in a new migration file. "+
		"If this database already matches the edited file, accept it with: update %s set checksum = '%s' where version = '%s'",
		e.Schema, e.File, e.Applied, e.Current,
		pgx.Identifier{e.Schema, "schema_migrations"}.Sanitize(), e.Current, e.Version)
}

// Checksum is the checksum Migrate records for a migration file: the hex sha256 of its
// bytes, with CRLF line ends read as LF, so that a checkout that converts line ends (git's
// autocrlf on Windows) builds a binary that accepts the databases the others migrated.
func Checksum(sql []byte) string {
	sum := sha256.Sum256(bytes.ReplaceAll(sql, []byte("\r\n"), []byte("\n")))
	return hex.EncodeToString(sum[:])
}

// migration is one file of a migration set.
type migration struct {
	file, version, checksum string
	sql                     []byte
}

// readMigrations reads the *.sql files of migrations (or of its migrations/ folder, as a
// service embeds them), in name order.
func readMigrations(migrations fs.FS) ([]migration, error) {
	files, err := fs.Glob(migrations, "*.sql")
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		if files, err = fs.Glob(migrations, "migrations/*.sql"); err != nil {
			return nil, err
		}
	}
	slices.Sort(files)
	out := make([]migration, 0, len(files))
	for _, f := range files {
		sql, err := fs.ReadFile(migrations, f)
		if err != nil {
			return nil, err
		}
		out = append(out, migration{file: f, version: strings.TrimSuffix(path.Base(f), ".sql"), checksum: Checksum(sql), sql: sql})
	}
	return out, nil
}

// appliedVersions reads the versions schema has applied with their checksums ("" for a row
// from before checksums), without writing anything; none when it has no schema_migrations
// table yet.
func appliedVersions(ctx context.Context, pool *pgxpool.Pool, schema string) (map[string]string, error) {
	var table *string
	if err := pool.QueryRow(ctx, `select to_regclass($1)::text`, pgx.Identifier{schema, "schema_migrations"}.Sanitize()).Scan(&table); err != nil || table == nil {
		return nil, err
	}
	// Through to_jsonb, so that a table from before the checksum column reads as well.
	rows, err := pool.Query(ctx, `select version, coalesce(to_jsonb(m) ->> 'checksum', '') from `+*table+` m`)
	if err != nil {
		return nil, err
	}
	applied := make(map[string]string)
	var version, checksum string
	_, err = pgx.ForEachRow(rows, []any{&version, &checksum}, func() error {
		applied[version] = checksum
		return nil
	})
	return applied, err
}

// ensureTable creates schema and its schema_migrations table, or adds the checksum column to
// a table from before it (nullable: an instance of the previous release inserts rows
// without one during a rolling start, and the next start adopts them). tx holds the lock.
func ensureTable(ctx context.Context, tx pgx.Tx, schema string) error {
	ident := pgx.Identifier{schema}.Sanitize()
	_, err := tx.Exec(ctx, `create schema if not exists `+ident+`;
		create table if not exists `+ident+`.schema_migrations (
			version text primary key,
			checksum text,
			applied_at timestamptz not null default now());
		alter table `+ident+`.schema_migrations add column if not exists checksum text`)
	return err
}

// adopt records the checksums of files applied before checksums were recorded. It writes
// nothing while the transaction is read-only (a standby, a database set read-only in a
// failover) and gives up without an error when the database refuses the write for now
// (Transient): start-up goes on, as it did before checksums, and the next start adopts.
func adopt(ctx context.Context, pool *pgxpool.Pool, schema string, legacy []migration) error {
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		var readOnly bool
		if err := tx.QueryRow(ctx, `select current_setting('transaction_read_only')::bool`).Scan(&readOnly); err != nil || readOnly {
			return err
		}
		if _, err := tx.Exec(ctx, `select pg_advisory_xact_lock($1)`, lockKey(schema)); err != nil {
			return err
		}
		if err := ensureTable(ctx, tx, schema); err != nil {
			return err
		}
		update := `update ` + pgx.Identifier{schema, "schema_migrations"}.Sanitize() +
			` set checksum = $2 where version = $1 and checksum is null`
		for _, m := range legacy {
			if _, err := tx.Exec(ctx, update, m.version, m.checksum); err != nil {
				return err
			}
		}
		return nil
	})
	if Transient(err) {
		return nil
	}
	return err
}

func migrateOne(ctx context.Context, pool *pgxpool.Pool, schema string, m migration) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `select pg_advisory_xact_lock($1)`, lockKey(schema)); err != nil {
			return err
		}
		if err := ensureTable(ctx, tx, schema); err != nil {
			return err
		}
		table := pgx.Identifier{schema, "schema_migrations"}.Sanitize()
		var done bool
		if err := tx.QueryRow(ctx, `select exists(select 1 from `+table+` where version = $1)`, m.version).Scan(&done); err != nil {
			return err
		}
		if done {
			return nil
		}
		if _, err := tx.Exec(ctx, `select set_config('search_path', $1, true)`, schema+", public"); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, string(m.sql)); err != nil {
			return fmt.Errorf("%s: %w", m.file, err)
		}
		_, err := tx.Exec(ctx, `insert into `+table+` (version, checksum) values ($1, $2)`, m.version, m.checksum)
		return err
	})
}

// MigrationLock is the key of the advisory lock Migrate holds while it migrates schema: an
// operator (or a test) holding it keeps every instance's start-up waiting at the migration.
func MigrationLock(schema string) int64 { return lockKey(schema) }

func lockKey(schema string) int64 {
	h := fnv.New64a()
	h.Write([]byte("souk.migrate." + schema))
	return int64(h.Sum64())
}
