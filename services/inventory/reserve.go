package inventory

import (
	"cmp"
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/souk/souk/platform/metrics"
	"github.com/souk/souk/platform/pg"
	"github.com/souk/souk/subjects"
)

// request is one order's request to hold lines, and its outcome once decided.
type request struct {
	orderID uuid.UUID
	lines   []Line
	// out is the outcome: decided by this transaction, or the order's earlier one.
	out *Reservation
}

// reserve decides reqs in arrival order inside tx and records what it decided: the one
// decision path of the Reserver's batches and of order.placed. An order asked again gets its
// first outcome, rejected included (asked twice in one batch, the first request decides).
//
// A hot SKU's row lock is what every reservation of it waits for, so reserve keeps the round
// trips under it few. The first inserts the new reservations (as held) with their lines and
// then locks the touched stock rows in SKU order; in memory, each new order is held all or
// nothing; the second marks the refused ones rejected, updates each changed SKU once and
// adds the events (one per new reservation, one stock_changed per changed SKU); then the
// commit.
//
// locked, when not nil, is called once the stock rows are locked. With inline, the
// transaction travels with the batches (tx is a connection, see Store.pipelined): BEGIN goes
// out with the first and COMMIT with the last.
func (s *Store) reserve(ctx context.Context, tx pg.Batcher, reqs []*request, locked func(), inline bool) error {
	expires := s.expiresAt()
	byID := make(map[uuid.UUID]*Reservation, len(reqs))
	var fresh []*Reservation
	var lineSets [][]Line
	for _, rq := range reqs {
		if byID[rq.orderID] == nil {
			r := &Reservation{OrderID: rq.orderID, Status: subjects.ReservationHeld, Lines: rq.lines, ExpiresAt: expires}
			byID[rq.orderID] = r
			fresh = append(fresh, r)
			lineSets = append(lineSets, rq.lines)
		}
	}
	var inserted []uuid.UUID
	var ls Levels
	b := &pgx.Batch{}
	if inline {
		b.Queue(`begin`)
	}
	queueInsertReservations(b, fresh, &inserted)
	queueLockLevels(b, touched(lineSets...), &ls)
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return err
	}
	if locked != nil {
		locked()
	}
	if len(inserted) < len(fresh) {
		var err error
		if fresh, err = earlierOutcomes(ctx, tx, fresh, inserted, byID); err != nil {
			return err
		}
	}
	for _, rq := range reqs {
		rq.out = byID[rq.orderID]
	}
	var rejected []*Reservation
	for _, r := range fresh {
		if short := ls.Hold(r.Lines); len(short) > 0 {
			r.Status, r.Reason, r.Short, r.ExpiresAt = subjects.ReservationRejected, ReasonOutOfStock, short, time.Time{}
			rejected = append(rejected, r)
		}
	}
	if len(rejected) > 0 {
		pg.AfterCommit(ctx, func() { s.counts.stockout(len(rejected)) })
	}
	var then []string
	if inline {
		then = []string{`commit`}
	}
	return record(ctx, tx, ls, rejected, fresh, then...)
}

// earlierOutcomes handles the orders of fresh that were recorded before (inserted lacks them:
// a caller asked again): it puts their recorded outcomes into byID and returns the rest of
// fresh, in order.
func earlierOutcomes(ctx context.Context, tx pg.Batcher, fresh []*Reservation, inserted []uuid.UUID, byID map[uuid.UUID]*Reservation) ([]*Reservation, error) {
	isNew := make(map[uuid.UUID]bool, len(inserted))
	for _, id := range inserted {
		isNew[id] = true
	}
	var old []uuid.UUID
	kept := make([]*Reservation, 0, len(inserted))
	for _, r := range fresh {
		if isNew[r.OrderID] {
			kept = append(kept, r)
		} else {
			old = append(old, r.OrderID)
		}
	}
	found := make(map[uuid.UUID]*Reservation, len(old))
	b := &pgx.Batch{}
	queueLoadReservations(b, old, false, found)
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return nil, err
	}
	for _, id := range old {
		if found[id] == nil {
			return nil, fmt.Errorf("reservation %s neither inserted nor found", id)
		}
		byID[id] = found[id]
	}
	return kept, nil
}

