package bus_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/nats/bus"
	"github.com/souk/souk/nats/natstest"
	"github.com/souk/souk/platform/consumer"
	"github.com/souk/souk/platform/outbox"
	"github.com/souk/souk/platform/pgtest"
	"github.com/souk/souk/subjects"
)

// A consumer down while its saga stream fills past its limits: the stream refuses what it
// cannot hold, the outbox keeps those events, and once the consumer is back every event is
// applied, none lost and none twice. The stream is ORDERS as declared, with a small MaxMsgs.
// (With LimitsPolicy and DiscardOld the stream took every publish and dropped the oldest,
// undelivered events.)
func TestAFullStreamHoldsEventsBackInTheOutbox(t *testing.T) {
	const limit, events = 20, 60
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	db := pgtest.Pool(t, ctx)
	if err := errors.Join(outbox.Migrate(ctx, db, "shop"), consumer.Migrate(ctx, db, "shop")); err != nil {
		t.Fatal(err)
	}
	// No unique constraint: only the processed table may keep an event from applying twice.
	if _, err := db.Exec(ctx, `create table shop.applied (event_id text not null)`); err != nil {
		t.Fatal(err)
	}
	js := bare(t)
	cfg, _ := bus.Stream("ORDERS")
	cfg.MaxMsgs = limit
	if _, err := js.CreateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	// Declared before anything publishes, as EnsureStreams does; its service is down.
	filter := "souk.evt.order.placed.*"
	if _, err := js.CreateConsumer(ctx, "ORDERS", jetstream.ConsumerConfig{Durable: "shop-orders", FilterSubject: filter,
		DeliverPolicy: jetstream.DeliverAllPolicy, AckPolicy: jetstream.AckExplicitPolicy}); err != nil {
		t.Fatal(err)
	}
	ids := addEvents(t, ctx, db, events)
	expect.Start(t, outbox.NewRelay("shop", db, js, zerolog.Nop()).Run)

	// The stream fills to its limit and the rest waits in the outbox.
	expect.Within(t, 30*time.Second, func() error {
		msgs, unsent := streamMsgs(ctx, js), count(ctx, db, `select count(*) from shop.outbox_pending`)
		if msgs != limit || unsent != events-limit {
			return fmt.Errorf("stream holds %d (want %d), outbox %d unsent (want %d)", msgs, limit, unsent, events-limit)
		}
		return nil
	})
	// What a publisher is told: refused, not taken and dropped.
	_, err := js.Publish(ctx, "souk.evt.order.placed.probe", []byte(`{}`))
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) || apiErr.Code != 503 || apiErr.Description != "maximum messages exceeded" {
		t.Fatalf("publish to a full stream: %v, want 503 maximum messages exceeded", err)
	}

	// The service comes back.
	c := &consumer.Consumer{Name: "shop-orders", Stream: "ORDERS", Subjects: []string{filter}, Schema: "shop",
		DB: db, JS: js, Log: zerolog.Nop(), Batch: 8,
		Handle: func(ctx context.Context, tx pgx.Tx, m consumer.Msg) error {
			_, err := tx.Exec(ctx, `insert into shop.applied (event_id) values ($1)`, m.EventID)
			return err
		}}
	expect.Start(t, c.Run)
	expect.Within(t, 60*time.Second, func() error {
		if n := count(ctx, db, `select count(*) from shop.applied`); n < events {
			return fmt.Errorf("%d of %d events applied", n, events)
		}
		if n := streamMsgs(ctx, js); n != 0 {
			return fmt.Errorf("the stream still holds %d applied events", n)
		}
		// Applied before the relay has marked the last rows sent: wait for the marks too.
		if n := count(ctx, db, `select count(*) from shop.outbox_pending`); n != 0 {
			return fmt.Errorf("%d events published but not yet marked sent", n)
		}
		return nil
	})
	missing := count(ctx, db, `select count(*) from shop.outbox o where not exists (select from shop.applied a where a.event_id = o.id::text)`)
	twice := count(ctx, db, `select count(*) from (select event_id from shop.applied group by event_id having count(*) > 1) d`)
	unsent := count(ctx, db, `select count(*) from shop.outbox_pending`)
	if applied := count(ctx, db, `select count(*) from shop.applied`); applied != len(ids) || missing != 0 || twice != 0 || unsent != 0 {
		t.Fatalf("%d applications of %d events: %d never applied, %d applied twice, %d unsent", applied, len(ids), missing, twice, unsent)
	}
}

