package outbox

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/souk/souk/platform/background"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"golang.org/x/time/rate"

	"github.com/souk/souk/subjects"
)

// Relay publishes one schema's outbox. Several relays (instances) may run on one schema: rows
// are claimed with FOR UPDATE SKIP LOCKED, never by a serial id, so none is skipped or sent
// by two relays at once.
//
// Every wait is bounded: a batch's acks by AckWait (an ack not back by then leaves its row
// unsent, and the duplicate window drops the copy that did land when it is sent again), the
// claiming transaction by statement timeouts and, should the process stall, by PostgreSQL's
// idle_in_transaction_session_timeout. A publish refused (a full stream, no stream, no
// server) leaves the rows unsent and is retried with back-off: PostgreSQL holds the events
// until JetStream takes them.
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
	// Retain is how long sent rows are kept; 10 min when zero. Rows inside the resend window
	// of a lease not yet adopted are kept longer, whatever Retain says.
	Retain time.Duration
	// Resend is the window republished after an unclean stop or a NATS server that lost
	// data, before the instance's last sign of a healthy server; 3 min when zero (JetStream
	// syncs every 2 min by default).
	Resend time.Duration
	// AckWait bounds the wait for a batch's publish acks; 5 s when zero.
	AckWait time.Duration
	// Lease is how long an instance may go without renewing its lease before another
	// adopts it as dead and resends its window; 15 s when zero. Renewed every Lease/5.
	Lease time.Duration
	// PruneEvery is how often sent rows past Retain are deleted; 1 min when zero.
	PruneEvery time.Duration
	// MaxBackoff caps the wait between tries while publishing fails; 10 s when zero.
	MaxBackoff time.Duration
	// Rate, when above zero, is the most events a second the relay publishes once it has a
	// backlog (one Batch goes at once, then it paces): a bulk change (an import, a start
	// that relays a large catalog) then trickles out instead of taking the cores that the
	// shop's requests need. A lone event after a quiet spell is not held. Zero: as fast as
	// JetStream takes them.
	Rate float64
	// Metrics, when set, receives the relay's series (see instruments): whether it is
	// failing, its failed batches, its resends, the age of its oldest unsent event and how
	// many wait.
	Metrics prometheus.Registerer
	// Instance names this relay's lease; a random id per Run when empty. A stable name (the
	// pod's) lets a restarted instance adopt its own dead lease at once.
	Instance string

	kick *background.Kicker
	// pace holds the relay to Rate; nil when Rate is zero. Set once by Run.
	pace atomic.Pointer[rate.Limiter]
	// pub is this relay's own JetStream context, with its own async publish timeout, so
	// that a lost ack frees its future whatever the caller's context says.
	pub  jetstream.JetStream
	id   string
	inst *instruments

	// published and duplicates count this relay's acknowledged publishes (Counts).
	published, duplicates atomic.Uint64
	// backlog is the unsent events the lease upkeep last counted (Backlog).
	backlog atomic.Uint64

	mu    sync.Mutex
	watch watch
}

// Counts returns what this relay published (acknowledged by JetStream) since it was made,
// and how many of those the stream already held. Each instance counts its own share; the
// service kit reports them in the instance's $SRV.STATS.
func (r *Relay) Counts() (published, duplicates uint64) {
	return r.published.Load(), r.duplicates.Load()
}

// Backlog returns how many events of the outbox were unsent when the relay last counted
// them (every Lease/5, up to 100000): the same figure as souk_outbox_backlog.
func (r *Relay) Backlog() uint64 { return r.backlog.Load() }

// Kick wakes the relay now (call it after committing a transaction with events). Safe from
// any goroutine, never blocks.
func (r *Relay) Kick() { r.kick.Kick() }

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
	if r.AckWait <= 0 {
		r.AckWait = 5 * time.Second
	}
	if r.Lease <= 0 {
		r.Lease = 15 * time.Second
	}
	if r.PruneEvery <= 0 {
		r.PruneEvery = time.Minute
	}
	if r.MaxBackoff <= 0 {
		r.MaxBackoff = 10 * time.Second
	}
	if r.kick == nil {
		r.kick = background.NewKicker()
	}
	if r.Rate > 0 && r.pace.Load() == nil {
		// Each batch pays after it is out, so the bucket starts empty: one batch of a
		// backlog goes at once, the next when the first is paid for. A lone event after a
		// quiet spell finds the bucket full again and waits for nothing.
		pace := rate.NewLimiter(rate.Limit(r.Rate), r.Batch)
		pace.AllowN(time.Now(), r.Batch)
		r.pace.Store(pace)
	}
}

// NewRelay returns a relay for schema with the defaults.
func NewRelay(schema string, db *pgxpool.Pool, js jetstream.JetStream, log zerolog.Logger) *Relay {
	r := &Relay{Schema: schema, DB: db, JS: js, Log: log.With().Str("outbox", schema).Logger()}
	r.defaults()
	return r
}

