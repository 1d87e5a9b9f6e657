package pg_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/souk/souk/platform/pg"
	"github.com/souk/souk/platform/pgtest"
)

// TestTransientOnRealErrors classifies errors PostgreSQL and pgx really produce (a few codes
// that cannot be provoked on one test server are built by hand, marked so).
func TestTransientOnRealErrors(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dsn := pgtest.NewDatabase(t)
	db, err := pg.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	if _, err := db.Exec(ctx, `create table t (id int primary key, v int not null);
		create table child (parent int not null references t);
		insert into t values (1, 0), (2, 0)`); err != nil {
		t.Fatal(err)
	}
	exec := func(sql string) error { _, err := db.Exec(ctx, sql); return err }
	readOnly := inTx(t, db, pgx.TxOptions{AccessMode: pgx.ReadOnly}, `insert into t values (3, 0)`)

	cases := []struct {
		name                string
		err                 error
		transient, conflict bool
	}{
		{"read-only transaction (25006)", readOnly, true, false},
		{"read-only, wrapped by a handler", fmt.Errorf("reserve stock: %w", readOnly), true, false},
		{"serialization failure (40001)", serializationFailure(t, db), true, true},
		{"deadlock (40P01)", deadlock(t, db), true, true},
		{"statement_timeout (57014)", inTx(t, db, pgx.TxOptions{}, `set local statement_timeout = '20ms'; select pg_sleep(5)`), true, false},
		{"lock NOWAIT (55P03)", lockNowait(t, db), true, false},
		{"session terminated (57P01 or EOF)", terminated(t, db, dsn), true, false},
		{"too many connections (53300)", tooManyConnections(t, dsn), true, false},
		{"connection refused", refused(t, dsn), true, false},
		{"pool acquire timeout, marked Unavailable", pg.Unavailable(acquireTimeout(t, dsn)), true, false},
		{"pool acquire timeout, unmarked: the caller's budget", acquireTimeout(t, dsn), false, false},
		{"statement outlasting the caller's context", ownDeadline(t, db), false, false},
		{"unique violation (23505)", exec(`insert into t values (1, 0)`), false, false},
		{"foreign key violation (23503)", exec(`insert into child values (99)`), false, false},
		{"bad input (22P02)", exec(`select 'x'::int`), false, false},
		{"undefined table (42P01)", exec(`select * from nowhere`), false, false},
		{"conn busy: rows left open by the work", connBusy(t, db), false, false},
		{"a handler's own error", errors.New("stock service says no"), false, false},
		{"nil", nil, false, false},
		{"by hand: connection failure (08006)", &pgconn.PgError{Code: "08006"}, true, false},
		{"by hand: disk full (53100)", &pgconn.PgError{Code: "53100"}, true, false},
		{"by hand: cannot connect now (57P03)", &pgconn.PgError{Code: "57P03"}, true, false},
		{"by hand: database dropped (57P04)", &pgconn.PgError{Code: "57P04"}, false, false},
	}
	for _, c := range cases {
		if c.name != "nil" && c.err == nil {
			t.Errorf("%s: no error was produced", c.name)
			continue
		}
		t.Logf("%s: %v", c.name, c.err)
		if got := pg.Transient(c.err); got != c.transient {
			t.Errorf("%s: Transient(%v) = %v, want %v", c.name, c.err, got, c.transient)
		}
		if got := pg.Conflict(c.err); got != c.conflict {
			t.Errorf("%s: Conflict(%v) = %v, want %v", c.name, c.err, got, c.conflict)
		}
	}
}

// inTx runs sql in a transaction with opts and returns its error.
func inTx(t *testing.T, db *pgxpool.Pool, opts pgx.TxOptions, sql string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return pgx.BeginTxFunc(ctx, db, opts, func(tx pgx.Tx) error { _, err := tx.Exec(ctx, sql); return err })
}

// serializationFailure updates a row in a repeatable-read transaction after another
// transaction changed it since the first's snapshot.
func serializationFailure(t *testing.T, db *pgxpool.Pool) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tx, err := db.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, `select v from t where id = 1`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, `update t set v = v + 1 where id = 1`); err != nil {
		t.Fatal(err)
	}
	_, err = tx.Exec(ctx, `update t set v = v + 1 where id = 1`)
	return err
}

