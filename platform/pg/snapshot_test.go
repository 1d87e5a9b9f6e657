package pg_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/souk/souk/platform/pg"
	"github.com/souk/souk/platform/pgtest"
)

// Holds agrees with PostgreSQL's own pg_visible_in_snapshot on real transactions: one
// committed before the snapshot, one in progress while it was taken and committed after,
// and one begun after it.
func TestSnapshotHoldsWhatCommittedBeforeIt(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db := pgtest.Pool(t, ctx)
	xactID := func(db *pgxpool.Pool) (uint64, func()) {
		tx, err := db.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var text string
		if err := tx.QueryRow(ctx, pg.XactIDQuery).Scan(&text); err != nil {
			t.Fatal(err)
		}
		xid, err := pg.ParseXactID(text)
		if err != nil {
			t.Fatal(err)
		}
		return xid, func() {
			if err := tx.Commit(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	before, commitBefore := xactID(db)
	commitBefore()
	during, commitDuring := xactID(db)
	var text string
	if err := db.QueryRow(ctx, pg.SnapshotQuery).Scan(&text); err != nil {
		t.Fatal(err)
	}
	commitDuring()
	after, commitAfter := xactID(db)
	commitAfter()
	snap, err := pg.ParseSnapshot(text)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		xid  uint64
		want bool
	}{{"committed before", before, true}, {"in progress", during, false}, {"begun after", after, false}} {
		var theirs bool
		if err := db.QueryRow(ctx, `select pg_visible_in_snapshot($1::bigint::text::xid8, $2::text::pg_snapshot)`,
			c.xid, text).Scan(&theirs); err != nil {
			t.Fatal(err)
		}
		if got := snap.Holds(c.xid); got != c.want || theirs != c.want {
			t.Errorf("%s (xid %d in %s): Holds %v, PostgreSQL %v, want %v", c.name, c.xid, text, got, theirs, c.want)
		}
	}
	if (pg.Snapshot{}).Holds(before) {
		t.Error("the zero Snapshot holds a transaction")
	}
}

func TestParseSnapshotRefusesGarbage(t *testing.T) {
	for _, s := range []string{"", "1:2", "a:2:", "1:b:", "1:2:3,x"} {
		if _, err := pg.ParseSnapshot(s); err == nil {
			t.Errorf("ParseSnapshot(%q) = nil error", s)
		}
	}
	snap, err := pg.ParseSnapshot("10:20:15,12")
	if err != nil {
		t.Fatal(err)
	}
	for xid, want := range map[uint64]bool{9: true, 11: true, 12: false, 15: false, 19: true, 20: false} {
		if got := snap.Holds(xid); got != want {
			t.Errorf("10:20:15,12 holds %d: %v, want %v", xid, got, want)
		}
	}
}
