package outbox_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/rs/zerolog"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/nats/natstest"
	"github.com/souk/souk/platform/outbox"
)

func TestRelayPublishesCommittedEventsOnce(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, db := migrated(t, ctx)
	_, js := natstest.JetStream(t, ctx)
	ids := addEvents(t, ctx, db, 300) // more than one batch
	// Rolled back: never published.
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		id := outbox.NewID()
		if err := outbox.Add(ctx, tx, schema, outbox.Event{ID: id, Subject: "souk.evt.user.registered." + id.String(), Payload: created{ID: id.String()}}); err != nil {
			return err
		}
		return context.Canceled
	})
	if err != context.Canceled {
		t.Fatal(err)
	}

	expect.Start(t, outbox.NewRelay(schema, db, js, zerolog.Nop()).Run)
	expect.Within(t, 20*time.Second, func() error { return holdsExactly(ctx, js, ids) })
	expect.Within(t, 20*time.Second, func() error { return allSent(ctx, db) })
	var rows int
	if err := db.QueryRow(ctx, `select count(*) from users.outbox`).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != len(ids) {
		t.Fatalf("outbox holds %d rows, want %d (the rolled-back one must not exist)", rows, len(ids))
	}
}
