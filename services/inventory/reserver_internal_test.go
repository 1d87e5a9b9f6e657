package inventory

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rs/zerolog"

	"github.com/souk/souk/internal/kittest"
	"github.com/souk/souk/platform/kit"
	"github.com/souk/souk/platform/outbox"
	"github.com/souk/souk/platform/pgtest"
	"github.com/souk/souk/subjects"
)

// BenchmarkReserverHotSKU is BenchmarkHotSKU without the wire: 64 goroutines call the
// Reserver directly, so the figure is the coalescing path's own (PostgreSQL and the
// batching), without NATS, JSON and the per-request token check. The outbox is not relayed.
//
//	go test -run '^$' -bench ReserverHotSKU -benchtime 5s ./services/inventory/
func BenchmarkReserverHotSKU(b *testing.B) {
	ctx := context.Background()
	store := newStore(b, ctx)
	if _, err := store.Set(ctx, "HOT", MaxOnHand); err != nil {
		b.Fatal(err)
	}
	r := startReserver(b, ctx, store)
	lines := []Line{{SKU: "HOT", Quantity: 1}}
	rate := CallConcurrently(b, 64, func() error {
		_, err := r.Reserve(ctx, uuid.Must(uuid.NewV7()), lines)
		return err
	})
	b.ReportMetric(rate, "reservations/s")
	lv, err := store.Get(ctx, "HOT")
	if err != nil || lv.Reserved != int64(b.N) {
		b.Fatalf("%d answered holds, %+v reserved, %v", b.N, lv, err)
	}
}

// CallConcurrently calls call b.N times in all from callers goroutines, timed, and returns
// the calls per second. A failing call fails b and ends its goroutine.
func CallConcurrently(b *testing.B, callers int, call func() error) float64 {
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for range callers {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				if err := call(); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	return float64(b.N) / time.Since(start).Seconds()
}

// A reservation batch is committed as the unit of work of a caller still waiting for it, so
// the service kit, which tracks each request (outbox.Track), sees the events it wrote and
// wakes the outbox relay once that request is answered, instead of leaving them to the
// relay's next poll. A held and a rejected reservation are both announced.
func TestAReservationMarksItsRequestAsWritingEvents(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	store := newStore(t, ctx)
	if _, err := store.Set(ctx, "A", 1); err != nil {
		t.Fatal(err)
	}
	r := startReserver(t, ctx, store)
	for _, want := range []string{subjects.ReservationHeld, subjects.ReservationRejected} {
		req, wrote := outbox.Track(ctx)
		res, err := r.Reserve(req, uuid.Must(uuid.NewV7()), []Line{{SKU: "A", Quantity: 1}})
		if err != nil || res.Status != want {
			t.Fatalf("reservation %+v, %v; want %s", res, err, want)
		}
		if !wrote() {
			t.Fatalf("a %s reservation wrote its events outside its request's unit of work: the relay is not woken", want)
		}
	}
}

// newStore returns a Store whose holds last a minute, on a fresh database migrated as the
// service's declaration says.
func newStore(tb testing.TB, ctx context.Context) *Store {
	tb.Helper()
	db := pgtest.MigratedPool(tb, ctx, kittest.Schemas("inventory", func(d kit.Deps) (kit.Service, error) { return Service(Config{}, d) }))
	return NewStore(db, time.Minute)
}

// startReserver runs a Reserver over store with the default limits until tb's cleanup.
func startReserver(tb testing.TB, ctx context.Context, store *Store) *Reserver {
	r := NewReserver(store, DefaultMaxBatch, DefaultMaxQueue, nil, nil, zerolog.Nop())
	runCtx, stop := context.WithCancel(ctx)
	var running sync.WaitGroup
	running.Go(func() { r.Run(runCtx, DefaultCommitters) })
	tb.Cleanup(func() { stop(); running.Wait() })
	return r
}
