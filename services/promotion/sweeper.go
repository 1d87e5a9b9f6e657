package promotion

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/souk/souk/platform/metrics"
)

// Sweeper bounds: a round returns at most sweepBatch × sweepBatches holds, so one round
// cannot hold the database for long after an outage of the order service.
const (
	sweepBatch   = 100
	sweepBatches = 10
	sweepTimeout = 10 * time.Second
)

// sweeper returns holds that stayed held (no order.placed) longer than ttl.
type sweeper struct {
	store   *Store
	ttl     time.Duration
	log     zerolog.Logger
	expired prometheus.Counter
}

// newSweeper returns the sweeper of cfg's hold TTL over store, its counter registered on reg.
func newSweeper(store *Store, cfg Config, log zerolog.Logger, reg prometheus.Registerer) *sweeper {
	return &sweeper{store: store, ttl: cfg.HoldTTL, log: log,
		expired: metrics.Register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "souk_promotion_holds_expired_total",
			Help: "Coupon holds returned because no order.placed confirmed them within the hold TTL.",
		}))}
}

// round returns expired holds in bounded batches until none is left or the bound is hit; a
// failed sweep is logged and tried again at the next round. The kit runs it at start (holds
// may have expired while no instance ran) and then every Config.SweepEvery.
func (s *sweeper) round(ctx context.Context) (more bool) {
	for range sweepBatches {
		now := time.Now().UTC()
		sctx, cancel := context.WithTimeout(ctx, sweepTimeout)
		n, err := s.store.Sweep(sctx, now.Add(-s.ttl), sweepBatch, now)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				s.log.Warn().Err(err).Msg("promotion: sweeping expired holds failed; next round retries")
			}
			return false
		}
		s.expired.Add(float64(n))
		if n < sweepBatch {
			return false
		}
	}
	return false
}
