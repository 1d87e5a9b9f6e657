package promotion_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/souk/souk/services/promotion"
	"github.com/souk/souk/subjects"
)

// BenchmarkHold measures CouponHold through NATS against real PostgreSQL, 16 callers at once:
// every hold of one coupon queues for its row lock, so "hot" is the ceiling of one popular
// code; "spread" holds 64 codes; "limited" also counts the coupon's active redemptions under
// the lock, as many as the benchmark has made so far.
//
//	go test -run '^$' -bench BenchmarkHold -benchtime 3s ./services/promotion/
func BenchmarkHold(b *testing.B) {
	e := newEnv(b)
	e.start(promotion.Config{})
	shoppers := make([]context.Context, 64)
	for i := range shoppers {
		shoppers[i], _ = e.shopper()
	}
	for i := range 64 {
		e.coupon(subjects.CouponCreateRequest{Code: fmt.Sprintf("SPREAD-%02d", i), Kind: subjects.CouponPercent, Value: 10})
	}
	e.coupon(subjects.CouponCreateRequest{Code: "HOT", Kind: subjects.CouponPercent, Value: 10})
	e.coupon(subjects.CouponCreateRequest{Code: "LIMITED", Kind: subjects.CouponPercent, Value: 10, MaxRedemptions: ptr(1 << 30), PerCustomerLimit: ptr(1 << 30)})

	run := func(b *testing.B, code func(i int64) string) {
		var n atomic.Int64
		b.SetParallelism(8) // 16 callers on this 2-core machine
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				i := n.Add(1)
				if _, err := e.hold(shoppers[i%64], code(i), newID(), eur(10_000)); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "holds/s")
	}
	b.Run("hot", func(b *testing.B) { run(b, func(int64) string { return "HOT" }) })
	b.Run("spread", func(b *testing.B) { run(b, func(i int64) string { return fmt.Sprintf("SPREAD-%02d", i%64) }) })
	b.Run("limited", func(b *testing.B) { run(b, func(int64) string { return "LIMITED" }) })
}
