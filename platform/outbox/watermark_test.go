package outbox_test

import (
	"context"
	"fmt"
	"io/fs"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rs/zerolog"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/nats/natstest"
	"github.com/souk/souk/platform/outbox"
	"github.com/souk/souk/platform/pg"
	"github.com/souk/souk/platform/pgtest"
)

// begin begins a transaction and gives it its transaction id at once; the test commits or
// rolls it back.
func begin(t *testing.T, ctx context.Context, db *pgxpool.Pool) pgx.Tx {
	t.Helper()
	tx, err := db.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tx.Rollback(context.Background()) })
	if _, err := tx.Exec(ctx, `select pg_current_xact_id()`); err != nil {
		t.Fatal(err)
	}
	return tx
}

// write adds n events in tx (which takes their sequence numbers now) and returns their ids.
func write(t *testing.T, ctx context.Context, tx pgx.Tx, n int) []string {
	t.Helper()
	evs, ids := events(n)
	if err := outbox.Add(ctx, tx, schema, evs...); err != nil {
		t.Fatal(err)
	}
	return ids
}

// Transactions commit out of order. C takes its transaction id first; A takes the next one
// and its sequence numbers; C then takes later sequence numbers and commits; B, younger than
// both, commits; the relay publishes C and B while A is still open; then A commits. A's
// events sort below B's, and on the sequence below C's: a watermark kept on the sequence
// (with or without the horizon) or on the key without the horizon would have passed them,
// and they would never go out. All are published, each once: B as soon as it committed,
// above the horizon, and not again when the watermark passes it (LateAfter is out of the
// way: B is never marked sent on its own).
func TestTransactionsCommittingOutOfOrderAreAllPublished(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, db := migrated(t, ctx)
	_, js := natstest.JetStream(t, ctx)
	relay := outbox.NewRelay(schema, db, js, zerolog.Nop())
	relay.LateAfter = time.Hour
	expect.Start(t, relay.Run)

	txC := begin(t, ctx, db)
	txA := begin(t, ctx, db)
	a := write(t, ctx, txA, 3)
	c := write(t, ctx, txC, 3)
	if err := txC.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	b := addEvents(t, ctx, db, 3)
	expect.Within(t, 20*time.Second, func() error { return holdsExactly(ctx, js, append(b, c...)) })
	if err := txA.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	all := append(append(a, b...), c...)
	expect.Within(t, 20*time.Second, func() error { return holdsExactly(ctx, js, all) })
	expect.Within(t, 20*time.Second, func() error { return allSent(ctx, db) })
	if n := relay.Counts(); n.Duplicates != 0 || n.Published != uint64(len(all)) {
		t.Fatalf("published %d with %d duplicates, want %d and none", n.Published, n.Duplicates, len(all))
	}
}

// A transaction holding its id open for the whole test (a long migration, a report, any
// database's writer on the same server) holds the horizon below every event written
// meanwhile. Those events still go out, sent one by one past the horizon; once it ends and
// the watermark passes them, none is published again.
func TestEventsGoOutWhileALongTransactionHoldsTheHorizon(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	url, db := migrated(t, ctx)
	_, js := natstest.JetStream(t, ctx)
	long := begin(t, ctx, open(t, ctx, url))
	relay := outbox.NewRelay(schema, db, js, zerolog.Nop())
	expect.Start(t, relay.Run)

	var ids []string
	for range 5 {
		ids = append(ids, addEvents(t, ctx, db, 20)...)
		expect.Within(t, 20*time.Second, func() error { return holdsExactly(ctx, js, ids) })
	}
	expect.Within(t, 20*time.Second, func() error { return allSent(ctx, db) })
	// The horizon is the server's: another transaction (another database's, a test running
	// beside this one) may hold it on past the long one, and then the events written next
	// are sent one by one too, and carry nothing.
	other := begin(t, ctx, open(t, ctx, url))
	if err := long.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	ids = append(ids, addEvents(t, ctx, db, 20)...)
	expect.Within(t, 20*time.Second, func() error { return allSent(ctx, db) })
	if err := other.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	// The watermark moves over them now, carried by an event written once the horizon moved
	// on; while nothing is left to carry it (the horizon held past LateAfter again), write
	// one more.
	expect.Within(t, 20*time.Second, func() error {
		var above, unsent int
		err := db.QueryRow(ctx, `select count(*), count(*) filter (where o.sent_at is null)
			from users.outbox o, users.outbox_cursor c where (o.xid, o.seq) > (c.xid, c.seq)`).Scan(&above, &unsent)
		if err == nil && above > 0 {
			if unsent == 0 {
				ids = append(ids, addEvents(t, ctx, db, 1)...)
			}
			err = fmt.Errorf("%d rows above the watermark", above)
		}
		return err
	})
	expect.Within(t, 20*time.Second, func() error { return holdsExactly(ctx, js, ids) })
	if n := relay.Counts(); n.Duplicates != 0 || n.Published != uint64(len(ids)) {
		t.Fatalf("published %d with %d duplicates, want %d and none", n.Published, n.Duplicates, len(ids))
	}
}

