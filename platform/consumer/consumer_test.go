package consumer_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/platform/consumer"
	"github.com/souk/souk/platform/pg"
)

func TestRedeliveredEventsAreAppliedOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ids := eventIDs("dup", 40)
	e.publish(ids...)
	var applied atomic.Int64
	c := e.consumer("dedup", record)
	c.AfterCommit = func(ms []consumer.Msg) { applied.Add(int64(len(ms))) }
	stop := e.run(c)
	e.settled("dedup", 40)
	stop()
	if got := applied.Load(); got != 40 {
		t.Fatalf("first run applied %d events, want 40", got)
	}

	// The consumer loses its progress (deleted by an operator, recreated from scratch): every
	// event is delivered again, as after lost acks or an outbox resend. The processed table
	// recognises each one; without it the effects would double.
	if err := e.js.DeleteConsumer(e.ctx, "ORDERS", "dedup"); err != nil {
		t.Fatal(err)
	}
	stop = e.run(c)
	e.settled("dedup", 40)
	stop()
	if got := applied.Load(); got != 40 {
		t.Fatalf("the second delivery applied %d events again", got-40)
	}
	if rows, events := e.effects(); rows != 40 || events != 40 {
		t.Fatalf("%d effect rows for %d events, want 40 for 40", rows, events)
	}
}

