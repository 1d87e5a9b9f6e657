package order_test

import (
	"strconv"
	"testing"
)

// BenchmarkPlacement measures, through the front door, a placement (the cart filled again
// first, a fresh Idempotency-Key) and the replay of one (the same key again: the answer is
// the stored order, read with its history in one round trip on the unique index).
//
//	go test -run '^$' -bench Placement -benchtime 400x ./services/order/
func BenchmarkPlacement(b *testing.B) {
	s := newSaga(b)
	p := s.stocked("BENCH-PLACE", 1_000_000, 100)
	_, ctx := s.NewCustomer()
	b.Run("place", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			b.StopTimer()
			s.add(ctx, p.ID, 1)
			b.StartTimer()
			if _, err := s.placeAs(ctx, "bench-"+strconv.Itoa(i)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("replay", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.placeAs(ctx, "bench-0"); err != nil {
				b.Fatal(err)
			}
		}
	})
}