// dbTimeout bounds every statement of the relay.
const dbTimeout = 10 * time.Second

// Run takes a lease, adopts the leases of dead instances (publishing their windows again),
// and relays until ctx ends; then it marks its own lease clean. It returns an error only
// when it cannot start.
func (r *Relay) Run(ctx context.Context) error {
	r.defaults()
	r.id = r.Instance
	if r.id == "" {
		r.id = uuid.NewString()
	}
	pub, err := r.publisher()
	if err != nil {
		return fmt.Errorf("outbox %s: %w", r.Schema, err)
	}
	r.pub, r.inst = pub, newInstruments(r.Metrics, r.Schema)
	defer pub.CleanupPublisher()
	r.mu.Lock()
	r.watch = watch{marks: map[string]mark{}, verified: time.Now()}
	r.mu.Unlock()
	if err := r.takeLease(ctx); err != nil {
		return err
	}
	mctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	// The lease and the watch on the server every Lease/5; pruning on its own clock (it used
	// to run only when a batch came back short, so a busy outbox was never pruned), where a
	// long prune cannot delay the lease.
	wg.Go(func() { r.every(mctx, r.Lease/5, "lease upkeep", r.beat) })
	wg.Go(func() { r.every(mctx, r.PruneEvery, "prune", r.prune) })
	r.relay(ctx)
	stop()
	wg.Wait()
	return r.releaseLease()
}

// publisher makes the relay's own JetStream context on the caller's connection, API prefix
// or domain.
func (r *Relay) publisher() (jetstream.JetStream, error) {
	o := r.JS.Options()
	opts := []jetstream.JetStreamOpt{
		jetstream.WithPublishAsyncTimeout(r.AckWait),
		jetstream.WithPublishAsyncMaxPending(4 * r.Batch),
	}
	switch {
	case o.Domain != "":
		return jetstream.NewWithDomain(r.JS.Conn(), o.Domain, opts...)
	case o.APIPrefix != "":
		return jetstream.NewWithAPIPrefix(r.JS.Conn(), o.APIPrefix, opts...)
	default:
		return jetstream.New(r.JS.Conn(), opts...)
	}
}

// relay publishes batches until ctx ends: at once while batches come full, every Poll (or
// Kick) when idle, and with growing pauses while publishing fails, when a Kick does not cut
// the pause short (a busy service kicks all the time; a full stream must not be hammered).
func (r *Relay) relay(ctx context.Context) {
	var trouble episode
	failures := 0
	for ctx.Err() == nil {
		n, err := r.publishBatch(ctx)
		r.inst.published(err)
		pause := r.Poll
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			failures++
			pause = r.backoff(failures)
			if trouble.report() {
				r.Log.Warn().Err(err).Int("tries", failures).Dur("next_try", pause).Bool("stream_full", streamFull(err)).
					Msg("outbox relay: publishing failed; the events wait in the outbox and are tried again")
			}
		default:
			if trouble.over() {
				r.Log.Info().Int("tries", failures).Msg("outbox relay: publishing again")
			}
			failures = 0
			if pace := r.pace.Load(); pace != nil && n > 0 && pace.WaitN(ctx, n) != nil {
				return // ctx ended
			}
			if n == r.Batch {
				continue // more waiting
			}
		}
		r.pause(ctx, pause, failures == 0)
	}
}

func (r *Relay) pause(ctx context.Context, d time.Duration, kickable bool) {
	if !kickable {
		(*background.Kicker)(nil).Wait(ctx, d)
		return
	}
	r.kick.Wait(ctx, d)
}

// backoff is Poll doubled per failure up to MaxBackoff, ±20 % so that instances spread out.
func (r *Relay) backoff(failures int) time.Duration {
	d := background.Doubling(failures+1, r.Poll, r.MaxBackoff)
	return d*4/5 + rand.N(d*2/5+1)
}

// errCodeStoreFailed is the server's JSStreamStoreFailedF, which nats.go has no name for: a
// stream with DiscardNew at its limits answers it ("maximum messages exceeded", "maximum
// bytes exceeded").
const errCodeStoreFailed jetstream.ErrorCode = 10077

// streamFull reports whether a stream refused a message for its limits.
func streamFull(err error) bool {
	var api *jetstream.APIError
	return errors.As(err, &api) && api.ErrorCode == errCodeStoreFailed
}

type claimed struct {
	id  uuid.UUID
	msg *nats.Msg
}

