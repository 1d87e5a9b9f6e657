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

// A paced relay sends one batch of a backlog at once and then holds to its rate: a bulk
// change (an import) trickles out instead of taking the cores the shop's requests need.
// The rate here is one event an hour, so the second batch is not due while the test runs.
func TestPacedRelayHoldsABacklogToItsRate(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, db := migrated(t, ctx)
	_, js := natstest.JetStream(t, ctx)
	ids := addEvents(t, ctx, db, 25)

	relay := outbox.NewRelay(schema, db, js, zerolog.Nop())
	relay.Batch, relay.Rate = 10, 1.0/3600
	expect.Start(t, relay.Run)
	expect.Within(t, 30*time.Second, func() error {
		if published := relay.Counts().Published; !outbox.Pacing(relay) || published != 10 {
			return fmt.Errorf("%d events published, pacing %v; want the first batch out and the relay waiting its turn",
				published, outbox.Pacing(relay))
		}
		return nil
	})
	// The relay waits an hour for its next turn: what it sent is the first batch.
	if err := holdsExactly(ctx, js, ids[:10]); err != nil {
		t.Fatal(err)
	}
	// The other 15 wait. (The first 10 count as waiting too while a transaction elsewhere
	// on the server holds the horizon below them: published, not yet passed.)
	var n int
	if err := db.QueryRow(ctx, `select count(*) from users.outbox_pending where id = any($1::uuid[])`, ids[10:]).Scan(&n); err != nil || n != 15 {
		t.Fatalf("%d of the other events unsent (%v), want 15", n, err)
	}
}
