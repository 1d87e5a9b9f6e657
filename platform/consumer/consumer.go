// Package consumer is Souk's idempotent JetStream consumer kit, the consuming twin of
// platform/outbox. A Consumer is a durable pull consumer with explicit ack that applies
// messages in batches: one PostgreSQL transaction per batch, a savepoint per message, and a
// row per applied event in the service schema's processed table, written in that same
// transaction. A redelivered or republished event finds its row and is acknowledged without
// running the handler again, so an effect happens once per event however often JetStream
// delivers it.
//
// What becomes of a message:
//   - applied, or found already processed: acknowledged after the commit;
//   - its handler failed: its writes are rolled back (to its savepoint), the rest of the
//     batch commits, and it is redelivered after Backoff(delivered);
//   - its handler failed with a Permanent error, or failed on its MaxDeliver-th delivery: it
//     is copied to the DLQ stream on souk.dlq.<stream>.<consumer> with its error and then
//     terminated, so later messages keep flowing;
//   - the batch transaction itself failed (a handler broke or outlasted it, a conflict at
//     commit): each message is applied again in a transaction of its own, so only the
//     culprit fails;
//   - the database is to blame (pg.Transient: unreachable, read-only, full, out of
//     connections, shutting down, a statement it cancelled; or it does not answer a ping),
//     whether the batch transaction or a handler (through its own wrapping) met it: the
//     batch is held (InProgress keeps its ack timers, and those of the messages arriving
//     meanwhile, from running out) and retried after a pause; a serialization failure or
//     deadlock is retried at once, a few times, first. An outage burns no deliveries and
//     sends nothing to the dead letters;
//   - it was never settled (a process crashed or hung on it): on a delivery past MaxDeliver
//     it is dead-lettered without running its handler again; and when the server gives up
//     on it (its MAX_DELIVERIES advisory, which every running instance listens to), it is
//     copied from its stream to the DLQ. The DLQ's Nats-Msg-Id, dlq:<consumer>:<event id>,
//     keeps one copy however many are made.
//
// Call Migrate from the service's own Migrate, then run one Consumer per durable consumer.
package consumer

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	oteltrace "go.opentelemetry.io/otel/trace"

	"github.com/souk/souk/platform/background"
	"github.com/souk/souk/platform/pg"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrations are the processed table's migration files, applied by Migrate.
var Migrations fs.FS = migrations

// Migrate creates the processed table in schema. Call it from the service's own Migrate; its
// file (processed_0001_init.sql) does not collide with the service's 0001_init.sql.
func Migrate(ctx context.Context, db *pgxpool.Pool, schema string) error {
	return pg.Migrate(ctx, db, schema, migrations)
}

// Msg is one delivered event as a handler sees it.
type Msg struct {
	// Subject is the subject the event was published on.
	Subject string
	// Data is the event body.
	Data []byte
	// Header holds the event's headers.
	Header nats.Header
	// EventID is the Nats-Msg-Id header (the outbox's event id); "<stream>:<stream sequence>"
	// when absent. It is the processed table's key.
	EventID string
	// Delivered is how many times JetStream has delivered the message, 1 the first time.
	Delivered int
	// Stream is the stream the message is stored in.
	Stream string
	// Sequence is the message's stream sequence.
	Sequence uint64
}

// Handler applies one message inside tx, a savepoint of the batch transaction. It must do all
// its writes through tx, and must neither commit nor roll it back. Returning an error (or
// panicking) rolls back only this message's writes; wrap the error with Permanent when no
// retry can fix it. An error that wraps (%w) a pg.Transient one (read-only, connection
// lost, deadlock, ...) is the database's, not the handler's: the batch is held and run
// again, spending no delivery; so wrap database errors, never flatten them to text. ctx ends
// when the batch's time (80 % of AckWait) is up, not when Run's ctx ends: the batch in hand
// is finished on shutdown; running out of it counts as the handler's failure.
type Handler func(ctx context.Context, tx pgx.Tx, m Msg) error

type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// Permanent marks err as one no retry can fix (an undecodable payload, say): the message goes
// to the dead-letter stream at once. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

// IsPermanent reports whether err, or an error it wraps, was marked Permanent.
func IsPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p)
}

