package subjects_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/souk/souk/nats/natstest"
	"github.com/souk/souk/subjects"
)

type echoReq struct {
	N int `json:"n"`
}

var echo = subjects.Endpoint[echoReq, echoReq]{Subject: "souk.test.v1.echo.get"}

// serve answers echo with the RawHandler from Serve, the way platform/rpc does.
func serve(t *testing.T, nc *nats.Conn, fn func(context.Context, echoReq) (echoReq, error)) {
	t.Helper()
	h := echo.Serve(fn)
	svc, err := micro.AddService(nc, micro.Config{Name: "echo", Version: "0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Stop() })
	err = svc.AddEndpoint("echo", micro.HandlerFunc(func(r micro.Request) {
		meta, deadline := subjects.ReadMeta(nats.Header(r.Headers()))
		ctx := subjects.WithMeta(context.Background(), meta)
		if !deadline.IsZero() {
			var cancel context.CancelFunc
			ctx, cancel = context.WithDeadline(ctx, deadline)
			defer cancel()
		}
		out, err := h(ctx, r.Data())
		var se *subjects.Error
		if errors.As(err, &se) {
			code, desc, body := se.Encode()
			_ = r.Error(code, desc, body)
			return
		}
		_ = r.Respond(out)
	}), micro.WithEndpointSubject(echo.Subject))
	if err != nil {
		t.Fatal(err)
	}
}

func TestCallRoundTripCarriesMetaAndDeadline(t *testing.T) {
	_, nc := natstest.Server(t)
	serve(t, nc, func(ctx context.Context, r echoReq) (echoReq, error) {
		m := subjects.MetaFrom(ctx)
		if m.RequestID != "req-1" || m.Authorization != "Bearer tok" {
			return r, subjects.BadRequest("meta", "missing: "+m.RequestID+"|"+m.Authorization)
		}
		if _, ok := ctx.Deadline(); !ok {
			return r, subjects.BadRequest("deadline", "no deadline")
		}
		return echoReq{N: r.N + 1}, nil
	})
	ctx := subjects.WithAuthorization(subjects.WithMeta(context.Background(), subjects.Meta{RequestID: "req-1"}), "tok")
	got, err := echo.Call(ctx, nc, echoReq{N: 41})
	if err != nil {
		t.Fatal(err)
	}
	if got.N != 42 {
		t.Fatalf("got %d, want 42", got.N)
	}
}

func TestErrorComesBackTyped(t *testing.T) {
	_, nc := natstest.Server(t)
	serve(t, nc, func(context.Context, echoReq) (echoReq, error) {
		return echoReq{}, &subjects.Error{Code: 409, Slug: "email_taken", Message: "taken", Fields: []subjects.FieldError{{Field: "email", Message: "taken"}}}
	})
	_, err := echo.Call(context.Background(), nc, echoReq{})
	var se *subjects.Error
	if !errors.As(err, &se) {
		t.Fatalf("want *subjects.Error, got %T %v", err, err)
	}
	if se.Code != 409 || se.Slug != "email_taken" || len(se.Fields) != 1 || se.Fields[0].Field != "email" {
		t.Fatalf("error lost on the wire: %+v", se)
	}
	if !errors.Is(err, subjects.ErrConflict) || errors.Is(err, subjects.ErrNotFound) {
		t.Fatal("errors.Is does not match by code")
	}
}

func TestMalformedRequestIs400(t *testing.T) {
	_, nc := natstest.Server(t)
	serve(t, nc, func(_ context.Context, r echoReq) (echoReq, error) { return r, nil })
	_, err := subjects.Request(context.Background(), nc, echo.Subject, []byte(`{"n":"x"}`))
	if !errors.Is(err, subjects.ErrBadRequest) {
		t.Fatalf("want 400, got %v", err)
	}
}

func TestNoRespondersAndTimeout(t *testing.T) {
	_, nc := natstest.Server(t)
	_, err := echo.Call(context.Background(), nc, echoReq{})
	if !errors.Is(err, subjects.ErrUnavailable) {
		t.Fatalf("want 503, got %v", err)
	}
	block := make(chan struct{})
	t.Cleanup(func() { close(block) })
	sub, err := nc.Subscribe(echo.Subject, func(*nats.Msg) { <-block })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := echo.Call(ctx, nc, echoReq{}); !errors.Is(err, subjects.ErrTimeout) {
		t.Fatalf("want 504, got %v", err)
	}
}

// RequestMeta sends from pooled messages: each request carries its own metadata and
// deadline, and nothing of the one before (an Idempotency-Key sent once is not sent again).
func TestRequestMetaSendsEachRequestsOwnHeaders(t *testing.T) {
	_, nc := natstest.Server(t)
	got := make(chan nats.Header, 4)
	sub, err := nc.Subscribe("souk.test.v1.meta.get", func(m *nats.Msg) { got <- m.Header; _ = m.Respond([]byte(`{}`)) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	sends := []subjects.Meta{
		{RequestID: "r1", Authorization: "Bearer a", IdempotencyKey: "k1", AcceptLanguage: "de"},
		{RequestID: "r2"},
	}
	for _, m := range sends {
		before := time.Now()
		if _, err := subjects.RequestMeta(context.Background(), nc, "souk.test.v1.meta.get", []byte(`{}`), m, 5*time.Second); err != nil {
			t.Fatal(err)
		}
		h := <-got
		meta, deadline := subjects.ReadMeta(h)
		if meta != m {
			t.Fatalf("received %+v, sent %+v (headers %v)", meta, m, h)
		}
		if deadline.Before(before.Add(4 * time.Second)) {
			t.Fatalf("deadline %s, want about 5 s after %s", deadline, before)
		}
	}
}