func TestFailingMessageIsRetriedWithItsWritesRolledBack(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var mu sync.Mutex
	var deliveries []int
	c := e.consumer("flaky", func(ctx context.Context, tx pgx.Tx, m consumer.Msg) error {
		// The write comes first: a failure must take it back.
		if err := record(ctx, tx, m); err != nil || m.EventID != "flaky" {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		deliveries = append(deliveries, m.Delivered)
		if len(deliveries) <= 2 {
			return errors.New("stock service unavailable")
		}
		return nil
	})
	c.Backoff = func(int) time.Duration { return 10 * time.Millisecond }
	e.run(c)
	e.publish("before", "flaky", "after")
	e.settled("flaky", 3)

	mu.Lock()
	got := slices.Clone(deliveries)
	mu.Unlock()
	if !slices.Equal(got, []int{1, 2, 3}) {
		t.Fatalf("the flaky handler saw deliveries %v, want [1 2 3]", got)
	}
	if rows, events := e.effects(); rows != 3 || events != 3 {
		t.Fatalf("%d effect rows for %d events, want 3 for 3", rows, events)
	}
	var delivered int
	if err := e.db.QueryRow(e.ctx, `select delivered from shop.effects where event_id = 'flaky'`).Scan(&delivered); err != nil {
		t.Fatal(err)
	}
	if delivered != 3 {
		t.Fatalf("the applied effect was written on delivery %d, want 3", delivered)
	}
	if n := dlqCount(t, e); n != 0 {
		t.Fatalf("%d dead letters, want none", n)
	}
}

func TestPoisonAndExhaustedMessagesAreDeadLetteredWhileOthersFlow(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// A deferred foreign key fails at commit: "breaker" breaks its whole batch transaction.
	if _, err := e.db.Exec(e.ctx, `create table shop.parents (id int primary key);
		create table shop.children (parent int not null references shop.parents deferrable initially deferred)`); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	seen := map[string][]int{} // event id → the deliveries its handler saw
	c := e.consumer("dlq-test", func(ctx context.Context, tx pgx.Tx, m consumer.Msg) error {
		mu.Lock()
		if !slices.Contains(seen[m.EventID], m.Delivered) {
			seen[m.EventID] = append(seen[m.EventID], m.Delivered)
		}
		mu.Unlock()
		switch m.EventID {
		case "poison":
			return consumer.Permanent(fmt.Errorf("decode: %w", errors.New("undecodable payload")))
		case "failing":
			return errors.New("stock service says no")
		case "panicky": // and leaves its rows open: the connection is busy when it unwinds
			rows, err := tx.Query(ctx, `select generate_series(1, 1000)`)
			if err == nil && rows.Next() {
				panic("nil map somewhere")
			}
			return err
		case "breaker":
			_, err := tx.Exec(ctx, `insert into shop.children values (999)`)
			return err
		}
		return record(ctx, tx, m)
	})
	c.MaxDeliver = 3
	c.Backoff = func(int) time.Duration { return 10 * time.Millisecond }
	reg := prometheus.NewRegistry()
	c.Metrics, c.Counts = reg, &consumer.Counts{}
	e.run(c)
	order := []string{"g1", "poison", "g2", "failing", "g3", "panicky", "g4", "breaker", "g5"}
	e.publish(order...)
	e.settled("dlq-test", uint64(len(order)))
	// 5 applied, 10 failed deliveries (poison once, the three others on each of their 3),
	// 4 dead letters; every delivery was in a batch: 15 events in the batch histogram.
	expect.Within(t, 30*time.Second, func() error {
		if n := c.Counts.DeadLettered.Load(); n != 4 {
			return fmt.Errorf("%d dead letters counted, want 4", n)
		}
		return nil
	})
	for _, m := range []struct {
		name, cause string
		got         float64
		want        uint64
	}{
		{"souk_consumer_applied_total", "", metricValue(t, reg, "souk_consumer_applied_total", "dlq-test", ""), c.Counts.Applied.Load()},
		{"souk_consumer_failed_total", "", metricValue(t, reg, "souk_consumer_failed_total", "dlq-test", ""), c.Counts.Failed.Load()},
		{"souk_consumer_dead_letters_total", "handler", metricValue(t, reg, "souk_consumer_dead_letters_total", "dlq-test", "handler"), 4},
		{"souk_consumer_batch_size (sum)", "", metricValue(t, reg, "souk_consumer_batch_size", "dlq-test", ""), 15},
	} {
		if m.got != float64(m.want) {
			t.Errorf("%s{cause=%q} = %v, want %d", m.name, m.cause, m.got, m.want)
		}
	}
	if a, f := c.Counts.Applied.Load(), c.Counts.Failed.Load(); a != 5 || f != 10 {
		t.Errorf("counted %d applied and %d failed, want 5 and 10", a, f)
	}

	if rows, events := e.effects(); rows != 5 || events != 5 {
		t.Fatalf("%d effect rows for %d events, want the 5 good ones once each", rows, events)
	}
	wantErr := map[string]string{
		"poison": "decode: undecodable payload", "failing": "stock service says no",
		"panicky": "handler panicked: nil map somewhere", "breaker": "violates foreign key constraint",
	}
	wantDeliveries := map[string][]int{"poison": {1}, "failing": {1, 2, 3}, "panicky": {1, 2, 3}, "breaker": {1, 2, 3}}
	letters := readDLQ(t, e, len(wantErr))
	for id, want := range wantErr {
		l, ok := letters[id]
		if !ok {
			t.Fatalf("no dead letter for %s", id)
		}
		h := l.Header
		if l.Subject != "souk.dlq.ORDERS.dlq-test" || !strings.Contains(h.Get(consumer.DLQError), want) ||
			h.Get(consumer.DLQSubject) != subjectOf(id) || h.Get(consumer.DLQStream) != "ORDERS" ||
			h.Get(consumer.DLQSequence) != fmt.Sprint(slices.Index(order, id)+1) ||
			h.Get(consumer.DLQConsumer) != "dlq-test" || h.Get(jetstream.MsgIDHeader) != "dlq:dlq-test:"+id ||
			h.Get("Souk-Test") != "kept" || string(l.Data) != string(payloadOf(id)) {
			t.Errorf("dead letter of %s: subject %s, headers %v, data %s", id, l.Subject, h, l.Data)
		}
		mu.Lock()
		got := seen[id]
		mu.Unlock()
		if !slices.Equal(got, wantDeliveries[id]) {
			t.Errorf("%s was handled on deliveries %v, want %v", id, got, wantDeliveries[id])
		}
	}

	raw, dead := e.log.all("error", "consumer: dead letter")
	if len(dead) != len(wantErr) {
		t.Errorf("%d dead letters logged, want %d: %v", len(dead), len(wantErr), dead)
	}
	for _, l := range dead {
		if l["consumer"] != "dlq-test" || l["subject"] != subjectOf(l["event_id"].(string)) || l["error"] == "" {
			t.Errorf("dead letter log line lacks consumer, subject, event id or error: %v", l)
		}
	}
	for _, line := range raw {
		if strings.Contains(line, payloadMarker) {
			t.Fatalf("a log line holds the payload: %s", line)
		}
	}
}

func TestBacklogIsAppliedInFewTransactions(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.publish(eventIDs("backlog", 500)...)
	var mu sync.Mutex
	var commits, applied, biggest int
	c := e.consumer("batching", record)
	c.AfterCommit = func(ms []consumer.Msg) {
		mu.Lock()
		defer mu.Unlock()
		commits++
		applied += len(ms)
		biggest = max(biggest, len(ms))
	}
	e.run(c)
	waitFor(t, func() error { // AfterCommit runs after the acks
		mu.Lock()
		defer mu.Unlock()
		if applied < 500 {
			return fmt.Errorf("%d of 500 applied", applied)
		}
		return nil
	})
	e.settled("batching", 500)
	mu.Lock()
	defer mu.Unlock()
	t.Logf("500 events in %d transactions, the biggest of %d", commits, biggest)
	if applied != 500 || commits > 50 || biggest > 64 {
		t.Fatalf("%d events applied in %d transactions (biggest %d): want 500 in at most 50, none above Batch 64", applied, commits, biggest)
	}
	if rows, events := e.effects(); rows != 500 || events != 500 {
		t.Fatalf("%d effect rows for %d events, want 500 for 500", rows, events)
	}
}

func TestInstancesShareTheWork(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// Each instance holds its first batch until the other has one too, so both must be given
	// messages whatever the timing (a pull request lost at start-up heals within 5 s).
	started := [2]chan struct{}{make(chan struct{}), make(chan struct{})}
	var once [2]sync.Once
	var counts [2]atomic.Int64
	for i := range counts {
		c := e.consumer("shared", func(ctx context.Context, tx pgx.Tx, m consumer.Msg) error {
			once[i].Do(func() { close(started[i]) })
			select {
			case <-started[1-i]:
			case <-ctx.Done():
				return ctx.Err()
			}
			return record(ctx, tx, m)
		})
		c.Batch = 16
		c.AfterCommit = func(ms []consumer.Msg) { counts[i].Add(int64(len(ms))) }
		e.run(c)
	}
	e.publish(eventIDs("shared", 600)...)
	waitFor(t, func() error { // AfterCommit runs after the acks
		if n := counts[0].Load() + counts[1].Load(); n < 600 {
			return fmt.Errorf("%d of 600 applied", n)
		}
		return nil
	})
	e.settled("shared", 600)
	a, b := counts[0].Load(), counts[1].Load()
	t.Logf("instance 1 applied %d, instance 2 applied %d", a, b)
	if a+b != 600 || a == 0 || b == 0 {
		t.Fatalf("instances applied %d and %d: want 600 together, both some", a, b)
	}
	if rows, events := e.effects(); rows != 600 || events != 600 {
		t.Fatalf("%d effect rows for %d events, want 600 for 600", rows, events)
	}
}

func TestPruneDropsOnlyOldRowsOfItsConsumer(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if _, err := e.db.Exec(e.ctx, `insert into shop.processed (consumer, event_id, processed_at) values
		('mine', 'old', now() - interval '31 days'), ('mine', 'recent', now() - interval '29 days'),
		('other', 'old', now() - interval '31 days')`); err != nil {
		t.Fatal(err)
	}
	consumer.Prune(e.ctx, e.consumer("mine", record))
	rows, err := e.db.Query(e.ctx, `select consumer || '/' || event_id from shop.processed order by 1`)
	if err != nil {
		t.Fatal(err)
	}
	left, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(left, []string{"mine/recent", "other/old"}) {
		t.Fatalf("left after prune: %v", left)
	}
}

func TestRunRefusesWhatItCannotSetUp(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	missing := e.consumer("nowhere", record)
	missing.Stream = "NO_SUCH_STREAM"
	badName := e.consumer("bad.name", record)
	noHandler := e.consumer("idle", nil)
	for _, c := range []*consumer.Consumer{missing, badName, noHandler} {
		if err := c.Run(e.ctx); err == nil {
			t.Errorf("Run of %q on %s returned nil", c.Name, c.Stream)
		}
	}
}

func TestDatabaseOutageHoldsTheBatchAndBurnsNoDelivery(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	proxy := startProxy(t, e.dsn)
	db, err := pg.Open(e.ctx, proxy.dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	c := e.consumer("outage", record)
	c.DB = db
	// One delivery and a short AckWait: were the outage counted as the message's failure, or
	// its ack timer let run out, it would be dead-lettered or delivered again.
	c.MaxDeliver = 1
	c.AckWait = time.Second
	e.run(c)
	e.publish("before")
	e.settled("outage", 1)

	proxy.cut()
	e.publish("during")
	waitFor(t, func() error {
		if _, held := e.log.all("warn", "consumer: database unavailable; holding the batch"); len(held) < 3 {
			return fmt.Errorf("held %d times, want 3 (longer than AckWait)", len(held))
		}
		return nil
	})
	proxy.restore()
	e.settled("outage", 2)

	var delivered int
	if err := e.db.QueryRow(e.ctx, `select delivered from shop.effects where event_id = 'during'`).Scan(&delivered); err != nil {
		t.Fatal(err)
	}
	if delivered != 1 {
		t.Fatalf("the held event was applied on delivery %d, want 1", delivered)
	}
	cons, err := e.js.Consumer(e.ctx, "ORDERS", "outage")
	if err != nil {
		t.Fatal(err)
	}
	info, err := cons.Info(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Delivered.Consumer != 2 {
		t.Fatalf("%d deliveries of 2 events: the held one was redelivered", info.Delivered.Consumer)
	}
	if rows, events := e.effects(); rows != 2 || events != 2 {
		t.Fatalf("%d effect rows for %d events, want 2 for 2", rows, events)
	}
	if n := dlqCount(t, e); n != 0 {
		t.Fatalf("%d dead letters after an outage, want none", n)
	}
}

func TestShutdownFinishesTheBatchInHandAndHandsBackTheRest(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	started, release := make(chan struct{}), make(chan struct{})
	c := e.consumer("shutdown", func(ctx context.Context, tx pgx.Tx, m consumer.Msg) error {
		if m.EventID == "slow" {
			close(started)
			<-release
			if err := ctx.Err(); err != nil {
				return err // the handler's context must outlive Run's
			}
		}
		return record(ctx, tx, m)
	})
	c.Batch = 1 // "slow" alone in hand; the others wait in the buffers
	e.publish("slow", "next-1", "next-2")
	ctx, cancel := context.WithCancel(e.ctx)
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	<-started
	cancel()
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("Run after its context ended: %v", err)
	}
	if rows, _ := e.effects(); rows != 1 {
		t.Fatalf("%d effect rows after the stop, want the batch in hand only", rows)
	}

	// The buffered messages were handed back, not left to their 30 s AckWait: another
	// instance applies them at once.
	e.run(e.consumer("shutdown", record))
	e.settled("shutdown", 3)
	if rows, events := e.effects(); rows != 3 || events != 3 {
		t.Fatalf("%d effect rows for %d events, want 3 for 3", rows, events)
	}
}

func TestHangingHandlerFailsAloneAndStopsNothingForLong(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	hung := make(chan struct{}, 8)
	c := e.consumer("hanging", func(ctx context.Context, tx pgx.Tx, m consumer.Msg) error {
		if strings.HasPrefix(m.EventID, "hang") {
			hung <- struct{}{}
			<-ctx.Done() // a handler that ignores its deadlines but for ctx
			return ctx.Err()
		}
		return record(ctx, tx, m)
	})
	c.AckWait = 500 * time.Millisecond
	c.MaxDeliver = 1
	e.publish("ok-1", "ok-2", "hang")
	stop := e.run(c)
	// The batch runs out of time; alone, "hang" runs out again and is dead-lettered, and its
	// batchmates are applied.
	e.settled("hanging", 3)
	if rows, events := e.effects(); rows != 2 || events != 2 {
		t.Fatalf("%d effect rows for %d events, want the 2 good ones", rows, events)
	}
	letters := readDLQ(t, e, 1)
	if l := letters["hang"]; l == nil || !strings.Contains(l.Header.Get(consumer.DLQError), "deadline exceeded") {
		t.Fatalf("dead letters: %v", letters)
	}

	// A stop while a handler hangs waits for the batch in hand, bounded by AckWait.
	for len(hung) > 0 {
		<-hung
	}
	e.publish("hang-2")
	<-hung
	began := time.Now()
	stop()
	if took := time.Since(began); took > 3*c.AckWait {
		t.Fatalf("Run took %s to stop while a handler hung, want about AckWait (%s)", took, c.AckWait)
	}
}

func TestIdempotentConsumerWritesNoProcessedRows(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if _, err := e.db.Exec(e.ctx, `create table shop.states (event_id text primary key, delivered int not null)`); err != nil {
		t.Fatal(err)
	}
	ids := eventIDs("state", 40)
	e.publish(ids...)
	var calls atomic.Int64
	// Idempotent by its own state: a second application finds the row and changes nothing.
	c := e.consumer("by-state", func(ctx context.Context, tx pgx.Tx, m consumer.Msg) error {
		calls.Add(1)
		_, err := tx.Exec(ctx, `insert into shop.states (event_id, delivered) values ($1, $2) on conflict do nothing`, m.EventID, m.Delivered)
		return err
	})
	c.Idempotent = true
	stop := e.run(c)
	e.settled("by-state", 40)
	stop()

	// Every event delivered again (the consumer recreated from scratch): with no processed
	// row to recognise them, each handler runs again and finds its own state.
	if err := e.js.DeleteConsumer(e.ctx, "ORDERS", "by-state"); err != nil {
		t.Fatal(err)
	}
	stop = e.run(c)
	e.settled("by-state", 40)
	stop()
	var processed, states int
	if err := e.db.QueryRow(e.ctx, `select (select count(*) from shop.processed where consumer = 'by-state'),
		(select count(*) from shop.states)`).Scan(&processed, &states); err != nil {
		t.Fatal(err)
	}
	if processed != 0 || states != 40 || calls.Load() != 80 {
		t.Fatalf("%d processed rows, %d states, %d handler calls; want none, 40 and 80 (each event applied twice, changing nothing the second time)",
			processed, states, calls.Load())
	}
}

// Prepare reads, in the batch's transaction, what the batch's handlers share, and they get
// what it read through their context; when a handler fails and the batch runs again, so does
// Prepare, with the messages still to apply.
func TestPrepareRunsInEveryBatchTransactionBeforeItsHandlers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ids := eventIDs("prep", 30)
	e.publish(ids...) // before the consumer runs: its first batches are large
	type prepared struct{}
	var mu sync.Mutex
	var batches [][]string
	var unseen []string
	failed := false
	c := e.consumer("prep", func(ctx context.Context, tx pgx.Tx, m consumer.Msg) error {
		mu.Lock()
		defer mu.Unlock()
		if in, _ := ctx.Value(prepared{}).(map[string]bool); !in[m.EventID] {
			unseen = append(unseen, m.EventID)
		}
		if m.EventID == "prep-013" && !failed {
			failed = true
			return errors.New("once") // the batch runs again, guarded
		}
		return record(ctx, tx, m)
	})
	c.Backoff = func(int) time.Duration { return 10 * time.Millisecond }
	c.Prepare = func(ctx context.Context, tx pgx.Tx, batch []consumer.Msg) (context.Context, error) {
		var n int // a read in the batch's transaction
		if err := tx.QueryRow(ctx, `select count(*) from shop.effects`).Scan(&n); err != nil {
			return ctx, err
		}
		in := map[string]bool{}
		var names []string
		for _, m := range batch {
			in[m.EventID] = true
			names = append(names, m.EventID)
		}
		mu.Lock()
		batches = append(batches, names)
		mu.Unlock()
		return context.WithValue(ctx, prepared{}, in), nil
	}
	e.run(c)
	e.settled("prep", 30)
	if rows, events := e.effects(); rows != 30 || events != 30 {
		t.Fatalf("%d effect rows for %d events, want 30 for 30", rows, events)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(unseen) > 0 {
		t.Errorf("handlers ran without their batch prepared: %v", unseen)
	}
	var again, large bool
	for i, b := range batches {
		large = large || len(b) > 1
		// The failed batch's second run, guarded: the failed message is not run again in it
		// (it is redelivered), the others are.
		if i > 0 && slices.Contains(batches[i-1], "prep-013") && slices.Contains(batches[i-1], "prep-014") &&
			!slices.Contains(b, "prep-013") && slices.Contains(b, "prep-014") {
			again = true
		}
	}
	if !large || !again {
		t.Errorf("Prepare's batches %v: want one of several messages, and the failed one's batch run again without it", batches)
	}
}
