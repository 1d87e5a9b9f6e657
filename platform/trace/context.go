package trace

import (
	"context"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel/propagation"
	oteltrace "go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/souk/souk/subjects"
)

// propagator is the W3C trace context, the one format Souk speaks: a value, not a global.
var propagator = propagation.TraceContext{}

// Log field names (plan16.md): every line written while handling a request or an event
// carries them.
const (
	FieldTraceID   = "trace_id"
	FieldSpanID    = "span_id"
	FieldRequestID = "request_id"
)

// Extract returns ctx with the remote span context of the traceparent in h, if any: the
// parent of the span started next.
func Extract(ctx context.Context, h nats.Header) context.Context {
	if h == nil || h.Get(subjects.HeaderTraceparent) == "" {
		return ctx
	}
	return propagator.Extract(ctx, subjects.HeaderCarrier(h))
}

// Parent is the traceparent of the span in ctx, "" when ctx has no valid span context: what
// an outbox row or an aggregate keeps so that what follows joins this trace.
func Parent(ctx context.Context) string {
	if !oteltrace.SpanContextFromContext(ctx).IsValid() {
		return ""
	}
	c := propagation.MapCarrier{}
	propagator.Inject(ctx, c)
	return c[subjects.HeaderTraceparent]
}

// FromParent returns ctx with the span context of traceparent (as Parent returned it) as
// its remote parent; ctx unchanged when traceparent is empty or malformed.
func FromParent(ctx context.Context, traceparent string) context.Context {
	if traceparent == "" {
		return ctx
	}
	return propagator.Extract(ctx, propagation.MapCarrier{subjects.HeaderTraceparent: traceparent})
}

// Resume starts the span name in the trace of stored (a traceparent an aggregate kept from
// the request that made it, see Parent), as a child of that span, linked to the span of ctx
// (the request doing this step now). Steps that come from requests of their own (the
// customer's payment, staff shipping an order, a provider's webhook, a background
// reconciliation) so continue the checkout's one trace, while the link leads from it to the
// request that caused the step. With nothing stored it is a plain child of ctx's span. The
// tracer is ctx's span's provider's, so it costs nothing with tracing off; the caller ends
// the span.
func Resume(ctx context.Context, stored, name string, opts ...oteltrace.SpanStartOption) (context.Context, oteltrace.Span) {
	current := oteltrace.SpanFromContext(ctx)
	tracer := current.TracerProvider().Tracer(tracerName)
	parent := FromParent(context.Background(), stored)
	psc := oteltrace.SpanContextFromContext(parent)
	if !psc.IsValid() || psc.TraceID() == current.SpanContext().TraceID() {
		return tracer.Start(ctx, name, opts...)
	}
	if cur := current.SpanContext(); cur.IsValid() {
		opts = append(opts, oteltrace.WithLinks(oteltrace.Link{SpanContext: cur}))
	}
	// The new span's parent is the stored one; everything else of ctx (deadline, metadata,
	// logger) stays.
	return tracer.Start(oteltrace.ContextWithRemoteSpanContext(ctx, psc), name, opts...)
}

// tracerName names Souk's own instrumentation.
const tracerName = "github.com/souk/souk"

// Start is tracer.Start, except with a no-op tracer (tracing off), where it returns ctx and
// its span unchanged: the span a no-op tracer starts records nothing, and the remote parent
// it would carry is in ctx already, so it is passed on all the same. It spares a request the
// context value a no-op span costs (an allocation on every request the gateway and each
// service handle).
func Start(ctx context.Context, tracer oteltrace.Tracer, name string, opts ...oteltrace.SpanStartOption) (context.Context, oteltrace.Span) {
	if _, off := tracer.(noop.Tracer); off {
		return ctx, oteltrace.SpanFromContext(ctx)
	}
	return tracer.Start(ctx, name, opts...)
}

// Tracer is the tracer of Souk's instrumentation from tp.
func Tracer(tp oteltrace.TracerProvider) oteltrace.Tracer { return tp.Tracer(tracerName) }

// Logger is log with the trace and span ids of ctx's span (when its context is valid) and
// requestID (when set): the logger of one request or event.
func Logger(ctx context.Context, log zerolog.Logger, requestID string) zerolog.Logger {
	sc := oteltrace.SpanContextFromContext(ctx)
	if !sc.IsValid() && requestID == "" {
		return log
	}
	lc := log.With()
	if sc.IsValid() {
		lc = lc.Str(FieldTraceID, sc.TraceID().String()).Str(FieldSpanID, sc.SpanID().String())
	}
	if requestID != "" {
		lc = lc.Str(FieldRequestID, requestID)
	}
	return lc.Logger()
}

// Fields adds the trace and span ids of ctx's span to ev, for a line logged outside a
// request's logger (the gateway's access log).
func Fields(ctx context.Context, ev *zerolog.Event) *zerolog.Event {
	if sc := oteltrace.SpanContextFromContext(ctx); sc.IsValid() {
		ev = ev.Str(FieldTraceID, sc.TraceID().String()).Str(FieldSpanID, sc.SpanID().String())
	}
	return ev
}

// WithProvider returns ctx whose spans tp makes (Resume, the client spans of a call), with no
// parent: the context of a background loop, whose work has no request of its own but may
// resume a stored trace. ctx must not carry a span that matters: this one hides it.
func WithProvider(ctx context.Context, tp oteltrace.TracerProvider) context.Context {
	return oteltrace.ContextWithSpan(ctx, providerSpan{tp: tp})
}

// providerSpan is a span that records nothing and only names its provider.
type providerSpan struct {
	noop.Span
	tp oteltrace.TracerProvider
}

func (s providerSpan) TracerProvider() oteltrace.TracerProvider { return s.tp }

// Log is the logger of the request or event ctx belongs to (rpc, the consumer and the
// gateway put it there, with trace_id, span_id and request_id), else fallback: for a line
// written by code that runs in handlers and in loops alike.
func Log(ctx context.Context, fallback *zerolog.Logger) *zerolog.Logger {
	if l := zerolog.Ctx(ctx); l.GetLevel() != zerolog.Disabled {
		return l
	}
	return fallback
}
