package user_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/souk/souk/nats/natstest"
	"github.com/souk/souk/platform/pg"
	"github.com/souk/souk/platform/pgtest"
	"github.com/souk/souk/services/auth"
	"github.com/souk/souk/services/user"
	"github.com/souk/souk/subjects"
)

// env is a real PostgreSQL database and an embedded NATS server with the user and auth
// services running on them, as cmd/souk runs them.
type env struct {
	t   *testing.T
	ctx context.Context
	nc  *nats.Conn
	db  *pgxpool.Pool
	js  jetstream.JetStream
	log *syncBuffer
	reg *prometheus.Registry
}

// syncBuffer collects the services' JSON log lines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// lines returns the log lines decoded.
func (b *syncBuffer) lines() []map[string]any {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(b.buf.Bytes()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newEnv(t *testing.T) *env {
	t.Helper()
	_, nc := natstest.Server(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	db, err := pg.Open(ctx, pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, ctx: ctx, nc: nc, db: db, js: js, log: &syncBuffer{}, reg: prometheus.NewRegistry()}
}

func (e *env) logger() zerolog.Logger { return zerolog.New(e.log).Level(zerolog.InfoLevel) }

// runUser starts user.Run and returns a stop function that cancels it and waits for it to
// return; it is also called at cleanup. errc receives Run's error when it returns early.
func (e *env) runUser(cfg user.Config) (stop func() error) {
	return e.run(func(ctx context.Context) error {
		return user.Run(ctx, cfg, user.Deps{Log: e.logger(), DB: e.db, NC: e.nc, JS: e.js, Registry: e.reg})
	})
}

func (e *env) runAuth(cfg auth.Config) (stop func() error) {
	return e.run(func(ctx context.Context) error {
		return auth.Run(ctx, cfg, auth.Deps{Log: e.logger(), DB: e.db, NC: e.nc, JS: e.js, Registry: e.reg})
	})
}

func (e *env) run(fn func(ctx context.Context) error) func() error {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fn(ctx) }()
	var once sync.Once
	var err error
	stop := func() error {
		once.Do(func() { cancel(); err = <-done })
		return err
	}
	e.t.Cleanup(func() {
		if err := stop(); err != nil {
			e.t.Errorf("Run: %v", err)
		}
	})
	return stop
}

// start runs both services and waits until both answer.
func (e *env) start(cfg user.Config) {
	e.t.Helper()
	e.runAuth(auth.Config{})
	e.runUser(cfg)
	e.waitReady()
}

func (e *env) waitReady() {
	e.t.Helper()
	waitFor(e.t, 30*time.Second, func() error {
		if _, err := subjects.AuthJWKS.Call(e.ctx, e.nc, subjects.Empty{}); err != nil {
			return err
		}
		_, err := subjects.UserVerifyEmail.Call(e.ctx, e.nc, subjects.VerifyEmailRequest{})
		if !errors.Is(err, subjects.ErrBadRequest) {
			return errors.New("user service not ready")
		}
		return nil
	})
}

// waitFor polls check until it returns nil or the deadline passes.
func waitFor(t *testing.T, within time.Duration, check func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %v", within, err)
		}
		<-time.After(20 * time.Millisecond)
	}
}

// as returns a context whose calls carry the access token tok.
func (e *env) as(tok string) context.Context { return subjects.WithAuthorization(e.ctx, tok) }

// login returns a token pair for email and password.
func (e *env) login(email, password string) subjects.TokenPair {
	e.t.Helper()
	pair, err := subjects.AuthLogin.Call(e.ctx, e.nc, subjects.LoginRequest{Email: email, Password: password})
	if err != nil {
		e.t.Fatalf("login %s: %v", email, err)
	}
	return pair
}

// register creates an account.
func (e *env) register(email, password, name string) subjects.User {
	e.t.Helper()
	u, err := subjects.UserRegister.Call(e.ctx, e.nc, subjects.RegisterRequest{Email: email, Password: password, Name: name})
	if err != nil {
		e.t.Fatalf("register %s: %v", email, err)
	}
	return u
}

// wantErr fails unless err is a *subjects.Error of code (and slug and field, when given).
func wantErr(t *testing.T, err error, code int, slug, field string) {
	t.Helper()
	var se *subjects.Error
	if !errors.As(err, &se) {
		t.Fatalf("want %d %s, got %v", code, slug, err)
	}
	if se.Code != code || (slug != "" && se.Slug != slug) {
		t.Fatalf("want %d %s, got %d %s: %s", code, slug, se.Code, se.Slug, se.Message)
	}
	if field == "" {
		return
	}
	for _, f := range se.Fields {
		if f.Field == field {
			return
		}
	}
	t.Fatalf("want a problem with field %q, got %+v", field, se.Fields)
}

func authConfig() auth.Config { return auth.Config{} }
