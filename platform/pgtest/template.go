package pgtest

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/souk/souk/platform/pg"
)

// TemplatePrefix starts the name of every template database pgtest makes: souk_tmpl_<set>_<hash>.
// .ci/run drops them all when the suite ends.
const TemplatePrefix = "souk_tmpl_"

// A Template is a migration set a test's database starts from. pgtest migrates a database
// with it once per Hash, shared by every test binary running against the server, and
// clones it for each test.
type Template struct {
	// Set names what the migrations are for ("order", "shop"): lowercase letters and digits.
	// A template of the same Set with another Hash is stale, from migrations since edited,
	// and is dropped when this one is made.
	Set string
	// Hash identifies the migrations (see Hash): equal hashes, equal schemas.
	Hash string
	// Migrate migrates an empty database to the set. It must leave no connection open.
	Migrate func(ctx context.Context, db *pgxpool.Pool) error
}

// Hash returns a hash of migration sets for Template.Hash: the sha256 of every file of each
// set (path and contents) and of each label (a schema name, a flag that changes what the
// migrations do).
func Hash(labels []string, sets ...fs.FS) (string, error) {
	h := sha256.New()
	part := func(b []byte) {
		_ = binary.Write(h, binary.BigEndian, uint64(len(b)))
		h.Write(b)
	}
	for _, l := range labels {
		part([]byte(l))
	}
	for i, set := range sets {
		part(fmt.Appendf(nil, "set %d", i))
		err := fs.WalkDir(set, ".", func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := fs.ReadFile(set, path)
			part([]byte(path))
			part(b)
			return err
		})
		if err != nil {
			return "", fmt.Errorf("pgtest: hash migrations: %w", err)
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// name is the template's database name.
func (tmpl Template) name() string { return TemplatePrefix + tmpl.Set + "_" + tmpl.Hash[:16] }

// lockKey is the advisory lock of tmpl's Set: made and dropped under it held exclusively,
// cloned under it held shared, so that no clone reads a template being made or dropped.
func (tmpl Template) lockKey() int64 {
	h := fnv.New64a()
	h.Write([]byte(TemplatePrefix + tmpl.Set))
	return int64(h.Sum64())
}

// The templates this process found or made (ready), and the lock of each one's maker, so
// that the tests of one binary make a template once.
var (
	readyMu sync.Mutex
	ready   = map[string]bool{}
	making  = map[string]*sync.Mutex{}
)

// Clone creates a database for t as a copy of tmpl's template, making the template first if
// no test binary has yet, and returns its URL. The copy is dropped when t ends; ctx bounds
// making the template.
func Clone(t testing.TB, ctx context.Context, tmpl Template) string {
	t.Helper()
	if tmpl.Set == "" || strings.Trim(tmpl.Set, "abcdefghijklmnopqrstuvwxyz0123456789") != "" || len(tmpl.Hash) < 16 {
		t.Fatalf("pgtest: template set %q, hash %q: want a lowercase set name and a Hash", tmpl.Set, tmpl.Hash)
	}
	for attempt := 0; ; attempt++ {
		if err := ensure(ctx, tmpl); err != nil {
			t.Fatalf("pgtest: template %s: %v", tmpl.name(), err)
		}
		url, err := clone(t, tmpl)
		if err == nil {
			return url
		}
		// Another binary, of other migrations of the same set, dropped it as stale (two
		// checkouts tested at once): make it again.
		var pgErr *pgconn.PgError
		if attempt > 2 || !errors.As(err, &pgErr) || pgErr.Code != "3D000" {
			t.Fatalf("pgtest: clone %s: %v", tmpl.name(), err)
		}
		readyMu.Lock()
		delete(ready, tmpl.name())
		readyMu.Unlock()
	}
}

// MigratedPool clones tmpl for t (see Clone) and opens a pool on the copy, closed when t ends.
func MigratedPool(t testing.TB, ctx context.Context, tmpl Template) *pgxpool.Pool {
	t.Helper()
	return open(t, ctx, Clone(t, ctx, tmpl))
}

// clone creates a copy of tmpl's template for t, under the set's lock held shared.
func clone(t testing.TB, tmpl Template) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn := connect(t, ctx)
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, `select pg_advisory_lock_shared($1)`, tmpl.lockKey()); err != nil {
		return "", err
	}
	return createDatabase(t, ctx, conn, tmpl.name())
}

