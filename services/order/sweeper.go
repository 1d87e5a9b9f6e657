package order

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/souk/souk/platform/liveconfig"
	"github.com/souk/souk/platform/metrics"
	"github.com/souk/souk/platform/pg"
	"github.com/souk/souk/subjects"
)

// Defaults of the pending-order sweeper (Config.PendingTimeout, Config.PendingSweepEvery).
const (
	// DefaultPendingTimeout is the inventory's default hold (15 min): an order the inventory
	// has not answered in the time a hold would have lasted is not worth keeping open, and
	// its coupon and any early payment go back to the customer.
	DefaultPendingTimeout = 15 * time.Minute
	// DefaultPendingSweepEvery is how often pending orders past their deadline are looked for.
	DefaultPendingSweepEvery = 10 * time.Second
)

const (
	// pendingBatch bounds the orders cancelled in one transaction, pendingBatches the
	// transactions of one tick: up to 5 000 orders a tick (about 6 s of work here, 1.15 ms an
	// order), more than a busy shop places in a tick while its inventory is down.
	pendingBatch   = 100
	pendingBatches = 50
	// pendingSweepTimeout bounds one sweep's transaction.
	pendingSweepTimeout = 30 * time.Second
)

// sweeper cancels orders still pending past their deadline: their order.placed never
// reached the inventory (lost, or the inventory down that long), so no verdict will come.
type sweeper struct {
	store *Store
	// timeout follows the live key inventory.reservation_ttl, read at each round.
	timeout *liveconfig.Value[time.Duration]
	every   time.Duration
	log     zerolog.Logger
	// cancelled counts the orders it cancelled: each one means an order.placed the inventory
	// did not answer in time, worth an operator's look when it is not zero.
	cancelled prometheus.Counter
}

// newSweeper returns the sweeper of cfg's deadline over store, its counter registered on reg
// (nowhere when nil).
func newSweeper(store *Store, cfg Config, live *liveconfig.Config, log zerolog.Logger, reg prometheus.Registerer) (*sweeper, error) {
	if cfg.PendingTimeout < 0 || cfg.PendingSweepEvery < 0 {
		return nil, errors.New("order: negative PendingTimeout or PendingSweepEvery")
	}
	return &sweeper{store: store, log: log,
		timeout: liveconfig.ReservationTTL.Bind(live, cmp.Or(cfg.PendingTimeout, DefaultPendingTimeout)), every: cmp.Or(cfg.PendingSweepEvery, DefaultPendingSweepEvery),
		cancelled: metrics.Register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "souk_order_pending_cancelled_total",
			Help: "Orders cancelled not_confirmed because the inventory had not answered their order.placed by the deadline.",
		}))}, nil
}

// round sweeps once, in at most pendingBatches batches; a failed sweep is logged and tried
// again at the next (each is bounded by pendingSweepTimeout). The kit runs it every w.every.
func (w *sweeper) round(ctx context.Context) (more bool) {
	for range pendingBatches {
		sctx, cancel := context.WithTimeout(ctx, pendingSweepTimeout)
		timeout := w.timeout.Load()
		n, err := w.store.CancelPending(sctx, timeout, pendingBatch)
		cancel()
		if n > 0 {
			w.cancelled.Add(float64(n))
			w.log.Warn().Int("orders", n).Dur("deadline", timeout).
				Msg("order: cancelled orders still pending past their deadline (the inventory never answered)")
		}
		if err != nil && ctx.Err() == nil {
			w.log.Warn().Err(err).Msg("order: cancelling pending orders failed; trying again next tick")
		}
		if err != nil || n < pendingBatch || ctx.Err() != nil {
			return false
		}
	}
	return false
}

// CancelPending cancels up to limit orders still pending longer than timeout after they
// were placed, oldest first, in one transaction: each is cancelled not_confirmed with its
// order.cancelled event, so the compensations follow (the promotion service returns the
// coupon, the payment service refunds a payment made early, the inventory releases a hold
// it made meanwhile and holds nothing for an order.placed that comes later). Orders another
// transaction holds (another instance's sweep, an event being applied) are skipped, so
// several instances sweep side by side; an order that moved on meanwhile changes nothing.
// It returns how many it cancelled.
func (s *Store) CancelPending(ctx context.Context, timeout time.Duration, limit int) (int, error) {
	var n int
	err := pg.InTx(ctx, func(ctx context.Context) error { return s.cancelPending(ctx, timeout, limit, &n) })
	if err != nil {
		return 0, err
	}
	return n, nil
}

// cancelPending is CancelPending's transaction; its deferred counts run after its commit.
func (s *Store) cancelPending(ctx context.Context, timeout time.Duration, limit int, n *int) error {
	return pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		// Measured on PostgreSQL's clock, as created_at is; orders_pending serves the scan.
		rows, err := tx.Query(ctx, `select id from orders.orders
			where status = 'pending' and created_at <= now() - make_interval(secs => $1)
			order by created_at limit $2 for update skip locked`, timeout.Seconds(), limit)
		if err != nil {
			return err
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
		if err != nil {
			return err
		}
		for _, id := range ids {
			if _, err := s.Update(ctx, tx, id, cancelIfOpen(subjects.ReasonNotConfirmed, subjects.OrderStatusPending)); err != nil {
				return fmt.Errorf("cancel pending order %s: %w", id, err)
			}
		}
		*n = len(ids)
		return nil
	})
}