// retryable reports whether a transaction failed for a reason a new attempt can clear: a
// deadlock or a serialization failure.
func retryable(err error) bool {
	code := pg.Code(err)
	return code == pg.DeadlockDetected || code == pg.SerializationFailure
}

// Reserver coalesces reservation requests. Callers queue their request (a full queue is
// refused at once with ErrOverloaded) and wait; each committer takes whatever has queued, up
// to its batch limit, decides it in one transaction (Store.reserve) and answers every caller
// after the commit, so an answered hold is durable. One transaction per batch instead of per
// request is what lets a hot SKU take far more reservations than its row takes updates.
type Reserver struct {
	store    *Store
	queue    chan *call
	maxBatch int
	log      zerolog.Logger
	// batches observes the size of every batch, took the time of its transaction.
	batches, took prometheus.Observer
	// turn is held by the committer that is collecting a batch, until the batch's stock rows
	// are locked: then the next committer collects and inserts its batch while this one
	// records and commits, and waits for the rows only for what is left.
	turn    chan struct{}
	stopped chan struct{}
	once    sync.Once
}

// call is a queued request and where its committer reports.
type call struct {
	request
	// ctx is the caller's: the batch is committed with the values of one whose caller still
	// waits (see onBehalf).
	ctx  context.Context
	done chan error // buffered: a committer never waits for a caller that left
}

// Reserver limits.
const (
	// DefaultMaxBatch bounds the requests decided in one transaction unless configured
	// (Config.MaxBatch); the sweeper expires as many holds in one.
	DefaultMaxBatch = 256
	// DefaultMaxQueue bounds the requests waiting for a transaction unless configured
	// (Config.MaxQueue).
	DefaultMaxQueue = 1024
	// DefaultCommitters is how many transactions may be under way at once unless configured
	// (Config.Committers).
	DefaultCommitters = 1
	// commitTimeout bounds one batch's transaction, attempts included.
	commitTimeout = 10 * time.Second
	// commitAttempts is how often a batch is tried when it failed for a retryable reason.
	commitAttempts = 3
)

// NewReserver returns a Reserver over store that commits at most maxBatch requests per
// transaction and queues at most maxQueue. It observes batch sizes and transaction times in
// batches and took, when not nil.
func NewReserver(store *Store, maxBatch, maxQueue int, batches, took prometheus.Observer, log zerolog.Logger) *Reserver {
	unobserved := prometheus.ObserverFunc(func(float64) {})
	batches, took = cmp.Or(batches, prometheus.Observer(unobserved)), cmp.Or(took, prometheus.Observer(unobserved))
	return &Reserver{store: store, queue: make(chan *call, maxQueue), maxBatch: maxBatch, log: log,
		batches: batches, took: took, turn: make(chan struct{}, 1), stopped: make(chan struct{})}
}

// Reserve asks for a hold of lines (as ParseLines returns them) for order id and waits for
// the outcome: held or rejected, or the order's earlier outcome. ErrOverloaded when the
// queue is full, ErrPending when ctx ends first, ErrStopped on shutdown, ErrUnavailable when
// the batch could not be committed; every one of them leaves asking again safe.
func (r *Reserver) Reserve(ctx context.Context, id uuid.UUID, lines []Line) (*Reservation, error) {
	c := &call{request: request{orderID: id, lines: lines}, ctx: ctx, done: make(chan error, 1)}
	select {
	case <-r.stopped:
		return nil, ErrStopped
	default:
	}
	select {
	case r.queue <- c:
	default:
		return nil, ErrOverloaded
	}
	select {
	case err := <-c.done:
		if err != nil {
			return nil, err
		}
		return c.out, nil
	case <-ctx.Done():
		return nil, ErrPending
	case <-r.stopped:
		return nil, ErrStopped
	}
}

