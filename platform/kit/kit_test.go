package kit_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/nats/natstest"
	"github.com/souk/souk/platform/consumer"
	"github.com/souk/souk/platform/kit"
	"github.com/souk/souk/platform/outbox"
	"github.com/souk/souk/platform/pgtest"
	"github.com/souk/souk/platform/rpc"
	"github.com/souk/souk/subjects"
)

type thing struct {
	ID string `json:"id"`
}

// The test service: one endpoint that stores a thing with its event, one consumer that
// records the events it sees, one loop.
var (
	thingMake = subjects.Endpoint[thing, thing]{Subject: "souk.kittest.v1.thing.make", Access: subjects.Public}
	evtThing  = subjects.Event[thing]{EventKind: subjects.EventKind{Stream: subjects.StreamOrders, Kind: "souk.evt.order.kittest"}}
)

const schema = "kittest"

func declare(db *pgxpool.Pool, rounds *atomic.Int32) kit.Service {
	return kit.Service{
		Name: "kittest", Version: "0.0.1", Description: "the kit's test service",
		Schema: schema, Migrations: os.DirFS("testdata"),
		Publishes: []subjects.EventKind{evtThing.EventKind},
		Endpoints: []rpc.Binding{rpc.Bind(thingMake, func(ctx context.Context, t thing) (thing, error) {
			tx, err := db.Begin(ctx)
			if err != nil {
				return t, err
			}
			defer func() { _ = tx.Rollback(ctx) }()
			if _, err := tx.Exec(ctx, `insert into kittest.things (id) values ($1)`, t.ID); err != nil {
				return t, err
			}
			if err := outbox.Add(ctx, tx, schema, outbox.Event{Subject: evtThing.Subject(t.ID), Payload: t}); err != nil {
				return t, err
			}
			return t, tx.Commit(ctx)
		})},
		Consumers: []*consumer.Consumer{{Name: "kittest-things", On: []consumer.Route{
			consumer.On(evtThing, func(ctx context.Context, tx pgx.Tx, t thing) error {
				_, err := tx.Exec(ctx, `insert into kittest.seen (id) values ($1)`, t.ID)
				return err
			})}}},
		Loops: []kit.Loop{{Name: "counter", Every: time.Hour, Round: func(context.Context) bool {
			rounds.Add(1)
			return false
		}}},
	}
}

// bed is what a test runs the test service on: a database of its own, an embedded NATS
// server with the streams, the service declared on them, and the kit's dependencies.
type bed struct {
	ctx    context.Context
	db     *pgxpool.Pool
	nc     *nats.Conn
	js     jetstream.JetStream
	rounds atomic.Int32 // the loop's
	svc    kit.Service
	deps   kit.Deps
}

func newBed(t *testing.T) *bed {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	b := &bed{ctx: ctx, db: pgtest.Pool(t, ctx)}
	b.nc, b.js = natstest.JetStream(t, ctx)
	b.svc = declare(b.db, &b.rounds)
	b.deps = kit.Deps{Log: zerolog.Nop(), DB: b.db, NC: b.nc, JS: b.js, Registry: prometheus.NewRegistry(), StreamsReady: true}
	return b
}

