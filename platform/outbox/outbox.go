// Package outbox is the transactional outbox: a service writes its rows and its events in one
// PostgreSQL transaction (Add), and a Relay publishes the events to JetStream with
// Nats-Msg-Id = the event id, marking them sent after the publish ack. A crash between the
// publish and the mark sends again; JetStream's duplicate window drops the copy. No event is
// lost, and none is published for a rolled-back change.
//
// JetStream acknowledges before fsync, so the relay keeps sent rows for Retain (longer than
// the sync interval) and, after an unclean stop, publishes again what it sent within
// Resend: an acknowledged-then-lost message comes back; one that survived is dropped by the
// duplicate window (or by the consumer's processed table).
package outbox

import (
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/souk/souk/platform/pg"
	"github.com/souk/souk/platform/trace"
	"github.com/souk/souk/subjects"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrations are the outbox's migration files, applied by Migrate.
var Migrations fs.FS = migrations

// Migrate creates the outbox tables in schema. Call it from the service's own Migrate.
func Migrate(ctx context.Context, db *pgxpool.Pool, schema string) error {
	return pg.Migrate(ctx, db, schema, migrations)
}

// Event is one message to publish.
type Event struct {
	// ID is the event id (a UUIDv7), used as Nats-Msg-Id; NewID makes one.
	ID uuid.UUID
	// Subject is where it goes: souk.evt.<domain>.<event>.<entity id>.
	Subject string
	// Payload is the event body, JSON-encoded by Add.
	Payload any
}

// NewID returns a new time-ordered event id.
func NewID() uuid.UUID { return uuid.Must(uuid.NewV7()) }

// Add writes events into schema's outbox inside tx. The caller commits tx with its own rows.
func Add(ctx context.Context, tx pgx.Tx, schema string, events ...Event) error {
	if len(events) == 0 {
		return nil
	}
	batch := &pgx.Batch{}
	if err := Queue(ctx, batch, schema, events...); err != nil {
		return err
	}
	if err := tx.SendBatch(ctx, batch).Close(); err != nil {
		return fmt.Errorf("outbox: add: %w", err)
	}
	return nil
}

// Queue queues the insert of events into schema's outbox on b, one statement for them all,
// for a caller that sends its own writes and its events in one round trip. b must run in
// the transaction of those writes: inside a pgx.Tx, or sent alone, when it is one implicit
// transaction. ctx is the unit of work's (see Track).
func Queue(ctx context.Context, b *pgx.Batch, schema string, events ...Event) error {
	if len(events) == 0 {
		return nil
	}
	markWrote(ctx)
	ids := make([]uuid.UUID, len(events))
	subs := make([]string, len(events))
	bodies := make([][]byte, len(events))
	for i, ev := range events {
		body, err := json.Marshal(ev.Payload)
		if err != nil {
			return fmt.Errorf("outbox: encode %s: %w", ev.Subject, err)
		}
		if ev.ID == uuid.Nil {
			ev.ID = NewID()
		}
		ids[i], subs[i], bodies[i] = ev.ID, ev.Subject, body
	}
	table := pgx.Identifier{schema, "outbox"}.Sanitize()
	// The events of one call share the writer's trace context and request id (see the
	// migration outbox_0003_trace.sql).
	b.Queue(`insert into `+table+` (id, subject, payload, traceparent, request_id)
		select id, subject, payload, nullif($4, ''), nullif($5, '') from unnest($1::uuid[], $2::text[], $3::bytea[]) with ordinality as e(id, subject, payload, n) order by n`,
		ids, subs, bodies, trace.Parent(ctx), subjects.MetaFrom(ctx).RequestID)
	return nil
}
