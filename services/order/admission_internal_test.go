package order

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rs/zerolog"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/internal/kittest"
	"github.com/souk/souk/platform/kit"
	"github.com/souk/souk/platform/pg"
	"github.com/souk/souk/platform/pgtest"
	"github.com/souk/souk/subjects"
)

// snapshotAt is a snapshot that holds every transaction before xid and none from it on.
func snapshotAt(t *testing.T, xid string) pg.Snapshot {
	t.Helper()
	s, err := pg.ParseSnapshot(xid + ":" + xid + ":")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// The estimate of checkouts in progress takes off the orders this instance decided since the
// last count: between two counts it follows the truth, not the count's age times the rate.
// (Without it, 64 customers who never have more than 64 orders undecided were refused under
// a bound of 96 at 244 checkouts/s.)
func TestAdmissionCountsDecisionsSinceTheLastCount(t *testing.T) {
	a := newAdmission(nil, 10, nil, zerolog.Nop(), nil)
	a.counted, a.snapshot = 9, snapshotAt(t, "100") // 9 undecided at the count
	if err := a.admit(); err != nil {
		t.Fatalf("9 of 10: %v", err)
	}
	a.stored(100) // the 10th, stored after the count
	a.done()
	if err := a.admit(); err == nil {
		t.Fatal("10 of 10 admitted an 11th")
	}
	a.decided(99) // a decision the count held already: takes nothing off
	if err := a.admit(); err == nil {
		t.Fatal("a decision the count held already let an 11th in")
	}
	for xid := range uint64(4) { // four of the counted ones paid since
		a.decided(101 + xid)
	}
	for i := range uint64(4) {
		if err := a.admit(); err != nil {
			t.Fatalf("admission %d after 4 decisions: %v", i+1, err)
		}
		a.stored(105 + i)
		a.done()
	}
	if err := a.admit(); err == nil {
		t.Fatal("10 undecided again, yet an 11th admitted")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if got := a.undecided(); got != 10 {
		t.Fatalf("estimate %d, want 10", got)
	}
}

// An order stamped before a count began and committed after it is neither in the count nor
// forgotten: the count's snapshot does not hold its transaction, so it stays in the estimate
// until a count does. The insert is held on a table lock while the count runs. (Judged by
// clocks, the order's creation stamp came before the count's statement began, so it was
// dropped, and the estimate showed 0 orders in progress for 1: on a busy machine two
// admitted placements under a bound of 2 let a third in.) Once counted, it is counted once.
func TestAdmissionKeepsAnOrderCommittedAfterTheCountBegan(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db := pgtest.MigratedPool(t, ctx, kittest.Schemas("order", func(d kit.Deps) (kit.Service, error) { return Service(Config{}, d) }))
	store := NewStore(db)
	a := newAdmission(store, 2, nil, zerolog.Nop(), nil)
	store.placed, store.decided = a.stored, a.decided
	a.round(ctx)

	blocker, err := db.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer blocker.Rollback(ctx)
	if _, err := blocker.Exec(ctx, `lock table orders.orders in share mode`); err != nil {
		t.Fatal(err)
	}
	at := time.Now() // stamped before the count
	o := &Order{ID: uuid.New(), UserID: uuid.New(), Status: subjects.OrderStatusPending,
		Items: []subjects.OrderItem{}, Currency: "EUR", CreatedAt: at, UpdatedAt: at,
		History: []subjects.OrderStatus{{Status: subjects.OrderStatusPending, At: at}}}
	placed := make(chan error, 1)
	go func() {
		_, err := a.guard(func(ctx context.Context, _ subjects.OrderPlaceRequest) (subjects.Order, error) {
			return o.Wire(), store.Insert(ctx, o)
		})(ctx, subjects.OrderPlaceRequest{})
		placed <- err
	}()
	expect.Within(t, 20*time.Second, func() error {
		var waiting bool
		err := db.QueryRow(ctx, `select exists (select from pg_stat_activity
			where wait_event_type = 'Lock' and query like 'insert into orders.orders%')`).Scan(&waiting)
		if err == nil && !waiting {
			err = errors.New("the insert is not waiting on the lock yet")
		}
		return err
	})
	a.round(ctx) // counts while the insert waits: its snapshot cannot hold it
	if err := blocker.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-placed; err != nil {
		t.Fatal(err)
	}
	estimate := func() int64 {
		a.mu.Lock()
		defer a.mu.Unlock()
		return a.undecided()
	}
	if got := estimate(); got != 1 {
		t.Fatalf("after the placement committed past the count: estimate %d, want 1", got)
	}
	a.round(ctx)
	if got := estimate(); got != 1 || a.counted != 1 {
		t.Fatalf("once a count holds it: estimate %d (counted %d), want 1 (1)", got, a.counted)
	}
}