// A service declared to the kit is migrated, served, relayed and consumed: a request's event
// reaches its consumer, its loop runs, and what it publishes and consumes is in its micro
// metadata.
func TestRunServesRelaysConsumesAndLoops(t *testing.T) {
	b := newBed(t)
	ctx, db, nc, rounds := b.ctx, b.db, b.nc, &b.rounds
	r := expect.Start(t, func(ctx context.Context) error { return kit.Run(ctx, b.deps, b.svc) })

	expect.Within(t, 20*time.Second, func() error {
		_, err := thingMake.Call(ctx, nc, thing{ID: "t1"})
		return err
	})
	expect.Within(t, 20*time.Second, func() error {
		var n int
		if err := db.QueryRow(ctx, `select count(*) from kittest.seen where id = 't1'`).Scan(&n); err != nil {
			return err
		}
		if n != 1 {
			return fmt.Errorf("the consumer saw t1 %d times", n)
		}
		return nil
	})
	if rounds.Load() < 1 {
		t.Fatal("the loop never ran")
	}
	info, err := nc.Request("$SRV.INFO.kittest", nil, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var si micro.Info
	if err := json.Unmarshal(info.Data, &si); err != nil {
		t.Fatal(err)
	}
	if si.Metadata["publishes"] != evtThing.Kind || !strings.Contains(si.Metadata["consumes"], "kittest-things="+evtThing.Filter()) {
		t.Fatalf("micro metadata %v; want what the service publishes and consumes", si.Metadata)
	}
	if err := r.Stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
}

func TestCheckRefusesAnIncompleteDeclaration(t *testing.T) {
	nop := func(context.Context) error { return nil }
	for name, svc := range map[string]kit.Service{
		"no name":             {},
		"outbox no schema":    {Name: "x", Publishes: []subjects.EventKind{evtThing.EventKind}},
		"consumer no routes":  {Name: "x", Schema: "x", Consumers: []*consumer.Consumer{{Name: "x-y"}}},
		"loop run and round":  {Name: "x", Loops: []kit.Loop{{Name: "l", Run: nop, Round: func(context.Context) bool { return false }, Every: time.Second}}},
		"round without every": {Name: "x", Loops: []kit.Loop{{Name: "l", Round: func(context.Context) bool { return false }}}},
		"two loops one name":  {Name: "x", Loops: []kit.Loop{{Name: "l", Run: nop}, {Name: "l", Run: nop}}},
		"publishes a family":  {Name: "x", Schema: "x", Publishes: []subjects.EventKind{subjects.EvtOrder.EventKind}},
	} {
		if err := svc.Check(); err == nil {
			t.Errorf("%s: accepted", name)
		}
		if err := kit.Run(context.Background(), kit.Deps{}, svc); err == nil || errors.Is(err, context.Canceled) {
			t.Errorf("%s: Run started: %v", name, err)
		}
	}
}

var evtEcho = subjects.Event[thing]{EventKind: subjects.EventKind{Stream: subjects.StreamOrders, Kind: "souk.evt.order.kittestecho"}}

// A consumer's batch that wrote events kicks the relay, which publishes them then, not at
// its next look at the outbox (an hour away here). Batches that wrote nothing do not kick
// it (what that saves is counted by bench/statements.sh: relay rounds per checkout).
func TestAConsumerBatchThatWroteEventsKicksTheRelay(t *testing.T) {
	b := newBed(t)
	ctx, js, svc := b.ctx, b.js, &b.svc
	svc.RelayPoll = time.Hour // only a kick sends the relay looking
	svc.Publishes = append(svc.Publishes, evtEcho.EventKind)
	svc.Consumers = []*consumer.Consumer{{Name: "kittest-echo", On: []consumer.Route{
		consumer.On(evtThing, func(ctx context.Context, tx pgx.Tx, th thing) error {
			if !strings.HasPrefix(th.ID, "echo-") {
				return nil // writes nothing
			}
			return outbox.Add(ctx, tx, schema, outbox.Event{Subject: evtEcho.Subject(th.ID), Payload: th})
		})}}}
	expect.Start(t, func(ctx context.Context) error { return kit.Run(ctx, b.deps, *svc) })
	expect.Within(t, 20*time.Second, func() error {
		_, err := js.Consumer(ctx, subjects.StreamOrders, "kittest-echo")
		return err
	})
	stream, err := js.Stream(ctx, subjects.StreamOrders)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"quiet-1", "echo-1", "quiet-2", "echo-2"} { // as another service's relay would
		data, _ := json.Marshal(thing{ID: id})
		if _, err := js.Publish(ctx, evtThing.Subject(id), data); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"echo-1", "echo-2"} {
		expect.Within(t, 20*time.Second, func() error {
			_, err := stream.GetLastMsgForSubject(ctx, evtEcho.Subject(id))
			return err
		})
	}
}
