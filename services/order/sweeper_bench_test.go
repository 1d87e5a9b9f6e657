package order

import (
	"context"
	"testing"
	"time"

	"github.com/souk/souk/internal/kittest"
	"github.com/souk/souk/platform/kit"
	"github.com/souk/souk/platform/pgtest"
)

// seedOrders inserts n orders of status placed an hour ago, straight into the table.
func seedOrders(b *testing.B, s *Store, n int, status string) {
	b.Helper()
	_, err := s.db.Exec(context.Background(), `insert into orders.orders (id, user_id, status, items, subtotal, discount, total,
			currency, shipping_address, created_at, updated_at)
		select gen_random_uuid(), gen_random_uuid(), $2, '[]', 1500, 0, 1500, 'EUR', '{}', now() - interval '1 hour', now()
		from generate_series(1, $1)`, n, status)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := s.db.Exec(context.Background(), `analyze orders.orders`); err != nil {
		b.Fatal(err)
	}
}

func newBenchStore(b *testing.B) *Store {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	b.Cleanup(cancel)
	db := pgtest.MigratedPool(b, ctx, kittest.Schemas("order", func(d kit.Deps) (kit.Service, error) { return Service(Config{}, d) }))
	return NewStore(db)
}

// BenchmarkCancelPending measures the sweeper's cost per order it cancels (the order, its
// history entry and its order.cancelled event, in batches of pendingBatch).
func BenchmarkCancelPending(b *testing.B) {
	s := newBenchStore(b)
	seedOrders(b, s, b.N, "pending")
	b.ResetTimer()
	for done := 0; done < b.N; {
		n, err := s.CancelPending(context.Background(), time.Minute, pendingBatch)
		if err != nil || n == 0 {
			b.Fatalf("cancelled %d after %d: %v", n, done, err)
		}
		done += n
	}
}

// BenchmarkIdleSweep measures one sweep that finds nothing to cancel among 200 000 orders
// that have moved on and 1 000 pending orders still within their deadline: the cost the
// sweeper adds to a healthy shop every PendingSweepEvery.
func BenchmarkIdleSweep(b *testing.B) {
	s := newBenchStore(b)
	seedOrders(b, s, 200_000, "delivered")
	seedOrders(b, s, 1_000, "pending")
	b.ResetTimer()
	for range b.N {
		if n, err := s.CancelPending(context.Background(), 2*time.Hour, pendingBatch); err != nil || n != 0 {
			b.Fatalf("cancelled %d: %v", n, err)
		}
	}
}
