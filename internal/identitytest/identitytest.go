// Package identitytest runs the identity services (user and auth) for the tests of
// services/user and services/auth on internal/kittest's harness (a database cloned from a
// template with both schemas, an embedded NATS server), through their declarations and
// kit.Run as cmd/souk runs them, plus helpers to register, log in, wait and check errors.
// Unlike kittest's Start, the services here check tokens against the auth service's keys
// (its JWKS), as in a real shop.
//
// It lives outside services/ because a service folder must not import another service,
// test files included, and these tests need both services running.
package identitytest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/internal/kittest"
	"github.com/souk/souk/internal/logtest"
	"github.com/souk/souk/platform/kit"
	"github.com/souk/souk/platform/pgtest"
	"github.com/souk/souk/platform/seal"
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

// NewEnv runs t in parallel (see kittest.New) on a fresh database with the user and auth
// schemas and an embedded NATS server with Souk's streams and buckets; no service runs yet
// (see Start, RunUser and RunAuth). Everything is closed at t's cleanup.
func NewEnv(t *testing.T) *Env {
	t.Helper()
	k := kittest.New(t, identity())
	return &Env{T: t, Ctx: k.Ctx, NC: k.NC, DB: k.DB, JS: k.JS, Log: &logtest.Buffer{}, Registry: prometheus.NewRegistry()}
}

// identity is the template of the identity tests' databases: the user and auth schemas,
// migrated once for all of them.
var identity = sync.OnceValue(func() pgtest.Template {
	return kittest.Schemas("identity",
		func(d kit.Deps) (kit.Service, error) { return user.Service(user.Config{}, d) },
		func(d kit.Deps) (kit.Service, error) { return auth.Service(AuthConfig(), d) })
})

// Logger returns a logger that writes JSON lines at info level and above to e.Log.
func (e *Env) Logger() zerolog.Logger { return zerolog.New(e.Log).Level(zerolog.InfoLevel) }

// Deps returns what a service started here runs on: the Env's database, NATS server, logger
// and registry, with the streams and buckets ready. Tokens are checked against the auth
// service's keys (its JWKS), as in a real shop.
func (e *Env) Deps() kit.Deps {
	return kit.Deps{Log: e.Logger(), DB: e.DB, NC: e.NC, JS: e.JS, Registry: e.Registry, StreamsReady: true}
}

// AuthConfig returns the configuration Start runs the auth service with, for tests that
// run the services one by one: its signing keys are sealed with Seal.
func AuthConfig() auth.Config { return auth.Config{Seal: Seal()} }

// Seal is the data-encryption key the identity tests' auth services seal their signing keys
// with: one random key per test binary.
var Seal = sync.OnceValue(func() *seal.Keyring { return seal.MustParse(seal.Generate()) })

// UserConfig returns the configuration Start runs the user service with, ensuring the admin
// account adminEmail with adminPassword. It hashes at user.MinBcryptCost, as the end-to-end
// tests do: under -race on a busy machine a hash at the default cost takes seconds, and
// these tests hash dozens of times.
func UserConfig(adminEmail, adminPassword string) user.Config {
	return user.Config{AdminEmail: adminEmail, AdminPassword: adminPassword, BcryptCost: user.MinBcryptCost}
}

// RunUser runs the user service declared with cfg and returns a stop function that cancels
// it, waits for kit.Run to return and returns its error; stop is also called at cleanup,
// which reports the error.
func (e *Env) RunUser(cfg user.Config) (stop func() error) {
	return e.run(func(d kit.Deps) (kit.Service, error) { return user.Service(cfg, d) })
}

// RunAuth runs the auth service declared with cfg; stop is as RunUser's.
func (e *Env) RunAuth(cfg auth.Config) (stop func() error) {
	return e.run(func(d kit.Deps) (kit.Service, error) { return auth.Service(cfg, d) })
}

func (e *Env) run(declare func(kit.Deps) (kit.Service, error)) func() error {
	e.T.Helper()
	deps := e.Deps()
	svc, err := declare(deps)
	if err != nil {
		e.T.Fatalf("identitytest: declare: %v", err)
	}
	return expect.Start(e.T, func(ctx context.Context) error { return kit.Run(ctx, deps, svc) }).Stop
}

// Start runs both services, the user service ensuring the admin account adminEmail with
// adminPassword, and waits until both answer.
func (e *Env) Start(adminEmail, adminPassword string) {
	e.T.Helper()
	e.RunAuth(AuthConfig())
	e.RunUser(UserConfig(adminEmail, adminPassword))
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
