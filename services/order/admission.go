package order

import (
	"context"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/souk/souk/platform/liveconfig"
	"github.com/souk/souk/platform/metrics"
	"github.com/souk/souk/platform/pg"
	"github.com/souk/souk/subjects"
)

// admission holds placements to the checkouts the saga can finish. A placement's reply comes
// in tens of milliseconds, but its saga (reserve, charge, paid) runs afterwards, on consumers
// that read their streams as fast as the machine lets them: admitting placements faster than
// the saga finishes them grows the streams' backlog and every checkout's time to paid without
// bound, while the POST itself still looks fast. So the bound is on the saga's work in
// progress: the orders placed and not yet decided (pending or reserved). By Little's law
// that is throughput × time to paid, so a bound of N holds the time to paid near N / the
// rate the saga sustains, whatever the arrival rate; what comes over it is refused at once
// with 503 and Retry-After, before any database work, so a refusal costs a NATS round trip.
//
// The count is the database's, taken every admissionEvery (every instance sees every
// instance's orders), plus what this instance has admitted that the count cannot hold: its
// placements still running, and the orders it stored that the count's snapshot does not
// see. Which those are is exact, not a guess from clocks: the count reads its statement's
// MVCC snapshot, and every order stored (and every decision) is known by its transaction's
// id, so an order is in the count exactly when the snapshot holds its transaction. Between
// two counts the bound may be passed by what the other instances admit meanwhile, a few
// orders. Only orders placed within undecidedWindow count: an order waiting minutes for its
// customer (3-D Secure) or a provider that is down is not load, and must not close the shop.
type admission struct {
	store *Store
	// max follows the live key order.max_checkouts; 0 or less admits everything.
	max *liveconfig.Value[int]
	log zerolog.Logger

	// mu guards counted, running, since, decisions and snapshot; a placement takes it twice,
	// for a few instructions.
	mu sync.Mutex
	// counted is the database's last count of undecided orders.
	counted int64
	// running are the admitted placements not yet answered.
	running int64
	// since are the transactions of this instance's orders stored that the last count's
	// snapshot does not hold: certainly not in counted. Clocks guessed it both ways before:
	// an order counted from when the count's query was sent, or came back, was counted
	// twice once its snapshot came hundreds of milliseconds late under load (64 closed-loop
	// customers filled a bound of 96); one counted from its creation stamp against the
	// statement's start was missed when stamped before the count began and committed after
	// (two admitted placements under a bound of 2 let a third in, on a busy machine).
	since []uint64
	// snapshot is the last count's MVCC snapshot.
	snapshot pg.Snapshot
	// decisions are the transactions of this instance's decisions (an order paid or
	// cancelled) that the last count's snapshot does not hold: orders the count may hold as
	// undecided that are not any more. Without them the estimate ran ahead of the truth by
	// the orders decided since the count, the rate times the count's age: at 244
	// checkouts/s, 64 customers (never more than 64 undecided) met refusals under a bound of
	// 96.
	decisions []uint64
	// failing is set while counting fails, so a database down logs once, not ten times a
	// second.
	failing atomic.Bool
	refused prometheus.Counter
	// refusal is the answer over the bound, built once.
	refusal error
}

const (
	// admissionEvery is how often the undecided orders are counted: often enough that the
	// bound follows the saga within a tenth of a second, one indexed count each time.
	admissionEvery = 100 * time.Millisecond
	// undecidedWindow is how far back an undecided order counts as load.
	undecidedWindow = time.Minute
	// countTimeout bounds one count.
	countTimeout = time.Second
)

// newAdmission returns the admission of placements over store, bound to max (the live key's
// default), its metrics registered on reg (nowhere when nil).
func newAdmission(store *Store, max int, live *liveconfig.Config, log zerolog.Logger, reg prometheus.Registerer) *admission {
	a := &admission{store: store, max: liveconfig.MaxCheckouts.Bind(live, max), log: log,
		refused: metrics.Register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "souk_order_placements_refused_total",
			Help: "Placements refused 503 because the checkouts in progress reached order.max_checkouts.",
		})),
		refusal: &subjects.Error{Code: http.StatusServiceUnavailable, Slug: "checkouts_full",
			Message: "the shop is finishing the checkouts in progress; retry after the time in Retry-After", RetryAfter: 1}}
	metrics.Register(reg, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "souk_order_checkouts_in_progress",
		Help: "Orders placed in the last minute and not yet paid or cancelled, as this instance last counted them (with its admissions since).",
	}, func() float64 {
		a.mu.Lock()
		defer a.mu.Unlock()
		return float64(a.undecided())
	}))
	return a
}

