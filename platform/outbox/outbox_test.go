package outbox_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/nats/natstest"
	"github.com/souk/souk/platform/outbox"
	"github.com/souk/souk/subjects"
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
	// Each event names the transaction that wrote it, as its row does.
	written := map[string]string{}
	xids, err := db.Query(ctx, `select id::text, xid::text from users.outbox`)
	if err != nil {
		t.Fatal(err)
	}
	for xids.Next() {
		var id, xid string
		if err := xids.Scan(&id, &xid); err != nil {
			t.Fatal(err)
		}
		written[id] = xid
	}
	if err := xids.Err(); err != nil {
		t.Fatal(err)
	}
	checked := 0
	if err := eachStreamMsg(ctx, js, func(m *jetstream.RawStreamMsg) {
		id, got := m.Header.Get(jetstream.MsgIDHeader), m.Header.Get(subjects.HeaderXactID)
		if want := written[id]; got != want || want == "" {
			t.Errorf("event %s: %s %q, its row's xid %q", id, subjects.HeaderXactID, got, want)
		}
		checked++
	}); err != nil {
		t.Fatal(err)
	}
	if checked != len(ids) {
		t.Fatalf("read %d events of the stream, want %d", checked, len(ids))
	}
}
