package order_test

import (
	"testing"
	"time"

	"github.com/souk/souk/internal/shoptest"
	"github.com/souk/souk/services/order"
	"github.com/souk/souk/subjects"
)

// The pending deadline follows inventory.reservation_ttl in the config bucket: an order the
// inventory does not answer, placed under an hour's deadline, is cancelled not_confirmed
// once the key says a second, without a restart.
func TestThePendingDeadlineFollowsTheConfigBucket(t *testing.T) {
	e := shoptest.NewEnv(t)
	kv := e.FollowConfig()
	s, p := unanswered(e, "LIVE-PENDING", 5, 2000) // nobody answers order.placed
	e.StartOrder(order.Config{PendingTimeout: time.Hour, PendingSweepEvery: 50 * time.Millisecond})
	o, _ := s.checkout(p.ID, 1, visa, "")
	if _, err := kv.PutString(e.Ctx, "inventory.reservation_ttl", "1s"); err != nil {
		t.Fatal(err)
	}
	s.waitFor(o.ID, subjects.OrderStatusCancelled, subjects.ReasonNotConfirmed)
}