// deadlock makes two transactions lock rows 1 and 2 in opposite orders; the second, with
// the shorter deadlock_timeout, is the one PostgreSQL picks to fail.
func deadlock(t *testing.T, db *pgxpool.Pool) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a, err := db.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = a.Rollback(ctx) }()
	b, err := db.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = b.Rollback(ctx) }()
	if _, err := a.Exec(ctx, `set local deadlock_timeout = '5s'; update t set v = v + 1 where id = 1`); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Exec(ctx, `set local deadlock_timeout = '50ms'; update t set v = v + 1 where id = 2`); err != nil {
		t.Fatal(err)
	}
	aDone := make(chan error, 1)
	go func() { _, err := a.Exec(ctx, `update t set v = v + 1 where id = 2`); aDone <- err }()
	// b's lock wait must start after a's; whichever order, one of the two fails with 40P01
	// and the other then goes on.
	expectWaiting(t, db)
	_, errB := b.Exec(ctx, `update t set v = v + 1 where id = 1`)
	if errB != nil {
		_ = b.Rollback(ctx)
	}
	errA := <-aDone
	return errors.Join(errA, errB)
}

// expectWaiting waits until some session of the database waits for a lock.
func expectWaiting(t *testing.T, db *pgxpool.Pool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		var n int
		if err := db.QueryRow(ctx, `select count(*) from pg_stat_activity
			where datname = current_database() and wait_event_type = 'Lock'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatal("no session started waiting for a lock")
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// lockNowait asks with NOWAIT for a row another transaction holds.
func lockNowait(t *testing.T, db *pgxpool.Pool) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tx, err := db.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, `select * from t where id = 1 for update`); err != nil {
		t.Fatal(err)
	}
	return inTx(t, db, pgx.TxOptions{}, `select * from t where id = 1 for update nowait`)
}

// terminated uses a connection whose session an administrator terminated.
func terminated(t *testing.T, db *pgxpool.Pool, dsn string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := db.Exec(ctx, `select pg_terminate_backend($1)`, conn.PgConn().PID()); err != nil {
		t.Fatal(err)
	}
	_, err = conn.Exec(ctx, `select 1`)
	return err
}

// tooManyConnections connects as a role allowed no connections (superusers ignore limits).
func tooManyConnections(t *testing.T, dsn string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var b [4]byte
	_, _ = rand.Read(b[:])
	role := "souk_test_nolimit_" + hex.EncodeToString(b[:])
	admin, err := pgx.Connect(ctx, pgtest.ServerURL())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	if _, err := admin.Exec(ctx, `create role `+role+` login connection limit 0`); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if _, err := admin.Exec(context.Background(), `drop role `+role); err != nil {
			t.Errorf("drop role %s: %v", role, err)
		}
	}()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.User(role)
	conn, err := pgx.Connect(ctx, u.String())
	if err == nil {
		_ = conn.Close(ctx)
	}
	return err
}

// refused connects to a port nothing listens on.
func refused(t *testing.T, dsn string) error {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = "127.0.0.1:1"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, u.String())
	if err == nil {
		_ = conn.Close(ctx)
	}
	return err
}

// acquireTimeout asks a pool of one connection, which is taken, for another within 50 ms.
func acquireTimeout(t *testing.T, dsn string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("pool_max_conns", "1")
	u.RawQuery = q.Encode()
	db, err := pg.Open(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	held, err := db.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Release()
	short, cancelShort := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancelShort()
	_, err = db.Begin(short)
	return err
}

// ownDeadline runs a statement longer than its context allows.
func ownDeadline(t *testing.T, db *pgxpool.Pool) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := db.Exec(ctx, `select pg_sleep(5)`)
	return err
}

// connBusy sends a statement on a connection whose rows are still open.
func connBusy(t *testing.T, db *pgxpool.Pool) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := db.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	rows, err := conn.Query(ctx, `select generate_series(1, 1000)`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	_, err = conn.Exec(ctx, `select 1`)
	return err
}
