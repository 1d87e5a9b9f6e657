package inventory_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/services/inventory"
	"github.com/souk/souk/subjects"
)

// Fifty buyers, five units: exactly five holds, forty-five refusals, and at no moment less
// than nothing available; with one committer (the default) and with several, whose batches
// overlap (the next one waits for the stock row while this one commits).
func TestReserveLastUnits(t *testing.T) {
	for _, committers := range []int{1, 3} {
		t.Run(fmt.Sprintf("committers=%d", committers), func(t *testing.T) { reserveLastUnits(t, committers) })
	}
}

func reserveLastUnits(t *testing.T, committers int) {
	e := newEnv(t, inventory.Config{Committers: committers})
	e.set("LAST5", 5)

	done := make(chan struct{})
	var samples atomic.Int64
	sampler := make(chan error, 1)
	go func() { sampler <- e.sample("LAST5", done, &samples) }()

	const buyers = 50
	orders := make([]string, buyers)
	errs := make([]error, buyers)
	var wg sync.WaitGroup
	for i := range buyers {
		orders[i] = newOrder()
		wg.Go(func() { _, errs[i] = e.reserve(orders[i], "LAST5", 1) })
	}
	wg.Wait()
	close(done)
	if err := <-sampler; err != nil {
		t.Fatal(err)
	}
	held, refused := 0, 0
	var heldOrder, refusedOrder string
	for i, err := range errs {
		switch {
		case err == nil:
			held++
			heldOrder = orders[i]
		case errors.Is(err, &subjects.Error{Code: 422, Slug: "out_of_stock"}):
			refused++
			refusedOrder = orders[i]
		default:
			t.Fatalf("buyer %d: %v", i, err)
		}
	}
	if held != 5 || refused != buyers-5 {
		t.Fatalf("held %d, refused %d; want 5 and %d", held, refused, buyers-5)
	}
	t.Logf("%d samples of the stock during the run", samples.Load())
	e.wantStock("LAST5", 5, 5)
	var nHeld, nRejected int
	if err := e.db.QueryRow(e.ctx, `select count(*) filter (where status = 'held'), count(*) filter (where status = 'rejected')
		from inventory.reservations`).Scan(&nHeld, &nRejected); err != nil {
		t.Fatal(err)
	}
	if nHeld != 5 || nRejected != buyers-5 {
		t.Fatalf("stored %d held and %d rejected", nHeld, nRejected)
	}
	if n := e.inst.Counter(t, "souk_inventory_stockouts_total"); n != buyers-5 {
		t.Fatalf("souk_inventory_stockouts_total = %v, want %d", n, buyers-5)
	}

	// Asking again returns the first outcome, a refusal included, even with stock back.
	e.set("LAST5", 100)
	r, err := e.reserve(heldOrder, "LAST5", 1)
	if err != nil || r.Status != subjects.ReservationHeld || r.ExpiresAt.IsZero() {
		t.Fatalf("held order asked again: %+v, %v", r, err)
	}
	_, err = e.reserve(refusedOrder, "LAST5", 1)
	expect.Error(t, err, 422, "out_of_stock", "lines")
	e.wantStock("LAST5", 100, 5)
	if n := e.inst.Counter(t, "souk_inventory_stockouts_total"); n != buyers-5 {
		t.Fatalf("a refusal asked again counted: souk_inventory_stockouts_total = %v, want %d", n, buyers-5)
	}

	// The last guard: the table refuses what the code must never do.
	_, err = e.db.Exec(e.ctx, `update inventory.stock set reserved = on_hand + 1 where sku = 'LAST5'`)
	if err == nil {
		t.Fatal("the stock CHECK let reserved exceed on_hand")
	}
}

// sample reads sku until done, failing on any moment with less than nothing available, in
// the reply or in the table.
func (e *env) sample(sku string, done <-chan struct{}, n *atomic.Int64) error {
	for {
		s, err := subjects.InventoryGet.Call(e.staff, e.nc, subjects.SKURequest{SKU: sku})
		if err != nil {
			return err
		}
		var onHand, reserved int64
		if err := e.db.QueryRow(e.ctx, `select on_hand, reserved from inventory.stock where sku = $1`, sku).Scan(&onHand, &reserved); err != nil {
			return err
		}
		if s.Available < 0 || onHand-reserved < 0 {
			return fmt.Errorf("available below zero: %+v, table %d - %d", s, onHand, reserved)
		}
		n.Add(1)
		select {
		case <-done:
			return nil
		default:
		}
	}
}

