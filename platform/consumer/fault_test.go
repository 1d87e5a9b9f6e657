package consumer_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/internal/promtest"
	"github.com/souk/souk/platform/consumer"
	"github.com/souk/souk/platform/pg"
	"github.com/souk/souk/platform/pgtest"
)

// TestReadOnlyDatabaseHoldsHealthyEventsAndSpendsNoDelivery: the database answers pings but
// refuses writes (a failover left it read-only) for longer than the deliveries JetStream
// allows. Healthy events that arrive then must wait, not be blamed: none dead-lettered, all
// applied once afterwards, on their first delivery. A handler's real logic error still
// dead-letters.
func TestReadOnlyDatabaseHoldsHealthyEventsAndSpendsNoDelivery(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	refusals := &refusalCounter{}
	db := tracedPool(t, e, refusals)
	c := e.consumer("readonly", func(ctx context.Context, tx pgx.Tx, m consumer.Msg) error {
		if m.EventID == "logic" {
			return errors.New("coupon exhausted") // the handler's own failure
		}
		return record(ctx, tx, m)
	})
	c.DB = db
	c.MaxDeliver = 3
	c.AckWait = time.Second
	c.Backoff = func(int) time.Duration { return 10 * time.Millisecond }
	reg := prometheus.NewRegistry()
	c.Metrics = reg
	e.run(c)
	e.publish("before")
	e.settled("readonly", 1)

	setReadOnly(t, e, true)
	began := time.Now()
	held := eventIDs("held", 5)
	e.publish(append(held, "logic")...)
	// Refused write attempts are the consumer's tries: far more than MaxDeliver, over more
	// than MaxDeliver+3 AckWaits, so spent deliveries or expired ack timers would show.
	waitFor(t, func() error {
		if n := refusals.n.Load(); n < 12 {
			return fmt.Errorf("%d writes refused so far, want 12", n)
		}
		return nil
	})
	setReadOnly(t, e, false)
	t.Logf("read-only for %s, %d writes refused", time.Since(began).Round(10*time.Millisecond), refusals.n.Load())
	e.settled("readonly", uint64(len(held)+2))

	letters := readDLQ(t, e, 1)
	if l := letters["logic"]; l == nil || !strings.Contains(l.Header.Get(consumer.DLQError), "coupon exhausted") {
		t.Fatalf("dead letters: %v, want the logic error only", letters)
	}
	delivered := effectDeliveries(t, e)
	if len(delivered) != len(held)+1 {
		t.Fatalf("applied %v, want before and the %d held events", delivered, len(held))
	}
	for _, id := range held {
		if d := delivered[id]; d != 1 {
			t.Errorf("%s was applied on delivery %d, want 1: the outage spent its deliveries", id, d)
		}
	}
	if rows, events := e.effects(); rows != events {
		t.Fatalf("%d effect rows for %d events: something was applied twice", rows, events)
	}
	// The outage is seen in the metrics, and over.
	if holds := metricValue(t, reg, "souk_consumer_holds_total", "readonly", ""); holds < 10 {
		t.Errorf("souk_consumer_holds_total %v, want the outage's pauses", holds)
	}
	if v := metricValue(t, reg, "souk_consumer_holding", "readonly", ""); v != 0 {
		t.Errorf("souk_consumer_holding %v after the outage, want 0", v)
	}
	if v := metricValue(t, reg, "souk_consumer_dead_letters_total", "readonly", "handler"); v != 1 {
		t.Errorf("souk_consumer_dead_letters_total{cause=handler} %v, want 1", v)
	}
}

// TestHandlersTransientErrorsSpendNoDelivery: a handler that wraps a read-only or deadlock
// error in its own error has not failed on its own: the batch is retried without a new
// delivery (a deadlock at once) and nothing is dead-lettered, but what the handler marks
// Permanent, whatever it wraps.
func TestHandlersTransientErrorsSpendNoDelivery(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var readOnlyTries, deadlockTries atomic.Int64
	c := e.consumer("wrapped", func(ctx context.Context, tx pgx.Tx, m consumer.Msg) error {
		switch {
		case m.EventID == "read-only" && readOnlyTries.Add(1) <= 5:
			// A real 25006 from PostgreSQL: the transaction turned read-only under the handler.
			_, err := tx.Exec(ctx, `set local transaction_read_only = on`)
			if err == nil {
				err = record(ctx, tx, m)
			}
			return fmt.Errorf("record stock move: %w", err)
		case m.EventID == "deadlock" && deadlockTries.Add(1) <= 2:
			return fmt.Errorf("reserve: %w", &pgconn.PgError{Code: pg.DeadlockDetected, Message: "deadlock detected"})
		case m.EventID == "permanent":
			return consumer.Permanent(fmt.Errorf("undecodable: %w", &pgconn.PgError{Code: pg.ReadOnlyTransaction}))
		}
		return record(ctx, tx, m)
	})
	c.MaxDeliver = 3
	c.AckWait = 2 * time.Second
	c.Backoff = func(int) time.Duration { return 10 * time.Millisecond }
	e.run(c)
	e.publish("read-only", "deadlock", "fine", "permanent")
	e.settled("wrapped", 4)

	if letters := readDLQ(t, e, 1); letters["permanent"] == nil {
		t.Fatalf("dead letters: %v, want the permanent one only", letters)
	}
	delivered := effectDeliveries(t, e)
	for _, id := range []string{"read-only", "deadlock", "fine"} {
		if d := delivered[id]; d != 1 {
			t.Errorf("%s was applied on delivery %d, want 1 (applied: %v)", id, d, delivered)
		}
	}
	if rows, events := e.effects(); rows != 3 || events != 3 {
		t.Fatalf("%d effect rows for %d events, want 3 for 3", rows, events)
	}
}

