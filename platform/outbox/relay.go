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

// Relay publishes one schema's outbox. It keeps a watermark rather than marking each row
// sent: rows are passed in the order of (xid, seq), the writing transaction's id and a
// sequence number, and only below the horizon, the snapshot's xmin read in the same
// statement: every transaction below it has ended, its committed rows are visible, and no row
// can appear below it later, so a transaction that committed after a younger one is never
// skipped. Rows committed above the horizon (the oldest transaction running on the server
// holds it back, in any database) are published at once all the same, and remembered (in
// memory) until the watermark passes them, which does not publish them again; once written
// more than LateAfter ago they are marked sent (sent_at, sent_by), so that nothing rests on
// memory for long. What each instance passed is kept as
// runs of keys (outbox_run, a row a second at most), which the resend windows and pruning
// read.
//
// Several relays (instances) may run on one schema: a transaction-scoped advisory lock lets
// one at a time relay it; another finding it taken looks again shortly.
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
	// LateAfter is how long a committed event may wait above the horizon (the oldest
	// transaction still running on the server, in any database) before it is sent on its
	// own and marked sent, as a row; 150 ms when zero. See Relay.
	LateAfter time.Duration
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

	// published and duplicates count this relay's acknowledged publishes; publishedEarly
	// its publishes above the horizon, failedBatches its batches not published in full
	// (Counts).
	published, duplicates, publishedEarly, failedBatches atomic.Uint64
	// backlog is the unsent events the lease upkeep last counted (Backlog).
	backlog atomic.Uint64

	mu    sync.Mutex
	watch watch

	// early holds the rows above the horizon this relay published, by when, until the
	// watermark passes them (or they get ripe and are marked sent): the watermark does not
	// publish them again. Only the publishing loop touches it; forget, set when the server
	// lost data, has it cleared.
	early  map[uuid.UUID]time.Time
	swept  time.Time
	forget atomic.Bool
}

// RelayCounts are what a relay did since it was made.
type RelayCounts struct {
	// Published were acknowledged by JetStream; Duplicates of them the stream already held.
	Published, Duplicates uint64
	// Early were published above the horizon, before the watermark passed them (another
	// instance's watermark may pass one first and publish it again: a duplicate).
	Early uint64
	// FailedBatches were not published in full (refused, or acks not back in time): their
	// events are published again, and may be duplicates.
	FailedBatches uint64
}

// Counts returns what this relay did since it was made. Each instance counts its own share;
// the service kit reports them in the instance's $SRV.STATS.
func (r *Relay) Counts() RelayCounts {
	return RelayCounts{Published: r.published.Load(), Duplicates: r.duplicates.Load(),
		Early: r.publishedEarly.Load(), FailedBatches: r.failedBatches.Load()}
}

// Backlog returns how many events of the outbox were unsent when the relay last counted
// them (every Lease/5, up to 10000 new and 10000 marked for resending): the same figure as
// souk_outbox_backlog.
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
	if r.LateAfter <= 0 {
		r.LateAfter = 150 * time.Millisecond
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
	r.early = map[uuid.UUID]time.Time{}
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
	failures, waits := 0, 0
	for ctx.Err() == nil {
		res, err := r.publishBatch(ctx)
		r.inst.published(err)
		if err != nil {
			r.failedBatches.Add(1)
		}
		pause, kickable := r.Poll, true
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			failures++
			pause, kickable = r.backoff(failures), false
			if trouble.report() {
				r.Log.Warn().Err(err).Int("tries", failures).Dur("next_try", pause).Bool("stream_full", streamFull(err)).
					Msg("outbox relay: publishing failed; the events wait in the outbox and are tried again")
			}
		default:
			if trouble.over() {
				r.Log.Info().Int("tries", failures).Msg("outbox relay: publishing again")
			}
			failures = 0
			if !r.paced(ctx, res.sent) {
				return // ctx ended
			}
			if res.full {
				continue // more waiting
			}
			switch {
			case !res.soon || res.sent > 0:
				waits = 0
			default:
				// Nothing new since the last look: the horizon is slow; look less often
				// (10, 20, 40, 80 ms; a kick still cuts it short).
				waits = min(waits+1, 3)
			}
			if res.soon {
				pause = horizonRetry << waits
			}
		}
		r.pause(ctx, pause, kickable)
	}
}

