package inventory

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/souk/souk/subjects"
)

// record's checks (each stock row written at the version locked, each reservation saved)
// must fail the transaction itself: in a pipelined batch COMMIT travels right behind them, so
// a check made on the client after the results are read comes too late to roll anything
// back. Each case makes one check fail inside a pipelined transaction that also moves stock,
// and then nothing of it may be committed: stock, reservations and outbox as before.
func TestAFailingRecordCheckCommitsNothing(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s := newStore(t, ctx)
	db := s.db
	if _, err := s.Set(ctx, "A", 10); err != nil {
		t.Fatal(err)
	}
	state := func() (level Level, reservations, events int64) {
		t.Helper()
		err := db.QueryRow(ctx, `select on_hand, reserved, version,
				(select count(*) from inventory.reservations), (select count(*) from inventory.outbox)
			from inventory.stock where sku = 'A'`).Scan(&level.OnHand, &level.Reserved, &level.Version, &reservations, &events)
		if err != nil {
			t.Fatal(err)
		}
		return level, reservations, events
	}
	// reserveThree reserves 3 of A in a pipelined transaction; spoil may break its record
	// and returns the reservations to save with it.
	reserveThree := func(spoil func(Levels) []*Reservation) error {
		return s.pipelined(ctx, func(conn *pgx.Conn) error {
			var ls Levels
			b := &pgx.Batch{}
			b.Queue(`begin`)
			queueLockLevels(b, []string{"A"}, &ls)
			if err := conn.SendBatch(ctx, b).Close(); err != nil {
				return err
			}
			ls["A"].add(0, 3)
			return record(ctx, conn, ls, spoil(ls), nil, `commit`)
		})
	}
	cases := map[string]func(ls Levels) []*Reservation{
		// The row is not the one locked (a caller's bug): the write must not land.
		"stock row at another version": func(ls Levels) []*Reservation {
			ls["A"].Version--
			return nil
		},
		// A reservation to save that is not there: the stock moved with it must not land.
		"reservation missing": func(Levels) []*Reservation {
			return []*Reservation{{OrderID: uuid.New(), Status: subjects.ReservationRejected, Reason: ReasonOutOfStock}}
		},
	}
	for name, spoil := range cases {
		t.Run(name, func(t *testing.T) {
			before, resBefore, evBefore := state()
			err := reserveThree(spoil)
			if err == nil {
				t.Fatal("the spoiled record reported success")
			}
			after, resAfter, evAfter := state()
			if after != before || resAfter != resBefore || evAfter != evBefore {
				t.Fatalf("a failed check committed: stock %+v → %+v, reservations %d → %d, outbox %d → %d (err %v)",
					before, after, resBefore, resAfter, evBefore, evAfter, err)
			}
			t.Logf("refused: %v", err)
		})
	}
	// And an unspoiled one still commits.
	before, _, _ := state()
	if err := reserveThree(func(Levels) []*Reservation { return nil }); err != nil {
		t.Fatal(err)
	}
	if after, _, _ := state(); after.Reserved != before.Reserved+3 || after.Version != before.Version+1 {
		t.Fatalf("a good record: %+v → %+v", before, after)
	}
}
