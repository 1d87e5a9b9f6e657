package consumer_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/souk/souk/platform/consumer"
	"github.com/souk/souk/subjects"
)

// placed is the test's view of order.placed: the id and the marker its payloads carry.
type placed struct {
	ID   string `json:"id"`
	Note string `json:"note"`
}

var evtPlaced = subjects.Event[placed]{EventKind: subjects.EventKind{Stream: subjects.StreamOrders, Kind: "souk.evt.order.placed"}}

// A typed route gets the decoded payload and the delivery; a payload that does not decode is
// a poison message: dead-lettered with its error at the first delivery, its handler never
// run, and the events behind it applied.
func TestOnDecodesOnceAndDeadLettersAPayloadThatDoesNotDecode(t *testing.T) {
	e := newEnv(t)
	got := make(chan placed, 8)
	c := &consumer.Consumer{Name: "typed", Schema: "shop", DB: e.db, JS: e.js, Log: zerolog.New(e.log),
		On: []consumer.Route{consumer.On(evtPlaced, func(ctx context.Context, tx pgx.Tx, ev placed) error {
			if ev.Note != payloadMarker {
				return errors.New("payload not decoded")
			}
			got <- ev
			return record(ctx, tx, consumer.MsgOf(ctx))
		})}}
	if f := c.Filters(); len(f) != 1 || f[0] != "souk.evt.order.placed.*" || c.StreamName() != subjects.StreamOrders {
		t.Fatalf("filters %v on %q; want the route's filter on ORDERS", f, c.StreamName())
	}
	stop := e.run(c)
	defer stop()

	e.publish("good-1")
	bad := nats.NewMsg(subjectOf("bad-1"))
	bad.Data = []byte(`{"id": 7`)
	if _, err := e.js.PublishMsg(e.ctx, bad, jetstream.WithMsgID("bad-1")); err != nil {
		t.Fatal(err)
	}
	e.publish("good-2")
	e.settled("typed", 3)

	letters := readDLQ(t, e, 1)
	dl, ok := letters["bad-1"]
	if !ok {
		t.Fatalf("dead letters %v; want bad-1", letters)
	}
	if msg := dl.Header.Get(consumer.DLQError); !strings.Contains(msg, "unreadable payload") {
		t.Fatalf("dead letter error %q; want the decoding error", msg)
	}
	rows, events := e.effects()
	if rows != 2 || events != 2 {
		t.Fatalf("%d effects of %d events; want the two good events applied once each", rows, events)
	}
	for range 2 {
		if ev := <-got; ev.ID != "good-1" && ev.ID != "good-2" {
			t.Fatalf("handler got %+v", ev)
		}
	}
}

// Routes are the consumer's subscription: they cannot be mixed with a raw Handle, nor span
// two streams.
func TestOnRefusesMixedOrCrossStreamRoutes(t *testing.T) {
	e := newEnv(t)
	nop := func(context.Context, pgx.Tx, placed) error { return nil }
	paid := subjects.Event[placed]{EventKind: subjects.EventKind{Stream: subjects.StreamPayments, Kind: "souk.evt.payment.succeeded"}}
	for name, c := range map[string]*consumer.Consumer{
		"mixed": {Name: "mixed", On: []consumer.Route{consumer.On(evtPlaced, nop)}, Handle: record},
		"cross": {Name: "cross", On: []consumer.Route{consumer.On(evtPlaced, nop), consumer.On(paid, nop)}},
	} {
		c.Schema, c.DB, c.JS, c.Log = "shop", e.db, e.js, zerolog.Nop()
		if err := c.Run(e.ctx); err == nil {
			t.Errorf("%s: Run accepted the routes", name)
		}
	}
}
