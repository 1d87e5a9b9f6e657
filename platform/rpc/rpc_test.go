package rpc_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/souk/souk/nats/natstest"
	"github.com/souk/souk/platform/authn"
	"github.com/souk/souk/platform/rpc"
	"github.com/souk/souk/subjects"
)

type req struct {
	Mode string `json:"mode"`
}

var ep = subjects.Endpoint[req, req]{Subject: "souk.test.v1.thing.do", Access: subjects.Public}

func TestServiceShedsPanicsMasksAndGuards(t *testing.T) {
	_, nc := natstest.Server(t)
	noKeys := func(context.Context) (jwk.Set, error) { return jwk.NewSet(), nil }
	svc, err := rpc.New(rpc.Config{Name: "thing", Version: "0.0.1", MaxInFlight: 1},
		rpc.Deps{Log: zerolog.Nop(), NC: nc, Registry: prometheus.NewRegistry(), Verifier: authn.NewVerifier(noKeys, time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	handler := ep.Serve(func(ctx context.Context, r req) (req, error) {
		switch r.Mode {
		case "block":
			entered <- struct{}{}
			<-release
		case "panic":
			panic("boom")
		case "internal":
			return r, pgx.ErrNoRows // an unexpected error: masked
		}
		return r, nil
	})
	if err := svc.Add(rpc.BindRaw(ep, handler)); err != nil {
		t.Fatal(err)
	}
	guarded := subjects.Endpoint[req, req]{Subject: "souk.test.v1.thing.guarded", Access: subjects.Require(subjects.PermUsersAdmin)}
	if err := svc.Add(rpc.BindRaw(guarded, handler)); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	// One slot: while it is held, the next request is shed at once with 503.
	shedOne(t, nc, entered, release)
	if got, err := ep.Call(ctx, nc, req{Mode: "ok"}); err != nil || got.Mode != "ok" {
		t.Fatalf("after the slot is free: %v %v", got, err)
	}

	_, err = ep.Call(ctx, nc, req{Mode: "panic"})
	var se *subjects.Error
	if !errors.As(err, &se) || se.Code != 500 || se.Message != "internal error" {
		t.Fatalf("a panic must be a masked 500, got %v", err)
	}
	_, err = ep.Call(ctx, nc, req{Mode: "internal"})
	if !errors.As(err, &se) || se.Code != 500 || se.Message != "internal error" {
		t.Fatalf("an unexpected error must be a masked 500, got %v", err)
	}
	if _, err := guarded.Call(ctx, nc, req{}); !errors.Is(err, subjects.ErrUnauthorized) {
		t.Fatalf("no token on a guarded endpoint: want 401, got %v", err)
	}
	if _, err := guarded.Call(subjects.WithAuthorization(ctx, "forged.token.here"), nc, req{}); !errors.Is(err, subjects.ErrUnauthorized) {
		t.Fatalf("forged token: want 401, got %v", err)
	}
	stopCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := svc.Stop(stopCtx); err != nil {
		t.Fatal(err)
	}
}

func TestTheFastPathAnswersOnlyWhatItCanAndNeverForAToken(t *testing.T) {
	_, nc := natstest.Server(t)
	noKeys := func(context.Context) (jwk.Set, error) { return jwk.NewSet(), nil }
	svc, err := rpc.New(rpc.Config{Name: "thing", Version: "0.0.1"},
		rpc.Deps{Log: zerolog.Nop(), NC: nc, Registry: prometheus.NewRegistry(), Verifier: authn.NewVerifier(noKeys, time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Stop(context.Background()) })
	fast := func(data []byte, meta subjects.Meta) ([]byte, bool) {
		if string(data) == `{"mode":"cached"}` {
			return []byte(`{"mode":"from cache ` + meta.AcceptLanguage + `"}`), true
		}
		return nil, false
	}
	handler := ep.Serve(func(_ context.Context, r req) (req, error) { return req{Mode: "from handler"}, nil })
	if err := svc.Add(rpc.BindFast(ep, fast, handler)); err != nil {
		t.Fatal(err)
	}
	ctx := subjects.WithMeta(context.Background(), subjects.Meta{AcceptLanguage: "de"})
	for mode, want := range map[string]string{"cached": "from cache de", "other": "from handler"} {
		if got, err := ep.Call(ctx, nc, req{Mode: mode}); err != nil || got.Mode != want {
			t.Fatalf("%s: %+v %v, want %q", mode, got, err, want)
		}
	}
	// A request with a token is verified, even when the fast path could answer it.
	if _, err := ep.Call(subjects.WithAuthorization(ctx, "forged.token.here"), nc, req{Mode: "cached"}); !errors.Is(err, subjects.ErrUnauthorized) {
		t.Fatalf("forged token on the fast path: want 401, got %v", err)
	}
}

// shedOne holds the one slot of a service of MaxInFlight 1 with a "block" request, whose
// handler signals entered and waits for release; checks that the next request is shed at
// once with 503; then releases the blocked one and checks that it was answered.
func shedOne(t *testing.T, nc *nats.Conn, entered <-chan struct{}, release chan struct{}) {
	t.Helper()
	ctx := context.Background()
	blocked := make(chan error, 1)
	go func() { _, err := ep.Call(ctx, nc, req{Mode: "block"}); blocked <- err }()
	<-entered
	if _, err := ep.Call(ctx, nc, req{}); !errors.Is(err, subjects.ErrUnavailable) {
		t.Fatalf("want 503 overloaded while the slot is held, got %v", err)
	}
	close(release)
	if err := <-blocked; err != nil {
		t.Fatal(err)
	}
}
