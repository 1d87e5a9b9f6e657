package inventory

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/rs/zerolog"

	"github.com/souk/souk/subjects"
)

const (
	// DefaultSweepEvery is how often expired holds are looked for unless configured
	// (Config.SweepEvery).
	DefaultSweepEvery = 5 * time.Second
	// sweepTimeout bounds one expiry transaction.
	sweepTimeout = 30 * time.Second
)

// ExpireDue expires up to limit held reservations whose deadline has passed: their units go
// back to available, each gets inventory.expired (the order service cancels the order with
// payment_timeout) and each changed SKU one stock_changed. Reservations another transaction
// holds (another instance's sweep, a payment being committed) are skipped, so several
// instances sweep side by side. It returns how many it expired.
func (s *Store) ExpireDue(ctx context.Context, limit int) (int, error) {
	var n int
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `select order_id from inventory.reservations
			where status = 'held' and expires_at <= now()
			order by expires_at limit $1 for update skip locked`, limit)
		if err != nil {
			return err
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
		if err != nil || len(ids) == 0 {
			return err
		}
		found := make(map[uuid.UUID]*Reservation, len(ids))
		b := &pgx.Batch{}
		queueLoadReservations(b, ids, false, found) // locked above
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		rs := make([]*Reservation, len(ids))
		lineSets := make([][]Line, len(ids))
		for i, id := range ids {
			rs[i] = found[id]
			lineSets[i] = rs[i].Lines
		}
		ls, err := lockLevels(ctx, tx, touched(lineSets...))
		if err != nil {
			return err
		}
		for _, r := range rs {
			ls.Release(r.Lines)
			r.Status = subjects.ReservationExpired
		}
		n = len(rs)
		return record(ctx, tx, ls, rs, rs)
	})
	return n, err
}

// expiry is the sweeper: a kit loop whose round expires due holds, limit at a time.
type expiry struct {
	store *Store
	limit int
	log   zerolog.Logger
}

// round expires one batch of due holds, and reports more when the batch was full. A failed
// batch is logged and tried again at the next round (each is bounded by sweepTimeout).
func (x expiry) round(ctx context.Context) (more bool) {
	sctx, cancel := context.WithTimeout(ctx, sweepTimeout)
	n, err := x.store.ExpireDue(sctx, x.limit)
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			x.log.Warn().Err(err).Msg("inventory: expiring reservations failed; trying again next tick")
		}
		return false
	}
	return n >= x.limit
}
