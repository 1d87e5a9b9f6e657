package outbox_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/souk/souk/platform/outbox"
)

// A unit of work is marked when it queues events, and only then: the kit kicks the relay
// after the units that wrote some.
func TestTrackMarksTheUnitsThatWriteEvents(t *testing.T) {
	ctx, wrote := outbox.Track(context.Background())
	if err := outbox.Queue(ctx, &pgx.Batch{}, "shop"); err != nil || wrote() {
		t.Fatalf("no events queued: err %v, marked %v", err, wrote())
	}
	if err := outbox.Queue(ctx, &pgx.Batch{}, "shop", outbox.Event{Subject: "souk.evt.order.placed.1", Payload: 1}); err != nil || !wrote() {
		t.Fatalf("an event queued: err %v, marked %v", err, wrote())
	}
	_, wroteOther := outbox.Track(context.Background())
	if wroteOther() {
		t.Fatal("another unit of work is marked")
	}
	// Untracked work (a test, a tool) writes as before.
	if err := outbox.Queue(context.Background(), &pgx.Batch{}, "shop", outbox.Event{Subject: "souk.evt.order.placed.2", Payload: 2}); err != nil {
		t.Fatal(err)
	}
}