// paced pays n events to the pace, a burst (Batch) at a time: a round may publish up to a
// batch of each kind of row. It reports false when ctx ended.
func (r *Relay) paced(ctx context.Context, n int) bool {
	pace := r.pace.Load()
	for pace != nil && n > 0 {
		k := min(n, r.Batch)
		if pace.WaitN(ctx, k) != nil {
			return false
		}
		n -= k
	}
	return true
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

// The three kinds of row a claim returns.
const (
	byKey  = iota // above the watermark and below the horizon: passed in key order
	late          // above the horizon, committed and visible: sent one by one once ripe
	resent        // marked to be published again
)

type claimed struct {
	id   uuid.UUID
	msg  *nats.Msg
	kind int
	xid  string // xid8 as text: the relay only hands it back
	seq  int64
	// young: a late row written less than LateAfter ago.
	young bool
}

// round is what one batch did, for the loop's pacing.
type round struct {
	sent int
	// full: a kind of row came back a full batch; more wait.
	full bool
	// soon: rows wait for the horizon to pass them, or another instance holds the outbox:
	// look again after horizonRetry rather than Poll.
	soon bool
}

// horizonRetry is the pause before looking again when rows wait above the horizon (the
// running transactions' lifetimes, milliseconds under load), published already, for the
// watermark to pass them before they get ripe and must be marked one by one; or when another
// instance holds the outbox. A kick (new events) cuts it short, as it does Poll.
const horizonRetry = 10 * time.Millisecond

// runSpan bounds how long one record of outbox_run covers: the grain of the resend windows.
const runSpan = time.Second

// publishBatch takes the schema's outbox lock (an advisory lock: one instance relays at a
// time; the others look again shortly), reads up to Batch rows of each kind, publishes them
// all asynchronously, waits at most AckWait for their acks, then in the same transaction
// moves the watermark over the byKey rows up to the first one not acknowledged and marks the
// other acknowledged rows sent one by one. Rows whose ack failed or did not come stay unsent.
func (r *Relay) publishBatch(ctx context.Context) (round, error) {
	bctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	tx, err := r.DB.Begin(bctx)
	if err != nil {
		return round{}, err
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.Background(), dbTimeout)
		defer cancel()
		_ = tx.Rollback(rctx)
	}()
	locked, rows, err := r.claim(bctx, tx)
	if err != nil {
		return round{}, err
	}
	if !locked {
		return round{soon: true}, nil
	}
	if r.forget.Swap(false) || len(r.early) > earlyCap {
		clear(r.early) // the server lost data (or too many wait): publish them again
	}
	var res round
	var out []claimed
	counts := [3]int{}
	for _, c := range rows {
		counts[c.kind]++
		if c.kind == late && c.young {
			res.soon = true // for the watermark to pass it before it gets ripe
		}
		if _, done := r.early[c.id]; !done || c.kind == resent {
			out = append(out, c)
		}
	}
	full := counts[byKey] == r.Batch || counts[late] == r.Batch || counts[resent] == r.Batch
	if len(rows) == 0 {
		return res, nil
	}
	acked, pubErr := r.publish(ctx, out)
	res.sent = len(acked)
	// What was acked is recorded even when ctx ended meanwhile: a stop should not make the
	// next relay send it again.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), dbTimeout)
	defer cancel()
	var mark *claimed
	var oneByOne []uuid.UUID
	var passed, published []uuid.UUID
	blocked := false
	for i := range rows {
		c := &rows[i]
		_, early := r.early[c.id]
		done := acked[c.id] || early && c.kind != resent
		switch {
		case !done && c.kind == byKey:
			blocked = true
		case !done:
		case c.kind == late && c.young:
			published = append(published, c.id) // the watermark will pass it
			if !early {
				r.inst.publishedEarly()
				r.publishedEarly.Add(1)
			}
		case c.kind == late:
			oneByOne = append(oneByOne, c.id)
			passed = append(passed, c.id)
			r.inst.pastHorizon()
		case c.kind == resent:
			oneByOne = append(oneByOne, c.id)
		case !blocked:
			mark = c
			passed = append(passed, c.id)
		default:
			oneByOne = append(oneByOne, c.id) // acked past a row that was not
			passed = append(passed, c.id)
		}
	}
	// Full, and moving: more wait. (Late rows published already come back until the
	// watermark passes them; a batch of those alone is no reason to hurry.)
	res.full = full && (len(out) > 0 || len(oneByOne) > 0 || mark != nil)
	now := time.Now()
	for _, id := range published {
		r.early[id] = now
	}
	if len(oneByOne) == 0 && mark == nil {
		return res, pubErr
	}
	if len(oneByOne) > 0 {
		if _, err := tx.Exec(wctx, `update `+r.table("outbox")+` set sent_at = now(), sent_by = $2, resend = false where id = any($1)`, oneByOne, r.id); err != nil {
			return round{}, err
		}
	}
	if mark != nil {
		if err := r.advance(wctx, tx, mark); err != nil {
			return round{}, err
		}
	}
	if err := tx.Commit(wctx); err != nil {
		return round{}, err
	}
	for _, id := range passed {
		delete(r.early, id)
	}
	if len(r.early) > 0 && now.Sub(r.swept) > earlyTTL {
		for id, at := range r.early {
			if now.Sub(at) > earlyTTL {
				delete(r.early, id) // passed by another instance
			}
		}
		r.swept = now
	}
	return res, pubErr
}

