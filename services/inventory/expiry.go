package inventory

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/rs/zerolog"

	"github.com/souk/souk/subjects"
)

// sweepTimeout bounds one expiry transaction.
const sweepTimeout = 30 * time.Second

// ExpireDue expires up to limit held reservations whose deadline has passed: their units go
// back to available, each gets inventory.expired (the order service cancels the order with
// payment_timeout) and each changed SKU one stock_changed. Reservations another transaction
// holds (another instance's sweep, a payment being committed) are skipped, so several
// instances sweep side by side. It returns how many it expired.
func (s *Store) ExpireDue(ctx context.Context, limit int) (int, error) {
	var n int
	err := s.inTx(ctx, func(tx pgx.Tx) error {
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

// sweep expires due reservations every tick, in batches of limit, until ctx ends.
func (s *Store) sweep(ctx context.Context, every time.Duration, limit int, log zerolog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for ctx.Err() == nil {
			sctx, cancel := context.WithTimeout(ctx, sweepTimeout)
			n, err := s.ExpireDue(sctx, limit)
			cancel()
			if err != nil && ctx.Err() == nil {
				log.Warn().Err(err).Msg("inventory: expiring reservations failed; trying again next tick")
			}
			if err != nil || n < limit {
				break
			}
		}
	}
}
