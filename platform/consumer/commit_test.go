package consumer_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/souk/souk/platform/consumer"
	"github.com/souk/souk/platform/pg"
)

// TestDeferredWorkRunsOncePerAppliedEvent: what a handler defers with pg.AfterCommit (a
// business counter) runs once per event whose writes committed: not for a delivery whose
// handler failed (its writes rolled back to its savepoint, the rest of its batch run again),
// not for a redelivery the processed table recognises.
func TestDeferredWorkRunsOncePerAppliedEvent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var mu sync.Mutex
	counted := map[string]int{}
	failures := 0
	c := e.consumer("deferred", func(ctx context.Context, tx pgx.Tx, m consumer.Msg) error {
		if err := record(ctx, tx, m); err != nil {
			return err
		}
		if !pg.AfterCommit(ctx, func() { mu.Lock(); counted[m.EventID]++; mu.Unlock() }) {
			return errors.New("no Commit in a consumer's handler context")
		}
		mu.Lock()
		defer mu.Unlock()
		if m.EventID == "flaky" && failures < 2 {
			failures++
			return errors.New("fails twice after deferring its count")
		}
		return nil
	})
	c.Backoff = func(int) time.Duration { return 10 * time.Millisecond }
	ids := append(eventIDs("deferred", 10), "flaky")
	e.publish(ids...)
	stop := e.run(c)
	e.settled("deferred", uint64(len(ids)))
	stop()

	// Every event delivered again: the processed table recognises each one.
	if err := e.js.DeleteConsumer(e.ctx, "ORDERS", "deferred"); err != nil {
		t.Fatal(err)
	}
	stop = e.run(c)
	e.settled("deferred", uint64(len(ids)))
	stop()

	mu.Lock()
	defer mu.Unlock()
	for _, id := range ids {
		if counted[id] != 1 {
			t.Errorf("event %s counted %d times, want 1 (counts: %v)", id, counted[id], counted)
		}
	}
	if len(counted) != len(ids) {
		t.Errorf("%d events counted, want %d", len(counted), len(ids))
	}
}
