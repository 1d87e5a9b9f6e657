package rpc_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	oteltrace "go.opentelemetry.io/otel/trace"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/internal/logtest"
	"github.com/souk/souk/nats/natstest"
	"github.com/souk/souk/platform/rpc"
	"github.com/souk/souk/platform/trace"
	"github.com/souk/souk/subjects"
)

// A call from a traced context is a client span of the caller's service, and the server's
// span is its child, in the serving service's name; the handler's logger names the trace,
// the span and the request.
func TestServerSpanIsTheCallersChild(t *testing.T) {
	_, nc := natstest.Server(t)
	exp := tracetest.NewInMemoryExporter()
	tr := trace.With(trace.Config{}, nil, sdktrace.NewSimpleSpanProcessor(exp))
	var logs logtest.Buffer
	svc, err := rpc.New(rpc.Config{Name: "thing", Version: "0.0.1"},
		rpc.Deps{Log: zerolog.New(&logs), NC: nc, Registry: prometheus.NewRegistry(), Tracer: tr.Provider("thing")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Stop(context.Background()) })
	var inHandler oteltrace.SpanContext
	if err := svc.Add(rpc.BindRaw(ep, ep.Serve(func(ctx context.Context, r req) (req, error) {
		inHandler = oteltrace.SpanContextFromContext(ctx)
		zerolog.Ctx(ctx).Info().Msg("handled")
		return r, nil
	}))); err != nil {
		t.Fatal(err)
	}
	ctx, caller := trace.Tracer(tr.Provider("gateway")).Start(context.Background(), "GET /thing")
	ctx = subjects.WithMeta(ctx, subjects.Meta{RequestID: "req-7"})
	if _, err := ep.Call(ctx, nc, req{}); err != nil {
		t.Fatal(err)
	}
	caller.End()

	spans := map[oteltrace.SpanKind]tracetest.SpanStub{}
	expect.Within(t, 10*time.Second, func() error { // the server's span ends after its reply
		for _, sp := range exp.GetSpans() {
			spans[sp.SpanKind] = sp
		}
		if _, ok := spans[oteltrace.SpanKindServer]; !ok {
			return fmt.Errorf("no server span yet")
		}
		return nil
	})
	client, server := spans[oteltrace.SpanKindClient], spans[oteltrace.SpanKindServer]
	if client.Name != ep.Subject || client.Parent.SpanID() != caller.SpanContext().SpanID() {
		t.Fatalf("client span %q parent %v, want %s under the caller", client.Name, client.Parent.SpanID(), ep.Subject)
	}
	if server.Parent.SpanID() != client.SpanContext.SpanID() || server.SpanContext.TraceID() != caller.SpanContext().TraceID() {
		t.Fatalf("server span parent %v trace %v, want the client span's child", server.Parent, server.SpanContext.TraceID())
	}
	if name, _ := server.Resource.Set().Value("service.name"); name.AsString() != "thing" {
		t.Fatalf("server span of %q", name.AsString())
	}
	if inHandler.SpanID() != server.SpanContext.SpanID() {
		t.Fatalf("the handler's context holds span %v, want the server span", inHandler.SpanID())
	}
	var line map[string]string
	if err := json.Unmarshal(bytes.TrimSpace([]byte(logs.String())), &line); err != nil {
		t.Fatal(err, logs.String())
	}
	if line["trace_id"] != inHandler.TraceID().String() || line["span_id"] != inHandler.SpanID().String() || line["request_id"] != "req-7" {
		t.Fatalf("the handler's log line: %v", line)
	}
}

// TestSlowRequestLogsItsTrace: a request slower than SlowRequest leaves a warning with its
// duration and the ids an operator follows it by.
func TestSlowRequestLogsItsTrace(t *testing.T) {
	_, nc := natstest.Server(t)
	exp := tracetest.NewInMemoryExporter()
	tr := trace.With(trace.Config{}, nil, sdktrace.NewSimpleSpanProcessor(exp))
	var logs logtest.Buffer
	svc, err := rpc.New(rpc.Config{Name: "thing", Version: "0.0.1", SlowRequest: time.Nanosecond},
		rpc.Deps{Log: zerolog.New(&logs), NC: nc, Registry: prometheus.NewRegistry(), Tracer: tr.Provider("thing")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Stop(context.Background()) })
	if err := svc.Add(rpc.BindRaw(ep, ep.Serve(func(ctx context.Context, r req) (req, error) { return r, nil }))); err != nil {
		t.Fatal(err)
	}
	ctx := subjects.WithMeta(context.Background(), subjects.Meta{RequestID: "req-8"})
	if _, err := ep.Call(ctx, nc, req{}); err != nil {
		t.Fatal(err)
	}
	var line map[string]any
	var spans tracetest.SpanStubs
	expect.Within(t, 10*time.Second, func() error { // the line and the span end after the reply
		if spans = exp.GetSpans(); len(spans) != 1 {
			return fmt.Errorf("%d spans, want the server's", len(spans))
		}
		return json.Unmarshal(bytes.TrimSpace([]byte(logs.String())), &line)
	})
	if line["message"] != "slow request" || line["level"] != "warn" || line["code"] != "200" || line["request_id"] != "req-8" ||
		line["trace_id"] != spans[0].SpanContext.TraceID().String() || line["duration"] == nil {
		t.Fatalf("the slow request's line: %v", line)
	}
}

// BenchmarkCallServe is one Call and its Serve through an embedded server, tracing off (no
// provider, no span: the cost every request pays when nothing is exported) and on (every
// request recorded, the spans dropped by a no-op exporter):
//
//	go test -run '^$' -bench CallServe -benchmem ./platform/rpc/
func BenchmarkCallServe(b *testing.B) {
	b.Run("off", func(b *testing.B) { benchCallServe(b, nil) })
	b.Run("on", func(b *testing.B) {
		benchCallServe(b, trace.With(trace.Config{}, nil, sdktrace.NewBatchSpanProcessor(tracetest.NewNoopExporter())))
	})
}

func benchCallServe(b *testing.B, tr *trace.Tracing) {
	_, nc := natstest.Server(b)
	deps := rpc.Deps{Log: zerolog.Nop(), NC: nc, Registry: prometheus.NewRegistry()}
	if tr != nil {
		deps.Tracer = tr.Provider("thing")
	}
	svc, err := rpc.New(rpc.Config{Name: "thing", Version: "0.0.1"}, deps)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = svc.Stop(context.Background()) })
	if err := svc.Add(rpc.BindRaw(ep, ep.Serve(func(_ context.Context, r req) (req, error) { return r, nil }))); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if tr != nil {
		var span oteltrace.Span
		ctx, span = trace.Tracer(tr.Provider("gateway")).Start(ctx, "caller")
		defer span.End()
	}
	callAll(b, ctx, nc)
}

func callAll(b *testing.B, ctx context.Context, nc *nats.Conn) {
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := ep.Call(ctx, nc, req{Mode: "x"}); err != nil {
			b.Fatal(err)
		}
	}
}