// addEvents commits n order.placed events to shop's outbox, one transaction each, oldest
// first, and returns their ids.
func addEvents(t *testing.T, ctx context.Context, db *pgxpool.Pool, n int) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range ids {
		id := outbox.NewID()
		ids[i] = id.String()
		err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
			payload := json.RawMessage(fmt.Sprintf(`{"order_id":%q,"n":%d}`, id, i))
			return outbox.Add(ctx, tx, "shop", outbox.Event{ID: id, Subject: "souk.evt.order.placed." + id.String(), Payload: payload})
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

// streamMsgs is how many messages ORDERS holds; -1 when it cannot tell.
func streamMsgs(ctx context.Context, js jetstream.JetStream) int {
	s, err := js.Stream(ctx, "ORDERS")
	if err != nil {
		return -1
	}
	info, err := s.Info(ctx)
	if err != nil {
		return -1
	}
	return int(info.State.Msgs)
}

// count runs a count query; -1 when it fails.
func count(ctx context.Context, db *pgxpool.Pool, query string) int {
	var n int
	if err := db.QueryRow(ctx, query).Scan(&n); err != nil {
		return -1
	}
	return n
}

// Upgrading from a release whose ORDERS was a Limits stream: EnsureStreams turns it into an
// interest stream that keeps exactly what a consumer has not applied yet. Every declared
// consumer exists (the old release's services created them); all of them applied the five
// events but inventory-orders, which applied the first three.
func TestEnsureTurnsALimitsStreamIntoInterestKeepingTheUnapplied(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	js := bare(t)
	old, _ := bus.Stream("ORDERS")
	old.Retention, old.Discard, old.MaxMsgs, old.MaxBytes, old.MaxAge = jetstream.LimitsPolicy, jetstream.DiscardOld, -1, 256<<20, 30*24*time.Hour
	if _, err := js.CreateStream(ctx, old); err != nil {
		t.Fatal(err)
	}
	applied := map[string]int{}
	for _, c := range bus.Consumers {
		if c.Stream != "ORDERS" {
			continue
		}
		if _, err := js.CreateConsumer(ctx, "ORDERS", jetstream.ConsumerConfig{Durable: c.Name, FilterSubjects: c.Subjects,
			DeliverPolicy: jetstream.DeliverAllPolicy, AckPolicy: jetstream.AckExplicitPolicy}); err != nil {
			t.Fatal(err)
		}
		if slices.Contains(c.Subjects, subjects.EvtOrder.Filter()) || slices.Contains(c.Subjects, subjects.EvtOrderPlaced.Filter()) {
			applied[c.Name] = 5 // the others are not given order.placed
		}
	}
	applied["inventory-orders"] = 3
	for i := range 5 {
		if _, err := js.Publish(ctx, fmt.Sprintf("souk.evt.order.placed.o%d", i), []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
	}
	for name, n := range applied {
		cons, err := js.Consumer(ctx, "ORDERS", name)
		if err != nil {
			t.Fatal(err)
		}
		batch, err := cons.Fetch(n, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		for m := range batch.Messages() {
			if err := m.DoubleAck(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}

	if err := bus.EnsureStreams(ctx, js); err != nil {
		t.Fatal(err)
	}
	s, err := js.Stream(ctx, "ORDERS")
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if c := info.Config; c.Retention != jetstream.InterestPolicy || c.Discard != jetstream.DiscardNew || info.State.Msgs != 2 {
		t.Fatalf("after the upgrade: %v, %v, %d messages; want interest, discard new, the 2 inventory-orders has not applied", c.Retention, c.Discard, info.State.Msgs)
	}
	cons, err := js.Consumer(ctx, "ORDERS", "inventory-orders")
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.FetchNoWait(5)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for m := range batch.Messages() {
		got = append(got, m.Subject())
	}
	if fmt.Sprint(got) != "[souk.evt.order.placed.o3 souk.evt.order.placed.o4]" {
		t.Fatalf("inventory-orders is delivered %v after the upgrade", got)
	}
}

// bare is a JetStream context on an embedded server without streams.
func bare(t *testing.T) jetstream.JetStream {
	t.Helper()
	_, nc := natstest.Server(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}