// TestMessageNeverSettledIsDeadLetteredPastMaxDeliver: a process that hangs (or crashes) on
// a message never settles it; JetStream gives up after MaxDeliver deliveries and the message
// must still land in the DLQ, with its data and headers, once.
func TestMessageNeverSettledIsDeadLetteredPastMaxDeliver(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	stuck := make(chan struct{})
	var entered atomic.Int64
	hang := func(ctx context.Context, tx pgx.Tx, m consumer.Msg) error {
		entered.Add(1)
		<-stuck // ignores its deadline: the process is as good as dead
		return errors.New("unstuck at the end of the test")
	}
	// One instance: a second one would take a redelivery and wait on the stuck one's
	// processed-row lock until its own deadline, a failure it would dead-letter itself.
	c := e.consumer("crashy", hang)
	c.MaxDeliver = 1
	c.AckWait = 300 * time.Millisecond
	reg := prometheus.NewRegistry()
	c.Metrics = reg
	e.run(c)
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(stuck) }) }) // before the Runs are stopped
	e.publish("crash")
	began := time.Now()

	letters := readDLQ(t, e, 1)
	t.Logf("dead-lettered %s after publishing (AckWait %s, %d deliveries)", time.Since(began).Round(10*time.Millisecond), c.AckWait, 4)
	l := letters["crash"]
	if l == nil {
		t.Fatalf("dead letters: %v", letters)
	}
	h := l.Header
	if l.Subject != "souk.dlq.ORDERS.crashy" || string(l.Data) != string(payloadOf("crash")) ||
		h.Get("Souk-Test") != "kept" || h.Get(consumer.DLQSubject) != subjectOf("crash") ||
		h.Get(consumer.DLQStream) != "ORDERS" || h.Get(consumer.DLQSequence) != "1" ||
		h.Get(consumer.DLQConsumer) != "crashy" || h.Get(jetstream.MsgIDHeader) != "dlq:crashy:crash" ||
		!strings.Contains(h.Get(consumer.DLQError), "without being settled") {
		t.Fatalf("dead letter: subject %s, headers %v, data %s", l.Subject, h, l.Data)
	}
	if n := entered.Load(); n != 1 {
		t.Fatalf("the handler was entered %d times, want once: the instance is stuck", n)
	}
	if n := dlqCount(t, e); n != 1 {
		t.Fatalf("%d dead letters, want 1", n)
	}
	if v := metricValue(t, reg, "souk_consumer_dead_letters_total", "crashy", "max_deliveries"); v != 1 {
		t.Errorf("souk_consumer_dead_letters_total{cause=max_deliveries} %v, want 1", v)
	}
	once.Do(func() { close(stuck) })
}

// refusalCounter counts statements the database refused as read-only.
type refusalCounter struct{ n atomic.Int64 }

// TraceQueryStart is part of pgx.QueryTracer.
func (r *refusalCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	return ctx
}

// TraceQueryEnd counts 25006 errors.
func (r *refusalCounter) TraceQueryEnd(_ context.Context, _ *pgx.Conn, d pgx.TraceQueryEndData) {
	if pg.Code(d.Err) == pg.ReadOnlyTransaction {
		r.n.Add(1)
	}
}

// tracedPool opens a pool on e's database whose statements tracer sees.
func tracedPool(t *testing.T, e *env, tracer pgx.QueryTracer) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(e.dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.Tracer = tracer
	db, err := pgxpool.NewWithConfig(e.ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	return db
}

// setReadOnly makes e's database refuse writes (or accept them again), as a failover to a
// standby does, and ends its sessions so that pooled connections reconnect and see it.
func setReadOnly(t *testing.T, e *env, on bool) {
	t.Helper()
	u, err := url.Parse(e.dsn)
	if err != nil {
		t.Fatal(err)
	}
	name := pgx.Identifier{strings.TrimPrefix(u.Path, "/")}.Sanitize()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, pgtest.ServerURL())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	q := `alter database ` + name + ` set default_transaction_read_only = on`
	if !on {
		q = `alter database ` + name + ` reset default_transaction_read_only`
	}
	if _, err := admin.Exec(ctx, q); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(ctx, `select pg_terminate_backend(pid) from pg_stat_activity
		where datname = $1 and pid <> pg_backend_pid()`, strings.TrimPrefix(u.Path, "/")); err != nil {
		t.Fatal(err)
	}
}

