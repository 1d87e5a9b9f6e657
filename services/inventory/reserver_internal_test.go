package inventory

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rs/zerolog"

	"github.com/souk/souk/platform/pgtest"
)

// BenchmarkReserverHotSKU is BenchmarkHotSKU without the wire: 64 goroutines call the
// Reserver directly, so the figure is the coalescing path's own (PostgreSQL and the
// batching), without NATS, JSON and the per-request token check. The outbox is not relayed.
//
//	go test -run '^$' -bench ReserverHotSKU -benchtime 5s ./services/inventory/
func BenchmarkReserverHotSKU(b *testing.B) {
	ctx := context.Background()
	db := pgtest.Pool(b, ctx)
	if err := Migrate(ctx, db); err != nil {
		b.Fatal(err)
	}
	store := NewStore(db, time.Minute, nil)
	if _, err := store.Set(ctx, "HOT", MaxOnHand); err != nil {
		b.Fatal(err)
	}
	r := NewReserver(store, DefaultMaxBatch, DefaultMaxQueue, nil, nil, zerolog.Nop())
	runCtx, stop := context.WithCancel(ctx)
	var running sync.WaitGroup
	running.Go(func() { r.Run(runCtx, DefaultCommitters) })
	defer func() { stop(); running.Wait() }()
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