// Rows published before the watermark passes them (Relay.early): at most earlyCap at once,
// forgotten after earlyTTL (another instance passed them; were one still waiting, it would be
// published again, which the duplicate window drops).
const (
	earlyCap = 100000
	earlyTTL = time.Minute
)

// advance moves the watermark to c and extends this instance's run; a run of another
// instance, or older than runSpan, goes to outbox_run first.
func (r *Relay) advance(ctx context.Context, tx pgx.Tx, c *claimed) error {
	_, err := tx.Exec(ctx, `with c as (select xid, seq, run_by, run_lo_xid, run_lo_seq, run_from, run_to,
			run_by is distinct from $3 or run_from < now() - make_interval(secs => $4) as fresh from `+r.table("outbox_cursor")+`),
		flush as (insert into `+r.table("outbox_run")+` (sent_by, lo_xid, lo_seq, hi_xid, hi_seq, first_at, last_at)
			select run_by, run_lo_xid, run_lo_seq, xid, seq, run_from, run_to from c where fresh and run_by is not null)
		update `+r.table("outbox_cursor")+` u set xid = $1::xid8, seq = $2, run_by = $3, run_to = now(),
			run_lo_xid = case when c.fresh then c.xid else u.run_lo_xid end,
			run_lo_seq = case when c.fresh then c.seq else u.run_lo_seq end,
			run_from = case when c.fresh then now() else u.run_from end
		from c`, c.xid, c.seq, r.id, runSpan.Seconds())
	return err
}

// lockKey names the schema's outbox lock: pg_try_advisory_xact_lock(hashtext(lockSpace),
// hashtext(schema)). An advisory lock takes no transaction id, so the relay's transaction
// holds no one's horizon back while it waits for acks.
const lockSpace = "souk.outbox"