// Consumer applies the messages of one durable JetStream consumer to PostgreSQL, each event
// once. Run it in as many instances (processes) as wanted: they share the work. A Consumer
// is configuration only; Run does not modify it, so one value may run several times at once.
type Consumer struct {
	// Name is the durable consumer's name, e.g. "catalog-purchases", and the processed
	// table's key. No dots, no wildcards.
	Name string
	// On routes each kind of event to its typed handler (see On); the consumer's stream and
	// filter are its routes'. Services declare their consumers so.
	On []Route
	// Stream is the stream consumed, e.g. "ORDERS"; taken from On when empty.
	Stream string
	// Subjects filter the stream when there is no On; none means all of it.
	Subjects []string
	// Schema is the schema holding the processed table: the service's own.
	Schema string
	// DB is the service's pool.
	DB *pgxpool.Pool
	// JS is the JetStream context; dead letters are published through it.
	JS jetstream.JetStream
	// Log receives failures, dead letters and outages. The consumer's name is added.
	Log zerolog.Logger
	// Handle applies one message when there is no On: the raw form, for the kit's own tests
	// and tools; a service routes typed events with On instead.
	Handle Handler
	// Idempotent says the handlers are idempotent by their own state: an event applied a
	// second time (redelivered, republished, replayed from the dead letters) finds what the
	// first time did — a row keyed by the order, a status already moved on, a unique key
	// taken — and changes nothing, and two instances applying it at once serialise on the
	// rows it writes. Such a consumer writes no processed row: a third of the row inserts of
	// a checkout were processed rows (docs/performance.md, issue 17). Copies of one event in
	// one batch are still applied once. What it gives up: a delivery past MaxDeliver that
	// was never settled is dead-lettered even if it had committed (there is no row to tell),
	// which its replay then confirms as a no-op. A handler whose effect adds up (a counter,
	// a sum) must not be marked.
	Idempotent bool
	// Prepare, when set, runs in each batch transaction after the processed rows are
	// claimed and before the handlers, with the messages they are about to apply; the
	// handlers get the context it returns. It is for the reads a whole batch shares: the rows
	// its handlers will lock, read in one statement instead of one round trip per message.
	// It runs again whenever the batch does (a guarded rerun, one transaction per message)
	// and must write nothing; its error fails the batch's transaction (see applyOnce). A
	// handler must still find what it needs without it: a message Prepare could not read.
	// The service kit wraps it to mark the batch's context for its relay (outbox.Mark).
	Prepare func(ctx context.Context, tx pgx.Tx, batch []Msg) (context.Context, error)
	// Batch is the most messages applied in one transaction; 64 when zero. A batch is never
	// waited for: it is whatever has arrived by the time the previous one is done.
	Batch int
	// MaxDeliver is how many deliveries a failing message gets before it is dead-lettered; 8
	// when zero; -1 retries forever (only Permanent errors are dead-lettered then). Failures
	// the database is to blame for spend none. The server-side consumer allows a few
	// deliveries more (deadLetterSpare), so a failed dead-letter publish is retried rather
	// than the message dropped; such a spare delivery is dead-lettered without running the
	// handler again.
	MaxDeliver int
	// AckWait is how long JetStream waits for an ack before it redelivers; 30 s when zero.
	// A batch transaction gets 80 % of it, and a stop waits at most that long for the batch
	// in hand. It must exceed the slowest batch.
	AckWait time.Duration
	// Backoff is the delay before a failed message is redelivered, by how many times it has
	// been delivered; exponential from 250 ms up to 30 s when nil.
	Backoff func(delivered int) time.Duration
	// AfterCommit, when set, is called once per batch after its transaction committed and its
	// messages were acknowledged, with the messages applied in it (not duplicates, not
	// failures); never with none. It runs in the consuming loop: keep it quick (kick an
	// outbox relay, drop a cache entry).
	AfterCommit func(msgs []Msg)
	// Metrics, when set, receives the consumer's series: souk_consumer_applied_total and
	// souk_consumer_failed_total, souk_consumer_holds_total and souk_consumer_holding (the
	// database to blame), souk_consumer_dead_letters_total by cause, and the batch size and
	// duration histograms. Several consumers and instances may share one registry.
	Metrics prometheus.Registerer
	// Counts, when set, counts this instance's own work (applied, failed, dead-lettered),
	// beside the series in Metrics that every instance of the registry adds to.
	Counts *Counts

	// Tracer makes a span per event handled, the child of the publisher's (see traced); nil
	// is a no-op provider.
	Tracer oteltrace.TracerProvider

	// inst and tr are Run's own: set on the copy each Run makes.
	inst *instruments
	tr   oteltrace.Tracer
}