// effectDeliveries returns, by event id, the delivery on which each effect was written;
// polled, since e.db's connections may have been terminated under it.
func effectDeliveries(t *testing.T, e *env) map[string]int {
	t.Helper()
	got := map[string]int{}
	waitFor(t, func() error {
		rows, err := e.db.Query(e.ctx, `select event_id, delivered from shop.effects`)
		if err != nil {
			return err
		}
		clear(got)
		var id string
		var d int
		_, err = pgx.ForEachRow(rows, []any{&id, &d}, func() error { got[id] = d; return nil })
		return err
	})
	return got
}

// TestDeliveryPastMaxDeliverIsDeadLetteredWithoutItsHandler: a process crashed on the
// message's only allowed delivery (MaxDeliver 1) before settling it. The spare delivery the
// server makes next must not run the handler again (it would crash again): it is
// dead-lettered at once, and the other events flow.
func TestDeliveryPastMaxDeliverIsDeadLetteredWithoutItsHandler(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const ackWait = 300 * time.Millisecond
	// The crashed process: it created the durable, took the first delivery and died.
	raw, err := e.js.CreateOrUpdateConsumer(e.ctx, "ORDERS", jetstream.ConsumerConfig{
		Durable: "spare", AckPolicy: jetstream.AckExplicitPolicy, AckWait: ackWait, MaxDeliver: 4,
		FilterSubject: "souk.evt.order.>",
	})
	if err != nil {
		t.Fatal(err)
	}
	e.publish("crashed")
	batch, err := raw.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for m := range batch.Messages() {
		if m.Headers().Get(jetstream.MsgIDHeader) != "crashed" {
			t.Fatalf("fetched %s", m.Subject())
		}
	}

	var mu sync.Mutex
	var handled []string
	c := e.consumer("spare", func(ctx context.Context, tx pgx.Tx, m consumer.Msg) error {
		mu.Lock()
		handled = append(handled, m.EventID)
		mu.Unlock()
		return record(ctx, tx, m)
	})
	c.MaxDeliver = 1
	c.AckWait = ackWait
	reg := prometheus.NewRegistry()
	c.Metrics = reg
	e.run(c)
	e.publish("next")
	e.settled("spare", 2)

	letters := readDLQ(t, e, 1)
	if l := letters["crashed"]; l == nil || !strings.Contains(l.Header.Get(consumer.DLQError), "without being settled") {
		t.Fatalf("dead letters: %v", letters)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(handled) != 1 || handled[0] != "next" {
		t.Fatalf("the handler ran for %v, want next only", handled)
	}
	if v := metricValue(t, reg, "souk_consumer_dead_letters_total", "spare", "unsettled"); v != 1 {
		t.Errorf("souk_consumer_dead_letters_total{cause=unsettled} %v, want 1", v)
	}
}

// TestExhaustedPoolHoldsTheBatchAndSpendsNoDelivery: every connection of the consumer's pool
// is taken (by a stuck request, a leak) for several AckWaits. The batch waits for one
// without being blamed, without its ack timers running out, and nothing is dead-lettered.
func TestExhaustedPoolHoldsTheBatchAndSpendsNoDelivery(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	u, err := url.Parse(e.dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("pool_max_conns", "1")
	u.RawQuery = q.Encode()
	db, err := pg.Open(e.ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	c := e.consumer("pool", record)
	c.DB = db
	c.MaxDeliver = 2
	c.AckWait = time.Second
	e.run(c)
	e.publish("before")
	e.settled("pool", 1)

	conn, err := db.Acquire(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	ids := eventIDs("starved", 3)
	e.publish(ids...)
	// Each acquire that ran out of time is a try: 4 of them span more than MaxDeliver+3
	// AckWaits' worth of budgets and pauses.
	expect.Within(t, time.Minute, func() error {
		if n := db.Stat().CanceledAcquireCount(); n < 4 {
			return fmt.Errorf("%d acquires timed out, want 4", n)
		}
		return nil
	})
	conn.Release()
	e.settled("pool", uint64(len(ids)+1))

	if n := dlqCount(t, e); n != 0 {
		t.Fatalf("%d dead letters, want none", n)
	}
	delivered := effectDeliveries(t, e)
	for _, id := range ids {
		if d := delivered[id]; d != 1 {
			t.Errorf("%s was applied on delivery %d, want 1: the wait spent its deliveries", id, d)
		}
	}
}

// metricValue returns the value of the series name{consumer, cause} in reg (cause "" for
// series without it), a histogram's sum; 0 when there is none.
func metricValue(t *testing.T, reg *prometheus.Registry, name, consumerName, cause string) float64 {
	t.Helper()
	labels := []string{"consumer", consumerName}
	if cause != "" {
		labels = append(labels, "cause", cause)
	}
	return promtest.Sum(t, reg, name, labels...)
}