// claim tries the outbox lock and reads, in one statement (one snapshot, one horizon: the
// oldest transaction still running anywhere on the server): the unsent rows above the
// watermark and below the horizon, in key order (those sent one by one are passed over), whose every transaction has ended, so that no row can
// appear below them any more; the unsent rows above the horizon, ripe once written more
// than LateAfter ago; the rows marked for resending. The same round trip tells PostgreSQL to
// end the session should it sit idle in this transaction past AckWait: were this process to
// stall, the lock would not stay held.
func (r *Relay) claim(ctx context.Context, tx pgx.Tx) (bool, []claimed, error) {
	idle := strconv.FormatInt((r.AckWait + dbTimeout).Milliseconds(), 10)
	b := &pgx.Batch{}
	b.Queue(`select set_config('idle_in_transaction_session_timeout', $1, true)`, idle)
	b.Queue(`select pg_try_advisory_xact_lock(hashtext($1), hashtext($2))`, lockSpace, r.Schema)
	b.Queue(r.claimSQL(), r.Batch, r.LateAfter.Seconds())
	br := tx.SendBatch(ctx, b)
	defer br.Close()
	if _, err := br.Exec(); err != nil {
		return false, nil, err
	}
	var locked bool
	if err := br.QueryRow().Scan(&locked); err != nil {
		return false, nil, err
	}
	rows, err := br.Query()
	if err != nil {
		return false, nil, err
	}
	var out []claimed
	for rows.Next() {
		c := claimed{msg: nats.NewMsg("")}
		var traceparent, requestID *string
		if err := rows.Scan(&c.kind, &c.xid, &c.seq, &c.id, &c.msg.Subject, &traceparent, &requestID, &c.young, &c.msg.Data); err != nil {
			rows.Close()
			return false, nil, err
		}
		c.msg.Header.Set(subjects.HeaderXactID, c.xid)
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
		return false, nil, err
	}
	return locked, out, br.Close()
}

// claimSQL is claim's statement; $1 is Batch, $2 LateAfter in seconds.
func (r *Relay) claimSQL() string {
	t := r.table("outbox")
	cols := `o.xid::text, o.seq, o.id, o.subject, o.traceparent, o.request_id`
	return `with h as materialized (select pg_snapshot_xmin(pg_current_snapshot()) as horizon),
		c as materialized (` + r.cursor() + `)
		(select ` + byKeyKind + `, ` + cols + `, false, o.payload from c, h, lateral (
			select * from ` + t + ` o
			where ` + unsentAboveMark + ` and o.xid < h.horizon
			order by o.xid, o.seq limit $1) o)
		union all
		(select ` + lateKind + `, ` + cols + `, o.young, o.payload from c, h, lateral (
			select *, created_at > statement_timestamp() - make_interval(secs => $2) as young from ` + t + ` o
			where ` + unsentAboveMark + ` and o.xid >= h.horizon
			order by o.xid, o.seq limit $1) o)
		union all
		(select ` + resentKind + `, ` + cols + `, false, o.payload from ` + t + ` o where o.resend order by o.xid, o.seq limit $1)`
}

// cursor selects the watermark's row: its xid and seq. The table holds one row,
// but until it is analyzed (autovacuum off, or a new schema) the planner takes it for
// hundreds (740 on a page's default): the claim, a lookup per cursor row, was then costed
// past jit_above_cost on a large outbox, and each claim spent 90-140 ms compiling itself
// (the catalog's 100 000 seeded events: 1 ms with the limit). The limit tells the planner
// the truth whatever the statistics say.
func (r *Relay) cursor() string {
	return `select xid, seq from ` + r.table("outbox_cursor") + ` limit 1`
}

// unsentAboveMark holds for an outbox row o still to publish in key order: above the
// watermark of the cursor c, not sent one by one, not marked for resending (those are read
// on their own). The view outbox_pending (migrations) says the same for operators.
const unsentAboveMark = `(o.xid, o.seq) > (c.xid, c.seq) and o.sent_at is null and not o.resend`

// The kinds as SQL literals.
var (
	byKeyKind  = strconv.Itoa(byKey)
	lateKind   = strconv.Itoa(late)
	resentKind = strconv.Itoa(resent)
)

// publish sends rows asynchronously and returns the ids JetStream acknowledged within
// AckWait (or until ctx ends), and what went wrong with the others.
func (r *Relay) publish(ctx context.Context, rows []claimed) (map[uuid.UUID]bool, error) {
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
	acked := make(map[uuid.UUID]bool, len(futures))
	var refused int
	var firstRefusal error
	i := 0
wait:
	for ; i < len(futures); i++ {
		select {
		case ack := <-futures[i].Ok():
			r.acked(ack)
			acked[rows[i].id] = true
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
			acked[rows[i].id] = true
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