// ensure makes tmpl's template unless this process or another made it already.
func ensure(ctx context.Context, tmpl Template) error {
	name := tmpl.name()
	readyMu.Lock()
	if ready[name] {
		readyMu.Unlock()
		return nil
	}
	mu := making[name]
	if mu == nil {
		mu = &sync.Mutex{}
		making[name] = mu
	}
	readyMu.Unlock()

	mu.Lock() // one maker per process; the advisory lock orders the processes
	defer mu.Unlock()
	readyMu.Lock()
	done := ready[name]
	readyMu.Unlock()
	if done {
		return nil
	}
	if err := makeTemplate(ctx, tmpl); err != nil {
		return err
	}
	readyMu.Lock()
	ready[name] = true
	readyMu.Unlock()
	return nil
}

// StaleAfter is how long a template of a set made from other migrations is kept: a test
// binary of another checkout (other migrations of the same set) may still be cloning it.
const StaleAfter = 10 * time.Minute

// makeTemplate makes tmpl's template database unless it exists complete, and drops the
// stale templates of its set, under the set's advisory lock. A complete template is marked
// IS_TEMPLATE and refuses connections (ALLOW_CONNECTIONS false), so no session can be in it
// when it is cloned; one left incomplete by a crash is made again. Its comment records when
// it was made: a template of the set with another hash is stale once made StaleAfter ago.
func makeTemplate(ctx context.Context, tmpl Template) error {
	conn, err := pgx.Connect(ctx, ServerURL())
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, `select pg_advisory_lock($1)`, tmpl.lockKey()); err != nil {
		return err
	}
	name := tmpl.name()
	rows, err := conn.Query(ctx, `select datname, datistemplate and not datallowconn, coalesce(shobj_description(oid, 'pg_database'), '')
		from pg_database where datname like $1`, strings.ReplaceAll(TemplatePrefix+tmpl.Set+"_", "_", `\_`)+"%")
	if err != nil {
		return err
	}
	type found struct {
		Name     string
		Complete bool
		Made     string
	}
	existing, err := pgx.CollectRows(rows, pgx.RowToStructByPos[found])
	if err != nil {
		return err
	}
	for _, db := range existing {
		made, err := time.Parse(time.RFC3339, db.Made)
		switch {
		case db.Name == name && db.Complete:
			continue
		case db.Name != name && db.Complete && err == nil && time.Since(made) < StaleAfter:
			continue // another checkout's, perhaps in use
		}
		// A stale template (other migrations of the set) or one left half made: its maker
		// held the lock we hold now, so it is no longer making it.
		if err := DropTemplate(ctx, conn, db.Name); err != nil {
			return err
		}
	}
	if slices.ContainsFunc(existing, func(f found) bool { return f.Name == name && f.Complete }) {
		return nil
	}
	if _, err := conn.Exec(ctx, `create database `+pgx.Identifier{name}.Sanitize()); err != nil {
		return err
	}
	url, err := databaseURL(name)
	if err != nil {
		return err
	}
	db, err := pg.Open(ctx, url)
	if err != nil {
		return err
	}
	err = tmpl.Migrate(ctx, db)
	db.Close()
	if err != nil {
		_ = DropTemplate(ctx, conn, name)
		return fmt.Errorf("migrate: %w", err)
	}
	id := pgx.Identifier{name}.Sanitize()
	if _, err := conn.Exec(ctx, `comment on database `+id+` is '`+time.Now().UTC().Format(time.RFC3339)+`'`); err != nil {
		return err
	}
	_, err = conn.Exec(ctx, `alter database `+id+` with is_template true allow_connections false`)
	return err
}

// DropTemplate drops the template database name on conn (a connection to another database),
// with any session still in it.
func DropTemplate(ctx context.Context, conn *pgx.Conn, name string) error {
	id := pgx.Identifier{name}.Sanitize()
	_, err := conn.Exec(ctx, `alter database `+id+` is_template false`)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "3D000" {
		return nil // gone already
	}
	if err != nil {
		return err
	}
	_, err = conn.Exec(ctx, `drop database if exists `+id+` with (force)`)
	return err
}
