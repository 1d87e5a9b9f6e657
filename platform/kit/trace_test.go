package kit_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	oteltrace "go.opentelemetry.io/otel/trace"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/nats/natstest"
	"github.com/souk/souk/platform/kit"
	"github.com/souk/souk/platform/pgtest"
	"github.com/souk/souk/platform/trace"
	"github.com/souk/souk/subjects"
)

// A request's event, relayed later from the outbox, is consumed in a span that is the child of
// the request's server span: the outbox row carried the trace context, and the relay sent it.
func TestAnEventsConsumerSpanIsItsWritersChild(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db := pgtest.Pool(t, ctx)
	nc, js := natstest.JetStream(t, ctx)
	exp := tracetest.NewInMemoryExporter()
	tracing := trace.With(trace.Config{}, nil, sdktrace.NewSimpleSpanProcessor(exp))
	var rounds atomic.Int32
	deps := kit.Deps{Log: zerolog.Nop(), DB: db, NC: nc, JS: js, Registry: prometheus.NewRegistry(), StreamsReady: true, Tracing: tracing}
	r := expect.Start(t, func(ctx context.Context) error { return kit.Run(ctx, deps, declare(db, &rounds)) })

	cctx, caller := trace.Tracer(tracing.Provider("caller")).Start(ctx, "caller")
	cctx = subjects.WithMeta(cctx, subjects.Meta{RequestID: "req-9"})
	expect.Within(t, 20*time.Second, func() error {
		_, err := thingMake.Call(cctx, nc, thing{ID: "t1"})
		return err
	})
	caller.End()
	var server, consumed tracetest.SpanStub
	expect.Within(t, 30*time.Second, func() error {
		for _, sp := range exp.GetSpans() {
			switch {
			case sp.SpanKind == oteltrace.SpanKindServer && sp.Name == thingMake.Subject:
				server = sp
			case sp.SpanKind == oteltrace.SpanKindConsumer && sp.Name == evtThing.Kind:
				consumed = sp
			}
		}
		if !consumed.SpanContext.IsValid() {
			return fmt.Errorf("no consumer span yet")
		}
		return nil
	})
	if consumed.Parent.SpanID() != server.SpanContext.SpanID() || consumed.SpanContext.TraceID() != caller.SpanContext().TraceID() {
		t.Fatalf("the consumer's span: parent %v trace %v; want the child of the server span %v in trace %v",
			consumed.Parent.SpanID(), consumed.SpanContext.TraceID(), server.SpanContext.SpanID(), caller.SpanContext().TraceID())
	}
	var requestID string
	if err := db.QueryRow(ctx, `select coalesce(request_id, '') from kittest.outbox`).Scan(&requestID); err != nil || requestID != "req-9" {
		t.Fatalf("the outbox row's request id %q (%v), want the request's", requestID, err)
	}
	if err := r.Stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
}
