package gateway

import (
	"context"
	"strings"

	"github.com/gofiber/fiber/v2"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	oteltrace "go.opentelemetry.io/otel/trace"

	"github.com/souk/souk/platform/trace"
	"github.com/souk/souk/subjects"
)

// traced starts the request's server span, the child of the client's traceparent when it
// sent a sane one, and keeps its context in st.ctx for the calls the request makes. Its
// name is set when the route is known (endSpan).
func (g *Gateway) traced(c *fiber.Ctx, st *state) oteltrace.Span {
	ctx := context.Background()
	if tp := c.Get(subjects.HeaderTraceparent); tp != "" && len(tp) <= 128 {
		ctx = propagation.TraceContext{}.Extract(ctx, fiberCarrier{c})
	}
	ctx, span := trace.Start(ctx, g.tracer, "HTTP", g.serverSpan...)
	st.ctx = ctx
	return span
}

// endSpan names the span after its route (a bounded set, as the metrics' label) and ends
// it with the status; a 5xx is the server's failure.
func endSpan(span oteltrace.Span, c *fiber.Ctx, route string, status int) {
	if !span.IsRecording() {
		span.End()
		return
	}
	method := methodLabel(c.Method())
	span.SetName(method + " " + route)
	span.SetAttributes(attribute.String("http.request.method", method), attribute.String("http.route", route),
		attribute.Int("http.response.status_code", status))
	if status >= 500 {
		span.SetStatus(codes.Error, "")
	}
	span.End()
}

// fiberCarrier reads request headers for the propagator. fasthttp's header strings are views
// of a buffer the next request reuses, and the span context keeps the tracestate text past
// the request (until its spans are exported): the carrier hands out copies.
type fiberCarrier struct{ c *fiber.Ctx }

func (f fiberCarrier) Get(key string) string { return strings.Clone(f.c.Get(key)) }
func (f fiberCarrier) Set(string, string)    {}
func (f fiberCarrier) Keys() []string        { return nil }