// Run commits batches on committers goroutines until ctx ends. A batch in hand is finished;
// what is still queued then is answered ErrStopped.
func (r *Reserver) Run(ctx context.Context, committers int) {
	var wg sync.WaitGroup
	for range max(committers, 1) {
		wg.Go(func() { r.commitLoop(ctx) })
	}
	wg.Wait()
	r.once.Do(func() { close(r.stopped) })
	for {
		select {
		case c := <-r.queue:
			c.done <- ErrStopped
		default:
			return
		}
	}
}

// commitLoop waits for its turn, takes the first request blocking, then whatever else has
// queued, up to maxBatch, and commits them; until ctx ends.
func (r *Reserver) commitLoop(ctx context.Context) {
	batch := make([]*call, 0, r.maxBatch)
	for ctx.Err() == nil { // select picks at random among ready cases: look first
		select {
		case <-ctx.Done():
			return
		case r.turn <- struct{}{}:
		}
		select {
		case <-ctx.Done():
			<-r.turn
			return
		case c := <-r.queue:
			batch = append(batch[:0], c)
		}
	fill:
		for len(batch) < r.maxBatch {
			select {
			case c := <-r.queue:
				batch = append(batch, c)
			default:
				break fill
			}
		}
		err := r.commit(ctx, batch, sync.OnceFunc(func() { <-r.turn }))
		for _, c := range batch {
			c.done <- err
		}
	}
}

// onBehalf is the context whose values a batch is committed with: the first caller's that
// still waits, else the loop's. The batch is that caller's unit of work, so the service kit,
// which tracks each request (outbox.Track), sees the events the batch wrote and wakes the
// outbox relay once that request is answered, right after the commit: a reservation's event
// goes out at once, not at the relay's next poll. One wake-up per batch is all it needs.
func onBehalf(loop context.Context, batch []*call) context.Context {
	for _, c := range batch {
		if c.ctx.Err() == nil {
			return c.ctx
		}
	}
	return loop
}

// commit decides batch in one transaction, again on a retryable failure, and calls pass (it
// must be idempotent) once the batch's stock rows are locked, or when it fails before. A
// batch that cannot be committed is logged once here and answered ErrUnavailable.
func (r *Reserver) commit(ctx context.Context, batch []*call, pass func()) error {
	defer pass()
	r.batches.Observe(float64(len(batch)))
	defer func(start time.Time) { r.took.Observe(time.Since(start).Seconds()) }(time.Now())
	reqs := make([]*request, len(batch))
	for i, c := range batch {
		reqs[i] = &c.request
	}
	// Not ctx's end: a batch in hand is finished on shutdown, its callers are waiting.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(onBehalf(ctx, batch)), commitTimeout)
	defer cancel()
	var err error
	var done pg.Commit // what the batch counts, once it committed
	for range commitAttempts {
		done.Reset()
		cctx := pg.WithCommit(ctx, &done)
		err = r.store.pipelined(cctx, func(conn *pgx.Conn) error { return r.store.reserve(cctx, conn, reqs, pass, true) })
		if err == nil || !retryable(err) {
			break
		}
	}
	if err == nil {
		done.Run()
	}
	if err != nil {
		r.log.Error().Err(err).Int("requests", len(batch)).Msg("inventory: reservation batch failed")
		return ErrUnavailable
	}
	return nil
}

// reserverMetrics are the histograms of the Reserver's batch sizes and transaction times,
// registered on r.
func reserverMetrics(r prometheus.Registerer) (batches, took prometheus.Observer) {
	batches = metrics.Register(r, prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "souk_inventory_reserve_batch_size",
		Help:    "Reservation requests decided per transaction.",
		Buckets: prometheus.ExponentialBuckets(1, 2, 9), // 1 … 256
	}))
	took = metrics.Register(r, prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "souk_inventory_reserve_batch_seconds",
		Help:    "Time of one reservation batch's transaction, attempts included.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 12), // 0.5 ms … 1 s
	}))
	return batches, took
}