// Two relays on one outbox while writers commit concurrently: every event is published,
// once, and none is left unsent.
func TestTwoRelaysOnOneOutboxPublishEveryEventOnce(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	url, db := migrated(t, ctx)
	_, js := natstest.JetStream(t, ctx)
	startRelay(t, ctx, url, js)
	startRelay(t, ctx, url, js)

	var mu sync.Mutex
	var ids []string
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 25 {
				evs, got := events(1 + (w+i)%7)
				if err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error { return outbox.Add(ctx, tx, schema, evs...) }); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				ids = append(ids, got...)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	expect.Within(t, 30*time.Second, func() error { return holdsExactly(ctx, js, ids) })
	expect.Within(t, 20*time.Second, func() error { return allSent(ctx, db) })
}

// The migration to the watermark on an outbox in use: the rows already marked sent are not
// published again, the unsent ones go out.
func TestMigrationToTheWatermarkSendsOnlyTheUnsentRows(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db := open(t, ctx, pgtest.NewDatabase(t))
	before := fstest.MapFS{}
	for _, f := range []string{"outbox_0001_init.sql", "outbox_0002_leases.sql", "outbox_0003_trace.sql"} {
		sql, err := fs.ReadFile(outbox.Migrations, "migrations/"+f)
		if err != nil {
			t.Fatal(err)
		}
		before[f] = &fstest.MapFile{Data: sql}
	}
	if err := pg.Migrate(ctx, db, schema, before); err != nil {
		t.Fatal(err)
	}
	sent := addEvents(t, ctx, db, 30)
	if _, err := db.Exec(ctx, `update users.outbox set sent_at = now(), sent_by = 'old' where id = any($1::uuid[])`, sent); err != nil {
		t.Fatal(err)
	}
	unsentIDs := addEvents(t, ctx, db, 20)
	if _, err := db.Exec(ctx, `update users.outbox_lease set clean = true`); err != nil {
		t.Fatal(err)
	}
	if err := outbox.Migrate(ctx, db, schema); err != nil {
		t.Fatal(err)
	}
	_, js := natstest.JetStream(t, ctx)
	expect.Start(t, outbox.NewRelay(schema, db, js, zerolog.Nop()).Run)
	expect.Within(t, 20*time.Second, func() error { return holdsExactly(ctx, js, unsentIDs) })
	expect.Within(t, 20*time.Second, func() error { return allSent(ctx, db) })
}

// Events sent one by one while a long transaction held the horizon, minutes before a relay
// died, are not sent again with its window: the watermark passed over them later, within the
// range of a run inside the window, but what decides for them is when they were sent.
func TestRowsSentOneByOneLongBeforeADeathAreNotResent(t *testing.T) {
	resendsOnlyTheDeadRelaysWindow(t, true)
}