// publishBatch claims up to Batch unsent rows, publishes them all asynchronously, waits at
// most AckWait for their acks and marks the acknowledged ones sent, in the claiming
// transaction. Rows whose ack failed or did not come stay unsent for a later batch.
func (r *Relay) publishBatch(ctx context.Context) (int, error) {
	bctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	tx, err := r.DB.Begin(bctx)
	if err != nil {
		return 0, err
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.Background(), dbTimeout)
		defer cancel()
		_ = tx.Rollback(rctx)
	}()
	rows, err := r.claim(bctx, tx)
	if err != nil || len(rows) == 0 {
		return 0, err
	}
	acked, pubErr := r.publish(ctx, rows)
	// What was acked is marked sent even when ctx ended meanwhile: a stop should not make
	// the next relay send it again.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), dbTimeout)
	defer cancel()
	if len(acked) > 0 {
		if _, err := tx.Exec(wctx, `update `+r.table("outbox")+` set sent_at = now(), sent_by = $2 where id = any($1)`, acked, r.id); err != nil {
			return 0, err
		}
	}
	if err := tx.Commit(wctx); err != nil {
		return 0, err
	}
	return len(acked), pubErr
}

// claim locks up to Batch unsent rows, oldest first. The same round trip tells PostgreSQL to
// end the session should it sit idle in this transaction past AckWait: were this process to
// stall, the rows would not stay locked.
func (r *Relay) claim(ctx context.Context, tx pgx.Tx) ([]claimed, error) {
	idle := strconv.FormatInt((r.AckWait + dbTimeout).Milliseconds(), 10)
	b := &pgx.Batch{}
	b.Queue(`select set_config('idle_in_transaction_session_timeout', $1, true)`, idle)
	b.Queue(`select id, subject, payload, traceparent, request_id from `+r.table("outbox")+`
		where sent_at is null order by created_at limit $1 for update skip locked`, r.Batch)
	br := tx.SendBatch(ctx, b)
	defer br.Close()
	if _, err := br.Exec(); err != nil {
		return nil, err
	}
	rows, err := br.Query()
	if err != nil {
		return nil, err
	}
	var out []claimed
	for rows.Next() {
		c := claimed{msg: nats.NewMsg("")}
		var traceparent, requestID *string
		if err := rows.Scan(&c.id, &c.msg.Subject, &c.msg.Data, &traceparent, &requestID); err != nil {
			rows.Close()
			return nil, err
		}
		if traceparent != nil {
			c.msg.Header.Set(subjects.HeaderTraceparent, *traceparent)
		}
		if requestID != nil {
			c.msg.Header.Set(subjects.HeaderRequestID, *requestID)
		}
		out = append(out, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, br.Close()
}

// publish sends rows asynchronously and returns the ids JetStream acknowledged within
// AckWait (or until ctx ends), and what went wrong with the others.
func (r *Relay) publish(ctx context.Context, rows []claimed) ([]uuid.UUID, error) {
	futures := make([]jetstream.PubAckFuture, 0, len(rows))
	var pubErr error
	for _, c := range rows {
		f, err := r.pub.PublishMsgAsync(c.msg, jetstream.WithMsgID(c.id.String()))
		if err != nil {
			pubErr = err
			break
		}
		futures = append(futures, f)
	}
	deadline := time.NewTimer(r.AckWait)
	defer deadline.Stop()
	acked := make([]uuid.UUID, 0, len(futures))
	var refused int
	var firstRefusal error
	i := 0
wait:
	for ; i < len(futures); i++ {
		select {
		case ack := <-futures[i].Ok():
			r.acked(ack)
			acked = append(acked, rows[i].id)
		case err := <-futures[i].Err():
			refused++
			firstRefusal = cmp(firstRefusal, err)
		case <-deadline.C:
			break wait
		case <-ctx.Done():
			break wait
		}
	}
	// Past the deadline, take the acks already there without waiting for the rest.
	missing := 0
	for ; i < len(futures); i++ {
		select {
		case ack := <-futures[i].Ok():
			r.acked(ack)
			acked = append(acked, rows[i].id)
		default:
			missing++
		}
	}
	if refused > 0 {
		pubErr = errors.Join(pubErr, fmt.Errorf("%d of %d events refused: %w", refused, len(rows), firstRefusal))
	}
	if missing > 0 {
		pubErr = errors.Join(pubErr, fmt.Errorf("%d of %d publish acks not back within %s", missing, len(rows), r.AckWait))
	}
	return acked, pubErr
}

func cmp(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

func (r *Relay) table(name string) string { return pgx.Identifier{r.Schema, name}.Sanitize() }

// episode rate-limits the log of a failure that lasts: its start, then once a minute.
type episode struct {
	failing bool
	logged  time.Time
}

// report records a failure and says whether to log it.
func (e *episode) report() bool {
	if e.failing && time.Since(e.logged) < time.Minute {
		return false
	}
	e.failing, e.logged = true, time.Now()
	return true
}

// over records a success and says whether it ends a failure.
func (e *episode) over() bool {
	was := e.failing
	e.failing = false
	return was
}
