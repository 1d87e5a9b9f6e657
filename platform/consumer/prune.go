package consumer

import (
	"context"
	"math/rand/v2"
	"time"
)

const (
	// retention is how long a processed row is kept: 30 days, far longer than JetStream
	// goes on redelivering a message (MaxDeliver × Backoff, minutes) and than the outbox's
	// resend window after an unclean stop (minutes), so no redelivered or resent copy of an
	// event arrives after its row is gone. It also matches the 30-day MaxAge of the event
	// streams. What it does not cover is replaying a stream from its start (a consumer
	// deleted and recreated) where the stream keeps messages longer: CATALOG is compacted
	// with no age limit, so its handlers must also be idempotent by content (apply the
	// latest state), as a fresh consumer of it relies on anyway.
	retention = 30 * 24 * time.Hour
	// pruneChunk and pruneChunks bound one prune: a short transaction per chunk, and at
	// most this many rows an hour (far above the checkout target's rate).
	pruneChunk  = 10_000
	pruneChunks = 500
)

// pruneLoop prunes the processed rows of this consumer about once an hour, the first time a
// few minutes after start; the jitter spreads the instances apart.
func (c *Consumer) pruneLoop(ctx context.Context) {
	wait := time.Minute + rand.N(4*time.Minute)
	for sleep(ctx, wait) {
		c.prune(ctx)
		wait = 55*time.Minute + rand.N(10*time.Minute)
	}
}

// prune deletes this consumer's rows older than retention, a chunk at a time through the
// (consumer, processed_at) index, so no statement is long and no lock is held for long.
func (c *Consumer) prune(ctx context.Context) {
	q := `delete from ` + c.table() + ` where consumer = $1 and event_id in (
		select event_id from ` + c.table() + ` where consumer = $1 and processed_at < now() - make_interval(secs => $2)
		limit $3)`
	for range pruneChunks {
		tctx, cancel := context.WithTimeout(ctx, opTimeout)
		tag, err := c.DB.Exec(tctx, q, c.Name, retention.Seconds(), pruneChunk)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				c.Log.Warn().Err(err).Msg("consumer: prune processed rows")
			}
			return
		}
		if tag.RowsAffected() < pruneChunk {
			return
		}
	}
}