// A reservation is all or nothing, sums the lines of one SKU, and an unknown SKU has nothing.
func TestReserveAllOrNothing(t *testing.T) {
	e := newEnv(t, inventory.Config{})
	e.set("A", 10)
	e.set("B", 1)

	order := newOrder()
	_, err := subjects.InventoryReserve.Call(e.staff, e.nc, subjects.ReserveRequest{OrderID: order, Lines: []subjects.ReserveLine{
		{SKU: "A", Quantity: 2}, {SKU: "B", Quantity: 1}, {SKU: "B", Quantity: 1}, {SKU: "NOPE", Quantity: 1}}})
	expect.Error(t, err, 422, "out_of_stock", "lines")
	var se *subjects.Error
	errors.As(err, &se)
	if len(se.Fields) != 2 {
		t.Fatalf("want B and NOPE short, got %+v", se.Fields)
	}
	e.wantStock("A", 10, 0)
	e.wantStock("B", 1, 0)
	e.wantRejected(order, "B", "NOPE")

	order = newOrder()
	r, err := subjects.InventoryReserve.Call(e.staff, e.nc, subjects.ReserveRequest{OrderID: order, Lines: []subjects.ReserveLine{
		{SKU: "A", Quantity: 2}, {SKU: "B", Quantity: 1}, {SKU: "A", Quantity: 3}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Lines) != 2 || r.Lines[0] != (subjects.ReserveLine{SKU: "A", Quantity: 5}) {
		t.Fatalf("lines of a SKU are summed: %+v", r.Lines)
	}
	if d := time.Until(r.ExpiresAt); d < 14*time.Minute || d > 15*time.Minute {
		t.Fatalf("expires in %s, want the 15 min default", d)
	}
	e.wantStock("A", 10, 5)
	e.wantStock("B", 1, 1)
	if ev := e.reservationEvent(subjects.EvtInventoryReserved, order); !ev.ExpiresAt.Equal(r.ExpiresAt) {
		t.Fatalf("reserved event expires at %s, reply %s", ev.ExpiresAt, r.ExpiresAt)
	}
}

// A full queue is refused at once with 503, and the refused requests change nothing.
func TestReserveShedsWhenQueueFull(t *testing.T) {
	e := newEnv(t, inventory.Config{MaxBatch: 1, MaxQueue: 1, Committers: 1})
	e.set("HELD", 100)

	// Hold the SKU's row lock so that the committer blocks with the first request in hand.
	tx, err := e.db.Begin(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(e.ctx, `select 1 from inventory.stock where sku = 'HELD' for update`); err != nil {
		t.Fatal(err)
	}
	first := make(chan error, 1)
	go func() { _, err := e.reserve(newOrder(), "HELD", 1); first <- err }()
	expect.Within(t, 10*time.Second, func() error {
		var waiting int
		err := e.db.QueryRow(e.ctx, `select count(*) from pg_stat_activity
			where datname = current_database() and wait_event_type = 'Lock'`).Scan(&waiting)
		if err == nil && waiting == 0 {
			err = errors.New("the committer is not waiting for the row yet")
		}
		return err
	})

	// One more fills the queue; the other four are shed at once.
	const more = 5
	var shed atomic.Int64
	errs := make(chan error, more)
	for range more {
		go func() {
			ctx, cancel := context.WithTimeout(e.staff, 20*time.Second)
			defer cancel()
			_, err := subjects.InventoryReserve.Call(ctx, e.nc, subjects.ReserveRequest{OrderID: newOrder(),
				Lines: []subjects.ReserveLine{{SKU: "HELD", Quantity: 1}}})
			if errors.Is(err, &subjects.Error{Code: 503, Slug: "overloaded"}) {
				shed.Add(1)
			}
			errs <- err
		}()
	}
	expect.Within(t, 10*time.Second, func() error {
		if n := shed.Load(); n != more-1 {
			return fmt.Errorf("%d shed so far, want %d", n, more-1)
		}
		return nil
	})
	if err := tx.Rollback(e.ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	for range more {
		if err := <-errs; err != nil {
			expect.Error(t, err, 503, "overloaded", "")
		}
	}
	if n := shed.Load(); n != more-1 {
		t.Fatalf("%d shed, want %d", n, more-1)
	}
	e.wantStock("HELD", 100, 2)
}
