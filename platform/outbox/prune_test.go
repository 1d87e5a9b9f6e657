package outbox_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/nats/natstest"
	"github.com/souk/souk/platform/outbox"
)

// Sent rows past Retain are pruned on their own schedule, also while the relay is busy with
// full batches (it used to prune only when a batch came back short).
func TestPruneRunsWhileBatchesStayFull(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_, db := migrated(t, ctx)
	_, js := natstest.JetStream(t, ctx)
	old := addEvents(t, ctx, db, 50)
	if _, err := db.Exec(ctx, `update users.outbox set sent_at = now() - interval '2 hours' where id = any($1::uuid[])`, old); err != nil {
		t.Fatal(err)
	}
	addEvents(t, ctx, db, 3000) // a backlog: batches of one stay full for seconds

	relay := outbox.NewRelay(schema, db, js, zerolog.Nop())
	relay.Batch, relay.PruneEvery = 1, 100*time.Millisecond
	expect.Start(t, relay.Run)
	expect.Within(t, 30*time.Second, func() error {
		var stale, backlog int
		err := db.QueryRow(ctx, `select count(*) filter (where sent_at < now() - interval '1 hour'),
			(select count(*) from users.outbox_pending) from users.outbox`).Scan(&stale, &backlog)
		switch {
		case err != nil:
			return err
		case stale == 0 && backlog > 0:
			return nil
		case backlog == 0:
			t.Fatalf("the backlog drained before any prune: %d stale rows left", stale)
		}
		return fmt.Errorf("%d stale rows not pruned while %d wait", stale, backlog)
	})
}
