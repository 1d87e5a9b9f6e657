package auth

import (
	"context"
	"embed"
	"fmt"
	"time"

	"github.com/souk/souk/nats/bus"
	"github.com/souk/souk/platform/consumer"
	"github.com/souk/souk/platform/kit"
	"github.com/souk/souk/platform/rpc"
	"github.com/souk/souk/platform/seal"
	"github.com/souk/souk/subjects"
)

//go:embed migrations/*.sql
var migrationsFS embed.FS

// Schema is the PostgreSQL schema the auth service owns.
const Schema = "auth"

// Config configures the auth service; config.go holds its defaults and checks. Tokens always
// carry authn.Issuer and authn.Audience.
type Config struct {
	// AccessTTL is the lifetime of access tokens; DefaultAccessTTL when zero.
	AccessTTL time.Duration
	// RefreshTTL is the lifetime of a refresh token; DefaultRefreshTTL when zero. It may not
	// exceed the TTL of the sessions bucket (30 days), which is what actually forgets them.
	RefreshTTL time.Duration
	// Seal is the process's data-encryption key (SOUK_SECRET_KEY and the previous ones): it
	// seals the signing keys in PostgreSQL. Declaring needs none; starting does.
	Seal *seal.Keyring
}

// Service declares the auth service: its endpoints and, at start, a first signing key when
// there is none and the sessions bucket. A cfg out of range is an error.
func Service(cfg Config, deps kit.Deps) (kit.Service, error) {
	if err := cfg.defaults(); err != nil {
		return kit.Service{}, err
	}
	store := &KeyStore{db: deps.DB, seal: cfg.Seal}
	keys := newKeyring(store, cfg.AccessTTL)
	sessions, revoker := &Sessions{}, &revoker{}
	h := &handlers{nc: deps.NC, keys: keys, service: &serviceToken{keys: keys}, sessions: sessions, revoker: revoker,
		accessTTL: cfg.AccessTTL, refreshTTL: cfg.RefreshTTL}
	return kit.Service{
		Name: "auth", Version: "0.1.0", Description: "signing keys, access tokens, refresh sessions",
		Schema: Schema, Migrations: migrationsFS, Keys: keys.Source,
		Endpoints: []rpc.Binding{
			rpc.Bind(subjects.AuthLogin, h.login),
			rpc.Bind(subjects.AuthRefresh, h.refresh),
			rpc.Bind(subjects.AuthLogout, h.logout),
			rpc.Bind(subjects.AuthJWKS, h.jwks),
			rpc.Bind(subjects.AuthRotateKey, h.rotate),
		},
		Consumers: []*consumer.Consumer{revoker.consumer()},
		Calls:     []subjects.Callee{subjects.UserVerifyCredentials, subjects.UserPrincipal},
		Buckets:   []string{bus.BucketSessions, bus.BucketRevocations},
		Start: func(ctx context.Context) error {
			if err := seal.ResealAtStart(ctx, deps.DB, cfg.Seal, keyColumn, deps.Logger("auth")); err != nil {
				return err
			}
			if err := store.EnsureCurrent(ctx); err != nil {
				return err
			}
			if err := keys.load(ctx, 0); err != nil {
				return fmt.Errorf("auth: %w", err)
			}
			kv, err := deps.JS.KeyValue(ctx, bus.BucketSessions)
			if err != nil {
				return fmt.Errorf("auth: sessions bucket: %w", err)
			}
			sessions.kv = kv
			if revoker.kv, err = deps.JS.KeyValue(ctx, bus.BucketRevocations); err != nil {
				return fmt.Errorf("auth: revocations bucket: %w", err)
			}
			return nil
		},
	}, nil
}