const (
	defaultBatch      = 64
	defaultMaxDeliver = 8
	defaultAckWait    = 30 * time.Second
	// deadLetterSpare is how many deliveries past MaxDeliver the server allows: a message
	// whose dead-letter publish failed comes back (and is dead-lettered again) instead of
	// being dropped by the server. The DLQ's Nats-Msg-Id drops a repeated copy.
	deadLetterSpare = 3
	// opTimeout bounds the short calls: the consumer set-up, a ping, the dead-letter acks.
	opTimeout = 10 * time.Second
	// pullExpiry is how long a pull request waits on the server; heartbeats come every half
	// of it, and two missed ones make the iterator pull again. When several instances start
	// at once, a pull request is now and then not served (measured here: about 1 start in
	// 60 under load); the default 30 s would leave that instance idle for 30 s, this heals it
	// in 5 s, for one small request per 5 s per idle instance.
	pullExpiry = 5 * time.Second
)

// Run creates or updates the durable pull consumer and applies messages until ctx ends; then
// it finishes the batch in hand, hands back (naks) the messages it holds, and returns nil. It
// returns an error for a bad configuration, a consumer JetStream refuses (a missing stream),
// and a NATS connection closed for good. Transient failures (the database down, NATS
// reconnecting, the consumer deleted) are logged and retried with a pause.
func (c *Consumer) Run(ctx context.Context) error {
	r := *c
	if err := r.defaults(); err != nil {
		return err
	}
	r.Log = r.Log.With().Str("consumer", r.Name).Logger()
	r.inst = newInstruments(r.Metrics, r.Name, r.Counts)
	r.tr = r.tracer()
	cons, err := r.ensure(ctx)
	if err != nil {
		return err
	}
	// Listening before pulling: a message this instance is about to give up on is heard of.
	var wg sync.WaitGroup
	if err := r.watchExhausted(ctx, &wg); err != nil {
		return err
	}

	// A feeder moves delivered messages into msgs, so the loop can take whatever is already
	// there without waiting (jetstream's Next has no non-blocking form).
	msgs := make(chan jetstream.Msg, r.Batch)
	feedCtx, stopFeed := context.WithCancel(ctx)
	defer stopFeed()
	var feedErr error
	fed := make(chan struct{})
	go func() { defer close(fed); feedErr = r.feed(feedCtx, cons, msgs) }()
	wg.Go(func() { r.pruneLoop(ctx) })

	w := &waiting{in: msgs}
	r.loop(ctx, w, fed)

	stopFeed()
	<-fed
	w.handBack() // unapplied: another instance may take them now
	wg.Wait()
	if ctx.Err() != nil {
		return nil
	}
	return feedErr
}

func (c *Consumer) defaults() error {
	if err := c.routed(); err != nil {
		return err
	}
	switch {
	case c.Name == "" || strings.ContainsAny(c.Name, ".*> \t\r\n"):
		return fmt.Errorf("consumer: bad name %q", c.Name)
	case c.Stream == "" || c.Schema == "":
		return fmt.Errorf("consumer %s: Stream and Schema are required", c.Name)
	case c.DB == nil || c.JS == nil || c.Handle == nil:
		return fmt.Errorf("consumer %s: DB, JS and Handle are required", c.Name)
	case c.Batch < 0 || c.MaxDeliver < -1 || c.AckWait < 0:
		return fmt.Errorf("consumer %s: negative Batch, MaxDeliver or AckWait", c.Name)
	}
	if c.Batch == 0 {
		c.Batch = defaultBatch
	}
	if c.MaxDeliver == 0 {
		c.MaxDeliver = defaultMaxDeliver
	}
	if c.AckWait == 0 {
		c.AckWait = defaultAckWait
	}
	if c.Backoff == nil {
		c.Backoff = func(delivered int) time.Duration {
			return background.Doubling(delivered, 250*time.Millisecond, 30*time.Second)
		}
	}
	return nil
}

// sleep waits d; it reports false when ctx ended first.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// serverMaxDeliver is the MaxDeliver of the JetStream consumer (see deadLetterSpare).
func (c *Consumer) serverMaxDeliver() int {
	if c.MaxDeliver < 0 {
		return -1
	}
	return c.MaxDeliver + deadLetterSpare
}

