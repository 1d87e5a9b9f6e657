// Package subjects is Souk's wire contract: every NATS subject, and every request, reply and
// event type that crosses it. A typed Endpoint ties a subject to its request and reply types so
// that a wrong call does not compile; Call (client side) and Serve (server side) are written
// once, here.
//
// Contracts only grow: add optional fields. A rename or a retype is a new v2 subject. The
// golden JSON tests in this package keep an accidental change from slipping through.
//
// This package imports nothing of Souk's: services, the gateway and the platform kits all
// depend on it, never the other way round.
package subjects

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	oteltrace "go.opentelemetry.io/otel/trace"
)

// DefaultTimeout bounds a Call whose context carries no deadline.
const DefaultTimeout = 5 * time.Second

// Endpoint describes one request-reply subject and the types that travel on it.
type Endpoint[Req, Rep any] struct {
	// Subject is the full NATS subject, souk.<service>.v1.<noun>.<verb>.
	Subject string
	// Access is what the caller must hold. The serving service checks it on every request
	// and the gateway checks it before it asks: one rule, read by both locks.
	Access Access
}

// Callee is any Endpoint seen without its types: what a service's declaration lists of the
// endpoints it calls, from which its NATS permissions are generated.
type Callee interface {
	// EndpointSubject is the subject the endpoint is served on.
	EndpointSubject() string
}

// EndpointSubject is e.Subject (Callee).
func (e Endpoint[Req, Rep]) EndpointSubject() string { return e.Subject }

// RawHandler is a decoded-bytes handler: it receives the request body and returns the reply
// body, or an error that the transport turns into micro error headers.
type RawHandler func(ctx context.Context, data []byte) ([]byte, error)

// Call sends req to the endpoint and decodes the reply. The context's deadline (or
// DefaultTimeout) bounds the wait and travels to the server in the Souk-Deadline header, and
// the metadata in ctx (see WithAuthorization, WithRequestID) travels as headers. A service
// error comes back as *Error, so errors.As works across processes. No responders is
// ErrUnavailable and a timeout ErrTimeout, both *Error too.
func (e Endpoint[Req, Rep]) Call(ctx context.Context, nc *nats.Conn, req Req) (Rep, error) {
	var rep Rep
	body, err := json.Marshal(req)
	if err != nil {
		return rep, fmt.Errorf("%s: encode request: %w", e.Subject, err)
	}
	data, err := Request(ctx, nc, e.Subject, body)
	if err != nil {
		return rep, err
	}
	if err := json.Unmarshal(data, &rep); err != nil {
		return rep, fmt.Errorf("%s: decode reply: %w", e.Subject, err)
	}
	return rep, nil
}

// Request is the untyped form of Call: it sends body with the metadata of ctx and returns the
// reply body or the typed error. The gateway uses it to pass replies through without decoding.
//
// When the span in ctx records, the call is a client span of it (named after the subject)
// and the server's span is that one's child; the traceparent header carries it. The span's
// own TracerProvider makes it, so a service's calls are that service's spans, and a context
// without a recording span costs nothing here.
func Request(ctx context.Context, nc *nats.Conn, subject string, body []byte) ([]byte, error) {
	if parent := oteltrace.SpanFromContext(ctx); parent.IsRecording() {
		var span oteltrace.Span
		ctx, span = parent.TracerProvider().Tracer(tracerName).Start(ctx, subject, oteltrace.WithSpanKind(oteltrace.SpanKindClient),
			oteltrace.WithAttributes(attribute.String("messaging.system", "nats"), attribute.String("messaging.destination.name", subject)))
		defer span.End()
		data, err := request(ctx, nc, subject, body)
		if err != nil {
			span.SetStatus(codes.Error, err.Error())
		}
		return data, err
	}
	return request(ctx, nc, subject, body)
}

// RequestMeta is Request for a caller that holds the metadata and the timeout itself rather
// than in a context (the gateway, for every request it forwards). When ctx can neither be
// cancelled nor carries a recording span, the request goes out from a pooled message whose
// header map is reused and waits on nats.go's pooled timers: no context, header map or
// timer of its own. Otherwise it is Request with meta and timeout put in ctx.
func RequestMeta(ctx context.Context, nc *nats.Conn, subject string, body []byte, meta Meta, timeout time.Duration) ([]byte, error) {
	if ctx.Done() != nil || oteltrace.SpanFromContext(ctx).IsRecording() {
		ctx, cancel := context.WithTimeout(WithMeta(ctx, meta), timeout)
		defer cancel()
		return Request(ctx, nc, subject, body)
	}
	msg := msgPool.Get().(*nats.Msg)
	defer func() {
		for k, v := range msg.Header { // keep the slices for the next request's values
			msg.Header[k] = v[:0]
		}
		msg.Data = nil
		msgPool.Put(msg)
	}()
	msg.Subject, msg.Data = subject, body
	writeHeaders(msg.Header, meta, oteltrace.SpanContextFromContext(ctx), time.Now().Add(timeout))
	reply, err := nc.RequestMsg(msg, timeout) // it has written the message out when it returns
	return replyOf(subject, reply, err)
}

// msgPool holds request messages with their header maps, for RequestMeta.
var msgPool = sync.Pool{New: func() any { return &nats.Msg{Header: nats.Header{}} }}

// tracerName names the instrumentation of the client spans.
const tracerName = "github.com/souk/souk/subjects"

func request(ctx context.Context, nc *nats.Conn, subject string, body []byte) ([]byte, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultTimeout)
		defer cancel()
	}
	msg := nats.NewMsg(subject)
	msg.Data = body
	writeMeta(ctx, msg.Header)
	reply, err := nc.RequestMsgWithContext(ctx, msg)
	return replyOf(subject, reply, err)
}

// replyOf is the reply body of a request to subject, or its error as *Error where it is one.
func replyOf(subject string, reply *nats.Msg, err error) ([]byte, error) {
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		return nil, &Error{Code: 503, Slug: "unavailable", Message: "service unavailable: " + subject}
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout):
		return nil, &Error{Code: 504, Slug: "timeout", Message: "service timed out: " + subject}
	case err != nil:
		return nil, fmt.Errorf("%s: %w", subject, err)
	}
	if code := reply.Header.Get(HeaderErrorCode); code != "" {
		return nil, decodeError(code, reply.Header.Get(HeaderError), reply.Data)
	}
	return reply.Data, nil
}

// Serve adapts a typed handler to a RawHandler: it decodes the request (a malformed body is a
// 400 naming the problem), calls fn and encodes the reply.
func (e Endpoint[Req, Rep]) Serve(fn func(ctx context.Context, req Req) (Rep, error)) RawHandler {
	return func(ctx context.Context, data []byte) ([]byte, error) {
		var req Req
		if len(data) > 0 {
			if err := json.Unmarshal(data, &req); err != nil {
				return nil, BadRequest("", "malformed request body: "+jsonProblem(err))
			}
		}
		rep, err := fn(ctx, req)
		if err != nil {
			return nil, err
		}
		return json.Marshal(rep)
	}
}

// jsonProblem describes a decoding error without echoing the client's bytes at length.
func jsonProblem(err error) string {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		return fmt.Sprintf("field %q must be %s", typeErr.Field, typeErr.Type.String())
	}
	var syntaxErr *json.SyntaxError
	if errors.As(err, &syntaxErr) {
		return "invalid JSON at offset " + strconv.FormatInt(syntaxErr.Offset, 10)
	}
	return "invalid JSON"
}

// Empty is the request or reply of an endpoint that carries no body.
type Empty struct{}
