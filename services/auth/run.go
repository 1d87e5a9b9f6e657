package auth

import (
	"context"
	"embed"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/souk/souk/nats/bus"
	"github.com/souk/souk/platform/authn"
	"github.com/souk/souk/platform/pg"
	"github.com/souk/souk/platform/rpc"
	"github.com/souk/souk/subjects"
)

//go:embed migrations/*.sql
var migrationsFS embed.FS

// Schema is the PostgreSQL schema the auth service owns.
const Schema = "auth"

// Defaults of Config.
const (
	// DefaultAccessTTL is the lifetime of an access token.
	DefaultAccessTTL = 15 * time.Minute
	// DefaultRefreshTTL is the lifetime of a refresh token, and the most a session may idle.
	DefaultRefreshTTL = 30 * 24 * time.Hour
)

// Config configures the auth service. Tokens always carry authn.Issuer and authn.Audience.
type Config struct {
	// AccessTTL is the lifetime of access tokens; DefaultAccessTTL when zero.
	AccessTTL time.Duration
	// RefreshTTL is the lifetime of a refresh token; DefaultRefreshTTL when zero. It may not
	// exceed the TTL of the sessions bucket (30 days), which is what actually forgets them.
	RefreshTTL time.Duration
}

func (c *Config) defaults() error {
	if c.AccessTTL == 0 {
		c.AccessTTL = DefaultAccessTTL
	}
	if c.RefreshTTL == 0 {
		c.RefreshTTL = DefaultRefreshTTL
	}
	if c.AccessTTL < time.Minute || c.AccessTTL > 24*time.Hour {
		return fmt.Errorf("auth: access token TTL %s out of range 1m..24h", c.AccessTTL)
	}
	maxRefresh := DefaultRefreshTTL
	for _, b := range bus.Buckets {
		if b.Bucket == bus.BucketSessions {
			maxRefresh = b.TTL
		}
	}
	if c.RefreshTTL < c.AccessTTL || c.RefreshTTL > maxRefresh {
		return fmt.Errorf("auth: refresh token TTL %s out of range %s..%s", c.RefreshTTL, c.AccessTTL, maxRefresh)
	}
	return nil
}

// Deps are what the auth service needs from its process.
type Deps struct {
	Log      zerolog.Logger
	DB       *pgxpool.Pool
	NC       *nats.Conn
	JS       jetstream.JetStream
	Registry prometheus.Registerer
}

// Migrate applies the auth service's migrations to its schema.
func Migrate(ctx context.Context, db *pgxpool.Pool) error {
	return pg.Migrate(ctx, db, Schema, migrationsFS)
}

// Run migrates the schema, makes sure a signing key exists and the sessions bucket too,
// serves the auth endpoints until ctx ends and then stops gracefully.
func Run(ctx context.Context, cfg Config, deps Deps) error {
	if err := cfg.defaults(); err != nil {
		return err
	}
	if err := Migrate(ctx, deps.DB); err != nil {
		return err
	}
	store := &KeyStore{db: deps.DB}
	if err := store.EnsureCurrent(ctx); err != nil {
		return err
	}
	keys := newKeyring(store, cfg.AccessTTL)
	if err := keys.load(ctx, 0); err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	if err := bus.EnsureBuckets(ctx, deps.JS); err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	kv, err := deps.JS.KeyValue(ctx, bus.BucketSessions)
	if err != nil {
		return fmt.Errorf("auth: sessions bucket: %w", err)
	}
	h := &handlers{nc: deps.NC, keys: keys, service: &serviceToken{keys: keys}, sessions: &Sessions{kv: kv},
		accessTTL: cfg.AccessTTL, refreshTTL: cfg.RefreshTTL}
	return rpc.Serve(ctx, rpc.Config{Name: "auth", Version: "0.1.0", Description: "signing keys, access tokens, refresh sessions"},
		rpc.Deps{Log: deps.Log, NC: deps.NC, Registry: deps.Registry, Verifier: authn.NewVerifierFor(keys.Source, deps.NC)},
		func(svc *rpc.Service) error {
			return svc.Add(
				rpc.Bind(subjects.AuthLogin, h.login),
				rpc.Bind(subjects.AuthRefresh, h.refresh),
				rpc.Bind(subjects.AuthLogout, h.logout),
				rpc.Bind(subjects.AuthJWKS, h.jwks),
				rpc.Bind(subjects.AuthRotateKey, h.rotate),
			)
		})
}