// ensure creates or updates the durable consumer.
func (c *Consumer) ensure(ctx context.Context) (jetstream.Consumer, error) {
	cfg := jetstream.ConsumerConfig{
		Durable:       c.Name,
		Description:   "souk platform/consumer, processed rows in schema " + c.Schema,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       c.AckWait,
		MaxDeliver:    c.serverMaxDeliver(),
		// Each instance holds up to about three batches unacked (the pull buffer, the
		// hand-off channel, the batch in hand); delivery stops silently at this limit.
		MaxAckPending: max(1000, 8*c.Batch),
	}
	if len(c.Subjects) == 1 {
		cfg.FilterSubject = c.Subjects[0]
	} else {
		cfg.FilterSubjects = c.Subjects
	}
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	cons, err := c.JS.CreateOrUpdateConsumer(ctx, c.Stream, cfg)
	if err != nil {
		return nil, fmt.Errorf("consumer %s on stream %s: %w", c.Name, c.Stream, err)
	}
	return cons, nil
}

// loop takes the messages held during an outage, or else the first message blocking, then
// whatever else has already arrived, up to Batch, and applies them; until ctx ends or the
// feeder stops.
func (c *Consumer) loop(ctx context.Context, w *waiting, fed <-chan struct{}) {
	batch := make([]jetstream.Msg, 0, c.Batch)
	for ctx.Err() == nil { // select picks at random among ready cases: look first
		batch = batch[:0]
		if len(w.held) == 0 {
			select {
			case <-ctx.Done():
				return
			case <-fed:
				return
			case m := <-w.in:
				batch = append(batch, m)
			}
		}
		batch = w.take(batch, c.Batch)
		w.keep(c.AckWait)
		c.process(ctx, batch, w)
	}
}

// feed moves delivered messages into out until ctx ends. After a failure (the consumer
// deleted, a leader change) it pauses, recreates the consumer and pulls again; it returns an
// error only when the NATS connection is closed for good.
func (c *Consumer) feed(ctx context.Context, cons jetstream.Consumer, out chan<- jetstream.Msg) error {
	for attempt := 1; ; attempt++ {
		var err error
		if cons == nil {
			cons, err = c.ensure(ctx)
		}
		if err == nil {
			background.ReportUp(ctx) // the consumer exists: /readyz may count it again
			var n int
			n, err = c.pump(ctx, cons, out)
			if n > 0 {
				attempt = 0 // it worked for a while: start the pauses over
			}
		}
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, jetstream.ErrConnectionClosed) || errors.Is(err, nats.ErrConnectionClosed) {
			return fmt.Errorf("consumer %s: %w", c.Name, err)
		}
		pause := background.Doubling(attempt, 250*time.Millisecond, 30*time.Second)
		background.ReportDown(ctx, fmt.Errorf("pulling: %w", err)) // running, but not consuming
		c.Log.Warn().Err(err).Dur("retry_in", pause).Msg("consumer: pulling failed; retrying")
		if !sleep(ctx, pause) {
			return nil
		}
		cons = nil
	}
}

// pump pulls from one iterator into out and returns how many messages it passed on, and why
// it stopped. On shutdown it hands back (naks) what the iterator had buffered.
func (c *Consumer) pump(ctx context.Context, cons jetstream.Consumer, out chan<- jetstream.Msg) (int, error) {
	it, err := cons.Messages(jetstream.PullMaxMessages(c.Batch), jetstream.PullExpiry(pullExpiry))
	if err != nil {
		return 0, err
	}
	defer it.Stop()
	for n := 0; ; {
		m, err := it.Next(jetstream.NextContext(ctx))
		if errors.Is(err, jetstream.ErrNoHeartbeat) {
			continue // a reconnect or a slow server; Next blocks for two heartbeats again
		}
		if err != nil {
			if ctx.Err() != nil {
				handBack(it, c.Batch)
			}
			return n, err
		}
		select {
		case out <- m:
			n++
		case <-ctx.Done():
			_ = m.Nak()
			handBack(it, c.Batch)
			return n, ctx.Err()
		}
	}
}

// handBack naks up to limit messages the iterator has buffered, so that another instance
// gets them now rather than after AckWait.
func handBack(it jetstream.MessagesContext, limit int) {
	it.Drain()
	for range limit {
		m, err := it.Next(jetstream.NextMaxWait(100 * time.Millisecond))
		if err != nil {
			return
		}
		_ = m.Nak()
	}
}
