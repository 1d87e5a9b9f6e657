package consumer

import (
	"context"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	oteltrace "go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/souk/souk/platform/trace"
	"github.com/souk/souk/subjects"
)

// tracer is the consumer's tracer: Tracer's, or a no-op one.
func (c *Consumer) tracer() oteltrace.Tracer {
	if c.Tracer == nil {
		return trace.Tracer(noop.NewTracerProvider())
	}
	return trace.Tracer(c.Tracer)
}

// traced runs the handling of m in a consumer span, the child of the span that published it
// (the traceparent the outbox relay sent), so that one checkout's events stay in its trace;
// its logger (zerolog.Ctx) carries the trace, span and request ids. A failure marks the span.
func (c *Consumer) traced(ctx context.Context, m Msg, handle func(ctx context.Context) error) error {
	tr := c.tr
	if tr == nil { // a Consumer used outside Run (tests of its parts)
		tr = c.tracer()
	}
	ctx, span := tr.Start(trace.Extract(ctx, m.Header), spanName(m.Subject), oteltrace.WithSpanKind(oteltrace.SpanKindConsumer),
		oteltrace.WithAttributes(attribute.String("messaging.system", "nats"), attribute.String("messaging.consumer.group.name", c.Name),
			attribute.String("messaging.destination.name", m.Subject),
			attribute.String("messaging.message.id", m.EventID), attribute.Int("messaging.nats.delivered", m.Delivered)))
	defer span.End()
	requestID := ""
	if m.Header != nil {
		requestID = m.Header.Get(subjects.HeaderRequestID)
	}
	log := trace.Logger(ctx, c.Log, requestID)
	ctx = log.WithContext(subjects.WithMeta(ctx, subjects.Meta{RequestID: requestID}))
	err := handle(ctx)
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
	}
	return err
}

// spanName is an event's subject without its last token, the entity id
// (souk.evt.order.placed): span names stay a bounded set, the id is an attribute.
func spanName(subject string) string {
	if i := strings.LastIndexByte(subject, '.'); i > 0 && strings.Count(subject, ".") >= 4 {
		return subject[:i]
	}
	return subject
}
