package trace_test

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"github.com/rs/zerolog"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	oteltrace "go.opentelemetry.io/otel/trace"

	"github.com/souk/souk/platform/trace"
)

func recorded(t *testing.T) (*trace.Tracing, *tracetest.InMemoryExporter) {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	return trace.With(trace.Config{Instance: "i-1", Site: "lyon"}, nil, sdktrace.NewSimpleSpanProcessor(exp)), exp
}

// A later request resumes the stored trace: its span is the stored span's child, in the
// stored trace, linked to the request's own span; the service's name is the resource's.
func TestResumeContinuesTheStoredTrace(t *testing.T) {
	tr, exp := recorded(t)
	tracer := trace.Tracer(tr.Provider("order"))
	ctx, place := tracer.Start(context.Background(), "place")
	stored := trace.Parent(ctx)
	place.End()
	if stored == "" {
		t.Fatal("Parent of a recording span is empty")
	}

	pay, req := trace.Tracer(tr.Provider("payment")).Start(context.Background(), "pay request")
	_, step := trace.Resume(pay, stored, "payment.create")
	step.End()
	req.End()

	spans := exp.GetSpans()
	byName := map[string]tracetest.SpanStub{}
	for _, s := range spans {
		byName[s.Name] = s
	}
	got, want := byName["payment.create"], byName["place"]
	if got.SpanContext.TraceID() != want.SpanContext.TraceID() || got.Parent.SpanID() != want.SpanContext.SpanID() {
		t.Fatalf("resumed span %v parent %v, want the child of %v", got.SpanContext, got.Parent, want.SpanContext)
	}
	if len(got.Links) != 1 || got.Links[0].SpanContext.SpanID() != byName["pay request"].SpanContext.SpanID() {
		t.Fatalf("resumed span's links %v, want one to the request's span", got.Links)
	}
	if name, _ := got.Resource.Set().Value("service.name"); name.AsString() != "payment" {
		t.Fatalf("service.name %q", name.AsString())
	}
	if site, _ := got.Resource.Set().Value("souk.site"); site.AsString() != "lyon" {
		t.Fatalf("souk.site %q", site.AsString())
	}

	// Nothing stored: a plain child of the request.
	_, plain := trace.Resume(pay, "", "payment.create")
	plain.End()
	if s := exp.GetSpans()[len(exp.GetSpans())-1]; s.Parent.SpanID() != byName["pay request"].SpanContext.SpanID() || len(s.Links) != 0 {
		t.Fatalf("with nothing stored: parent %v links %v", s.Parent, s.Links)
	}
}

// Off, a span costs nothing and records nothing, yet an incoming trace context is passed on.
func TestOffPassesTheTraceContextOn(t *testing.T) {
	var off *trace.Tracing
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	ctx, span := trace.Tracer(off.Provider("order")).Start(trace.FromParent(context.Background(), tp), "x")
	defer span.End()
	if span.IsRecording() {
		t.Fatal("a no-op provider records")
	}
	if got := trace.Parent(ctx); got != tp {
		t.Fatalf("Parent %q, want %q passed on", got, tp)
	}
	if err := off.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// Start off passes the incoming trace context on and allocates nothing; on, it records a
// child of it.
func TestStartOffCostsNothing(t *testing.T) {
	var off *trace.Tracing
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	parent := trace.FromParent(context.Background(), tp)
	tracer := trace.Tracer(off.Provider("order"))
	ctx, span := trace.Start(parent, tracer, "x")
	span.End()
	if span.IsRecording() || trace.Parent(ctx) != tp {
		t.Fatalf("off: recording %v, Parent %q, want %q passed on", span.IsRecording(), trace.Parent(ctx), tp)
	}
	if n := testing.AllocsPerRun(100, func() {
		_, span := trace.Start(context.Background(), tracer, "x")
		span.End()
	}); n != 0 {
		t.Fatalf("off, a span costs %v allocations, want 0", n)
	}

	tr, exp := recorded(t)
	_, span = trace.Start(parent, trace.Tracer(tr.Provider("order")), "y")
	span.End()
	if spans := exp.GetSpans(); len(spans) != 1 || spans[0].Parent.TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Fatalf("on: spans %v, want one child of the incoming context", spans)
	}
}

func TestLoggerCarriesTheIDs(t *testing.T) {
	tr, _ := recorded(t)
	ctx, span := trace.Tracer(tr.Provider("order")).Start(context.Background(), "x")
	defer span.End()
	var buf bytes.Buffer
	log := trace.Logger(ctx, zerolog.New(&buf), "req-1")
	log.Info().Msg("hi")
	var line map[string]string
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatal(err)
	}
	sc := oteltrace.SpanContextFromContext(ctx)
	if line["trace_id"] != sc.TraceID().String() || line["span_id"] != sc.SpanID().String() || line["request_id"] != "req-1" {
		t.Fatalf("line %v", line)
	}
}

func TestSamplerAndEnabled(t *testing.T) {
	for _, c := range []struct{ name, arg string }{{"", ""}, {"always_on", ""}, {"traceidratio", "0.25"}, {"parentbased_traceidratio", ""}} {
		if _, err := trace.Sampler(c.name, c.arg); err != nil {
			t.Errorf("%s %s: %v", c.name, c.arg, err)
		}
	}
	for _, c := range []struct{ name, arg string }{{"sometimes", ""}, {"traceidratio", "2"}, {"traceidratio", "x"}} {
		if _, err := trace.Sampler(c.name, c.arg); err == nil {
			t.Errorf("%s %s: accepted", c.name, c.arg)
		}
	}
	for cfg, want := range map[trace.Config]bool{
		{}: false, {Endpoint: "http://c:4317"}: true, {TracesEndpoint: "http://c:4318/v1/traces"}: true,
		{Exporter: "otlp"}: true, {Exporter: "none", Endpoint: "http://c:4317"}: false,
	} {
		if cfg.Enabled() != want {
			t.Errorf("%+v: Enabled %v", cfg, !want)
		}
	}
	if tr, err := trace.New(context.Background(), trace.Config{}); err != nil || tr != nil {
		t.Fatalf("off: %v %v", tr, err)
	}
	if _, err := trace.New(context.Background(), trace.Config{Endpoint: "http://c:4318", Protocol: "thrift"}); err == nil {
		t.Fatal("a bad protocol is accepted")
	}
}
