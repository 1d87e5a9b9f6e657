package subjects

import (
	"context"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	oteltrace "go.opentelemetry.io/otel/trace"
)

// Header names. Metadata rides in headers, never in bodies.
const (
	// HeaderAuthorization carries "Bearer <access token>" of the end user (or service) on
	// whose behalf a request is made.
	HeaderAuthorization = "Authorization"
	// HeaderRequestID carries the gateway's request id, so one id follows a request through
	// every log line of every service.
	HeaderRequestID = "Souk-Request-Id"
	// HeaderDeadline carries the caller's deadline in Unix milliseconds; the server derives the
	// handler's context from it.
	HeaderDeadline = "Souk-Deadline"
	// HeaderTraceparent is the W3C trace context.
	HeaderTraceparent = "traceparent"
	// HeaderTracestate is the W3C trace context's vendor part, sent with traceparent.
	HeaderTracestate = "tracestate"
	// HeaderAcceptLanguage carries the client's Accept-Language, which picks translations.
	HeaderAcceptLanguage = "Accept-Language"
	// HeaderIdempotencyKey carries the client's Idempotency-Key: the same key from the same
	// user returns the first result and never does the work twice.
	HeaderIdempotencyKey = "Idempotency-Key"
	// HeaderMsgID is JetStream's de-duplication header; events set it to their event_id.
	HeaderMsgID = nats.MsgIdHdr
	// HeaderXactID carries, on an event the outbox relay published, the id of the
	// PostgreSQL transaction that wrote it (xid8, decimal): the transaction of the change
	// itself. A reader of the same database tells by it whether a snapshot it took already
	// held the change (pg.Snapshot.Holds); a resent event keeps the id of its first writing.
	HeaderXactID = "Souk-Xact-Id"
	// HeaderError and HeaderErrorCode are the micro error headers.
	HeaderError     = "Nats-Service-Error"
	HeaderErrorCode = "Nats-Service-Error-Code"
)

// Meta is the request metadata that travels in headers.
type Meta struct {
	// Authorization is the raw Authorization header value ("Bearer …"), or empty.
	Authorization string
	// RequestID identifies the request in logs.
	RequestID string
	// Traceparent is the W3C trace context a request came with. A request sent with a span
	// in its context carries that span's context instead (see Request); this one is passed
	// on only when the context has none.
	Traceparent string
	// AcceptLanguage is the client's Accept-Language header, or empty.
	AcceptLanguage string
	// IdempotencyKey is the client's Idempotency-Key header, or empty.
	IdempotencyKey string
}

type metaKey struct{}

// WithMeta returns ctx carrying m; Call sends it as headers.
func WithMeta(ctx context.Context, m Meta) context.Context {
	return context.WithValue(ctx, metaKey{}, m)
}

// MetaFrom returns the metadata carried by ctx (zero when none).
func MetaFrom(ctx context.Context) Meta {
	m, _ := ctx.Value(metaKey{}).(Meta)
	return m
}

// WithAuthorization returns ctx whose calls carry the bearer token tok.
func WithAuthorization(ctx context.Context, tok string) context.Context {
	m := MetaFrom(ctx)
	m.Authorization = "Bearer " + tok
	return WithMeta(ctx, m)
}

// ReadMeta extracts the metadata of a received message and the caller's deadline (zero when
// the caller sent none).
func ReadMeta(h nats.Header) (Meta, time.Time) {
	m := Meta{
		Authorization:  h.Get(HeaderAuthorization),
		RequestID:      h.Get(HeaderRequestID),
		Traceparent:    h.Get(HeaderTraceparent),
		AcceptLanguage: h.Get(HeaderAcceptLanguage),
		IdempotencyKey: h.Get(HeaderIdempotencyKey),
	}
	var deadline time.Time
	if ms, err := strconv.ParseInt(h.Get(HeaderDeadline), 10, 64); err == nil && ms > 0 {
		deadline = time.UnixMilli(ms)
	}
	return m, deadline
}

func writeMeta(ctx context.Context, h nats.Header) {
	deadline, _ := ctx.Deadline()
	writeHeaders(h, MetaFrom(ctx), oteltrace.SpanContextFromContext(ctx), deadline)
}

// writeHeaders sets m, the trace context sc (when valid; else m.Traceparent) and the
// deadline (when set) on h. A value goes into the slice h already holds for its key when
// there is one, so that a pooled message's headers cost no allocation but the values.
func writeHeaders(h nats.Header, m Meta, sc oteltrace.SpanContext, deadline time.Time) {
	set := func(k, v string) {
		if v == "" {
			return
		}
		if s := h[k]; cap(s) > 0 {
			h[k] = append(s[:0], v)
		} else {
			h[k] = []string{v}
		}
	}
	set(HeaderAuthorization, m.Authorization)
	set(HeaderRequestID, m.RequestID)
	if sc.IsValid() {
		// Written here rather than by the propagator: handing h to it as an interface
		// would move every request's header map to the heap, traced or not.
		set(HeaderTraceparent, traceparent(sc))
		if sc.TraceState().Len() > 0 {
			set(HeaderTracestate, sc.TraceState().String())
		}
	} else {
		set(HeaderTraceparent, m.Traceparent)
	}
	set(HeaderAcceptLanguage, m.AcceptLanguage)
	set(HeaderIdempotencyKey, m.IdempotencyKey)
	if !deadline.IsZero() {
		set(HeaderDeadline, deadlineText(deadline.UnixMilli()))
	}
}

// lastDeadline is the text of the latest deadline header written: the requests sent within
// one millisecond with the same timeout share it, so most cost no string of their own.
var lastDeadline atomic.Pointer[msText]

type msText struct {
	ms   int64
	text string
}

// deadlineText is ms in decimal, as the deadline header carries it.
func deadlineText(ms int64) string {
	if d := lastDeadline.Load(); d != nil && d.ms == ms {
		return d.text
	}
	d := &msText{ms: ms, text: strconv.FormatInt(ms, 10)}
	lastDeadline.Store(d)
	return d.text
}

// traceparent is sc in the W3C traceparent format, version 00: only the sampled flag is
// defined there.
func traceparent(sc oteltrace.SpanContext) string {
	flags := "00"
	if sc.IsSampled() {
		flags = "01"
	}
	return "00-" + sc.TraceID().String() + "-" + sc.SpanID().String() + "-" + flags
}

// HeaderCarrier adapts NATS headers to OpenTelemetry's propagators. NATS header names are
// case-sensitive, unlike HTTP's, so the keys are used exactly as the propagator names them
// (traceparent, tracestate), never canonicalised.
type HeaderCarrier nats.Header

// Get returns the first value of key.
func (c HeaderCarrier) Get(key string) string {
	if v := c[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// Set replaces the values of key with value.
func (c HeaderCarrier) Set(key, value string) { c[key] = []string{value} }

// Keys lists the header names.
func (c HeaderCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}
