package outbox

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// Relay publishes one schema's outbox. Several relays (instances) may run on one schema: rows
// are claimed with FOR UPDATE SKIP LOCKED, never by a serial id, so none is skipped or sent
// by two relays at once.
type Relay struct {
	// Schema is the service schema whose outbox this relay drains.
	Schema string
	DB     *pgxpool.Pool
	JS     jetstream.JetStream
	Log    zerolog.Logger
	// Batch is the most rows claimed and published at once (async, then all acks awaited);
	// 256 when zero.
	Batch int
	// Poll is the wait between scans when idle; Kick wakes the relay earlier. 200 ms when zero.
	Poll time.Duration
	// Retain is how long sent rows are kept; 10 min when zero. It must exceed Resend.
	Retain time.Duration
	// Resend is the window republished after an unclean stop; 3 min when zero (JetStream
	// syncs every 2 min by default).
	Resend time.Duration

	kick chan struct{}
}

// Kick wakes the relay now (call it after committing a transaction with events). Safe from
// any goroutine, never blocks.
func (r *Relay) Kick() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

func (r *Relay) defaults() {
	if r.Batch <= 0 {
		r.Batch = 256
	}
	if r.Poll <= 0 {
		r.Poll = 200 * time.Millisecond
	}
	if r.Retain <= 0 {
		r.Retain = 10 * time.Minute
	}
	if r.Resend <= 0 {
		r.Resend = 3 * time.Minute
	}
	if r.kick == nil {
		r.kick = make(chan struct{}, 1)
	}
}

// NewRelay returns a relay for schema with the defaults.
func NewRelay(schema string, db *pgxpool.Pool, js jetstream.JetStream, log zerolog.Logger) *Relay {
	r := &Relay{Schema: schema, DB: db, JS: js, Log: log.With().Str("outbox", schema).Logger()}
	r.defaults()
	return r
}

// Run relays until ctx ends, then marks a clean stop.
func (r *Relay) Run(ctx context.Context) error {
	r.defaults()
	if err := r.recover(ctx); err != nil {
		return err
	}
	prune := time.NewTicker(time.Minute)
	defer prune.Stop()
	for {
		n, err := r.publishBatch(ctx)
		if err != nil && ctx.Err() == nil {
			r.Log.Warn().Err(err).Msg("outbox relay: publish failed; retrying")
		}
		if n == r.Batch && err == nil {
			continue // more waiting
		}
		select {
		case <-ctx.Done():
			return r.markClean(true)
		case <-r.kick:
		case <-prune.C:
			r.prune(ctx)
		case <-time.After(r.Poll):
		}
	}
}

// recover republishes the recent window when the last stop was not clean, and marks the
// state unclean until this relay stops cleanly.
func (r *Relay) recover(ctx context.Context) error {
	var clean bool
	q := `update ` + r.table("outbox_state") + ` s set clean_stop = false from ` + r.table("outbox_state") + ` old
		where s.id and old.id returning old.clean_stop`
	if err := r.DB.QueryRow(ctx, q).Scan(&clean); err != nil {
		return fmt.Errorf("outbox %s: read state: %w", r.Schema, err)
	}
	if clean {
		return nil
	}
	tag, err := r.DB.Exec(ctx, `update `+r.table("outbox")+` set sent_at = null where sent_at > now() - make_interval(secs => $1)`, r.Resend.Seconds())
	if err != nil {
		return fmt.Errorf("outbox %s: resend window: %w", r.Schema, err)
	}
	r.Log.Warn().Int64("events", tag.RowsAffected()).Msg("outbox: last stop was not clean; publishing the recent window again")
	return nil
}

func (r *Relay) markClean(clean bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := r.DB.Exec(ctx, `update `+r.table("outbox_state")+` set clean_stop = $1`, clean)
	return err
}

func (r *Relay) table(name string) string { return pgx.Identifier{r.Schema, name}.Sanitize() }

// publishBatch claims up to Batch unsent rows, publishes them all asynchronously, waits for
// every ack and marks the acknowledged ones sent, in the claiming transaction.
func (r *Relay) publishBatch(ctx context.Context) (int, error) {
	tx, err := r.DB.Begin(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback(context.Background())
	rows, err := tx.Query(ctx, `select id, subject, payload from `+r.table("outbox")+`
		where sent_at is null order by created_at limit $1 for update skip locked`, r.Batch)
	if err != nil {
		return 0, err
	}
	type pending struct {
		id  uuid.UUID
		ack jetstream.PubAckFuture
	}
	var sent []pending
	var pubErr error
	for rows.Next() {
		var id uuid.UUID
		msg := nats.NewMsg("")
		if err := rows.Scan(&id, &msg.Subject, &msg.Data); err != nil {
			rows.Close()
			return 0, err
		}
		fut, err := r.JS.PublishMsgAsync(msg, jetstream.WithMsgID(id.String()))
		if err != nil {
			pubErr = err
			break
		}
		sent = append(sent, pending{id, fut})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	acked := make([]uuid.UUID, 0, len(sent))
	timeout := time.After(10 * time.Second)
	for _, p := range sent {
		select {
		case <-p.ack.Ok():
			acked = append(acked, p.id)
		case err := <-p.ack.Err():
			pubErr = errors.Join(pubErr, err)
		case <-timeout:
			pubErr = errors.Join(pubErr, errors.New("publish ack timeout"))
		}
	}
	if len(acked) > 0 {
		if _, err := tx.Exec(ctx, `update `+r.table("outbox")+` set sent_at = now() where id = any($1)`, acked); err != nil {
			return 0, err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, err
	}
	return len(acked), pubErr
}

func (r *Relay) prune(ctx context.Context) {
	_, err := r.DB.Exec(ctx, `delete from `+r.table("outbox")+` where sent_at < now() - make_interval(secs => $1)`, r.Retain.Seconds())
	if err != nil && ctx.Err() == nil {
		r.Log.Warn().Err(err).Msg("outbox: prune")
	}
}
