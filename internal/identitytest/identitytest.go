// Package identitytest runs the identity services (user and auth) for the tests of
// services/user and services/auth: a real PostgreSQL database and an embedded NATS server
// with both services running on them, as cmd/souk runs them, plus helpers to register,
// log in, wait and check errors.
//
// It lives outside services/ because a service folder must not import another service,
// test files included, and these tests need both services running.
package identitytest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/internal/logtest"
	"github.com/souk/souk/nats/natstest"
	"github.com/souk/souk/platform/pgtest"
	"github.com/souk/souk/services/auth"
	"github.com/souk/souk/services/user"
	"github.com/souk/souk/subjects"
)

// Env is a real PostgreSQL database and an embedded NATS server on which the user and
// auth services run, as cmd/souk runs them.
type Env struct {
	// T is the test the environment belongs to; its cleanup stops the services.
	T *testing.T
	// Ctx bounds the test; calls made through the helpers use it.
	Ctx context.Context
	// NC is a connection to the embedded NATS server.
	NC *nats.Conn
	// DB is a pool on the test's own database.
	DB *pgxpool.Pool
	// JS is the JetStream context on NC.
	JS jetstream.JetStream
	// Log collects the services' JSON log lines.
	Log *logtest.Buffer
	// Registry is the Prometheus registry the services register their metrics with.
	Registry *prometheus.Registry
}

// NewEnv opens a fresh database and starts an embedded NATS server for t; no service runs
// yet (see Start, RunUser and RunAuth). Everything is closed at t's cleanup.
func NewEnv(t *testing.T) *Env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	db := pgtest.Pool(t, ctx)
	nc, js := natstest.JetStream(t, ctx)
	return &Env{T: t, Ctx: ctx, NC: nc, DB: db, JS: js, Log: &logtest.Buffer{}, Registry: prometheus.NewRegistry()}
}

// Logger returns a logger that writes JSON lines at info level and above to e.Log.
func (e *Env) Logger() zerolog.Logger { return zerolog.New(e.Log).Level(zerolog.InfoLevel) }

// AuthConfig returns the configuration Start runs the auth service with, for tests that
// run the services one by one.
func AuthConfig() auth.Config { return auth.Config{} }

// RunUser starts user.Run and returns a stop function that cancels it, waits for it to
// return and returns its error; stop is also called at cleanup, which reports the error.
func (e *Env) RunUser(cfg user.Config) (stop func() error) {
	return e.run(func(ctx context.Context) error {
		return user.Run(ctx, cfg, user.Deps{Log: e.Logger(), DB: e.DB, NC: e.NC, JS: e.JS, Registry: e.Registry})
	})
}

// RunAuth starts auth.Run and returns a stop function that cancels it, waits for it to
// return and returns its error; stop is also called at cleanup, which reports the error.
func (e *Env) RunAuth(cfg auth.Config) (stop func() error) {
	return e.run(func(ctx context.Context) error {
		return auth.Run(ctx, cfg, auth.Deps{Log: e.Logger(), DB: e.DB, NC: e.NC, JS: e.JS, Registry: e.Registry})
	})
}

func (e *Env) run(fn func(ctx context.Context) error) func() error {
	return expect.Start(e.T, fn).Stop
}

// Start runs both services, the user service ensuring the admin account adminEmail with
// adminPassword, and waits until both answer.
func (e *Env) Start(adminEmail, adminPassword string) {
	e.T.Helper()
	e.RunAuth(AuthConfig())
	e.RunUser(user.Config{AdminEmail: adminEmail, AdminPassword: adminPassword})
	e.WaitReady()
}

// WaitReady waits until both the auth and the user service answer.
func (e *Env) WaitReady() {
	e.T.Helper()
	expect.Within(e.T, 30*time.Second, func() error {
		if _, err := subjects.AuthJWKS.Call(e.Ctx, e.NC, subjects.Empty{}); err != nil {
			return err
		}
		_, err := subjects.UserVerifyEmail.Call(e.Ctx, e.NC, subjects.VerifyEmailRequest{})
		if !errors.Is(err, subjects.ErrBadRequest) {
			return errors.New("user service not ready")
		}
		return nil
	})
}

// As returns a context whose calls carry the access token tok.
func (e *Env) As(tok string) context.Context { return subjects.WithAuthorization(e.Ctx, tok) }

// Login returns a token pair for email and password, failing the test if login fails.
func (e *Env) Login(email, password string) subjects.TokenPair {
	e.T.Helper()
	pair, err := subjects.AuthLogin.Call(e.Ctx, e.NC, subjects.LoginRequest{Email: email, Password: password})
	if err != nil {
		e.T.Fatalf("login %s: %v", email, err)
	}
	return pair
}

// Register creates an account, failing the test if registration fails.
func (e *Env) Register(email, password, name string) subjects.User {
	e.T.Helper()
	u, err := subjects.UserRegister.Call(e.Ctx, e.NC, subjects.RegisterRequest{Email: email, Password: password, Name: name})
	if err != nil {
		e.T.Fatalf("register %s: %v", email, err)
	}
	return u
}