// guard refuses place's calls over the bound, before place does anything: nothing of a
// refused placement is stored, held or claimed, and a retry with the same Idempotency-Key is
// a first attempt.
func (a *admission) guard(place func(context.Context, subjects.OrderPlaceRequest) (subjects.Order, error)) func(context.Context, subjects.OrderPlaceRequest) (subjects.Order, error) {
	return func(ctx context.Context, req subjects.OrderPlaceRequest) (subjects.Order, error) {
		if err := a.admit(); err != nil {
			return subjects.Order{}, err
		}
		defer a.done()
		return place(ctx, req)
	}
}

// undecided is the estimate of the undecided orders; the caller holds mu. The decisions
// since the count come off what the count held, never off what it could not hold.
func (a *admission) undecided() int64 {
	return max(a.counted-int64(len(a.decisions)), 0) + a.running + int64(len(a.since))
}

// decided records that this instance committed an order's decision in transaction xid
// (Store.decided).
func (a *admission) decided(xid uint64) { a.keep(&a.decisions, xid) }

// stored records that this instance committed an order in transaction xid (Store.placed),
// before its placement is done: it counts from running into since without a gap.
func (a *admission) stored(xid uint64) { a.keep(&a.since, xid) }

// keep adds transaction xid to list (since or decisions) unless the last count holds it.
func (a *admission) keep(list *[]uint64, xid uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(*list) < maxSince && !a.snapshot.Holds(xid) {
		*list = append(*list, xid)
	}
}

// admit takes a place in the bound or returns the 503; the caller calls done after a nil.
func (a *admission) admit() error {
	max := int64(a.max.Load())
	a.mu.Lock()
	defer a.mu.Unlock()
	if max > 0 && a.undecided() >= max {
		a.refused.Inc()
		return a.refusal
	}
	a.running++
	return nil
}

// done gives back the place admit took. The order the placement stored, if any, is in since
// already (stored); a replay of an order stored earlier stores nothing.
func (a *admission) done() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.running--
}

// maxSince bounds since while counts fail (placements fail then too, as a rule).
const maxSince = 100_000

// round counts the undecided orders; the kit runs it every admissionEvery. A failed count
// keeps the last one: the placements need the database too, and fail on their own.
func (a *admission) round(ctx context.Context) (more bool) {
	if a.max.Load() <= 0 {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, countTimeout)
	defer cancel()
	n, snapshot, err := a.store.CountUndecided(ctx, undecidedWindow)
	if err != nil {
		if !a.failing.Swap(true) && ctx.Err() == nil {
			a.log.Warn().Err(err).Msg("order: counting the checkouts in progress failed; admitting by the last count")
		}
		return false
	}
	a.failing.Store(false)
	a.mu.Lock()
	a.counted, a.snapshot = int64(n), snapshot
	a.since = slices.DeleteFunc(a.since, snapshot.Holds)
	a.decisions = slices.DeleteFunc(a.decisions, snapshot.Holds)
	a.mu.Unlock()
	return false
}

// CountUndecided counts the orders placed within window that are neither paid nor cancelled
// yet (pending or reserved), and returns the snapshot it counted in: one range of the index
// orders_by_status per status.
func (s *Store) CountUndecided(ctx context.Context, window time.Duration) (n int, snapshot pg.Snapshot, err error) {
	var text string
	err = s.db.QueryRow(ctx, `select count(*), pg_current_snapshot()::text from orders.orders
		where status in ('pending', 'reserved') and created_at > now() - make_interval(secs => $1)`, window.Seconds()).Scan(&n, &text)
	if err != nil {
		return 0, pg.Snapshot{}, err
	}
	snapshot, err = pg.ParseSnapshot(text)
	return n, snapshot, err
}
