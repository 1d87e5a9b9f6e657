package inventory_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/souk/souk/services/inventory"
	"github.com/souk/souk/subjects"
)

// BenchmarkHotSKU is docs/architecture.md's hot-SKU target at the inventory service: 64 concurrent
// callers reserve one unit each of one SKU with ample stock, through NATS as any caller does
// (token checked, reply after the commit, events relayed as it runs). It reports
// reservations per second and the mean batch the Reserver committed; compare with the
// naive row update of bench/inventory_pgbench.sh, measured on the same PostgreSQL:
//
//	go test -run '^$' -bench HotSKU -benchtime 5s ./services/inventory/
func BenchmarkHotSKU(b *testing.B) {
	e := newEnv(b, inventory.Config{})
	e.set("HOT", inventory.MaxOnHand)
	rate := inventory.CallConcurrently(b, 64, func() error {
		ctx, cancel := context.WithTimeout(e.staff, 10*time.Second)
		defer cancel()
		_, err := subjects.InventoryReserve.Call(ctx, e.nc, subjects.ReserveRequest{OrderID: uuid.Must(uuid.NewV7()).String(),
			Lines: []subjects.ReserveLine{{SKU: "HOT", Quantity: 1}}})
		return err
	})
	b.ReportMetric(rate, "reservations/s")
	b.ReportMetric(mean(b, e.reg, "souk_inventory_reserve_batch_size"), "requests/batch")
	b.ReportMetric(mean(b, e.reg, "souk_inventory_reserve_batch_seconds")*1000, "ms/batch")
	if s := e.stock("HOT"); s.Reserved != int64(b.N) {
		b.Fatalf("%d answered holds, %d reserved", b.N, s.Reserved)
	}
}

// mean is the mean of the histogram name so far.
func mean(b *testing.B, reg *prometheus.Registry, name string) float64 {
	families, err := reg.Gather()
	if err != nil {
		b.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == name {
			h := f.GetMetric()[0].GetHistogram()
			return h.GetSampleSum() / float64(max(h.GetSampleCount(), 1))
		}
	}
	return 0
}
