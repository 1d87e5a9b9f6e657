package user

import (
	"context"
	"embed"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/souk/souk/nats/bus"
	"github.com/souk/souk/platform/authn"
	"github.com/souk/souk/platform/background"
	"github.com/souk/souk/platform/outbox"
	"github.com/souk/souk/platform/pg"
	"github.com/souk/souk/platform/rpc"
	"github.com/souk/souk/subjects"
)

//go:embed migrations/*.sql
var migrationsFS embed.FS

// Schema is the PostgreSQL schema the user service owns.
const Schema = "users"

// Defaults of Config.
const (
	// DefaultBcryptCost is the bcrypt cost when Config.BcryptCost is zero.
	DefaultBcryptCost = 12
	// MinBcryptCost is the least cost accepted: OWASP's floor for bcrypt. A shop on small
	// machines with many logins may choose it (a hash is 4× cheaper than at 12); the
	// end-to-end tests do, since under the race detector a cost-12 hash takes seconds.
	MinBcryptCost = 10
	// DefaultVerifyURL is the base of the email verification link; the token is appended.
	DefaultVerifyURL = "http://127.0.0.1:8080/verify-email?token="
)

// Config configures the user service.
type Config struct {
	// AdminEmail and AdminPassword, when both are set, name an account that Run makes sure
	// exists and holds the admin role (SOUK_ADMIN_EMAIL, SOUK_ADMIN_PASSWORD). An existing
	// account keeps its password. The password must pass the password policy.
	AdminEmail    string
	AdminPassword string `json:"-"`
	// BcryptCost is the bcrypt work factor (SOUK_BCRYPT_COST); DefaultBcryptCost when zero,
	// never less than MinBcryptCost.
	BcryptCost int
	// VerifyURL is the base of the email verification link, to which the token is appended;
	// DefaultVerifyURL when empty.
	VerifyURL string
	// HashConcurrency bounds the bcrypt computations in flight; 2 (the cores of the reference
	// machine) when zero.
	HashConcurrency int
}

// String describes the config with the admin password redacted, for logs.
func (c Config) String() string {
	pw := ""
	if c.AdminPassword != "" {
		pw = "xxxxx"
	}
	return fmt.Sprintf("user.Config{AdminEmail:%q AdminPassword:%q BcryptCost:%d VerifyURL:%q HashConcurrency:%d}",
		c.AdminEmail, pw, c.BcryptCost, c.VerifyURL, c.HashConcurrency)
}

func (c *Config) defaults() error {
	if c.BcryptCost == 0 {
		c.BcryptCost = DefaultBcryptCost
	}
	if c.BcryptCost < MinBcryptCost || c.BcryptCost > 31 {
		return fmt.Errorf("user: bcrypt cost %d out of range %d..31", c.BcryptCost, MinBcryptCost)
	}
	if c.VerifyURL == "" {
		c.VerifyURL = DefaultVerifyURL
	}
	if c.HashConcurrency <= 0 {
		c.HashConcurrency = 2
	}
	return nil
}

// Deps are what the user service needs from its process.
type Deps struct {
	Log      zerolog.Logger
	DB       *pgxpool.Pool
	NC       *nats.Conn
	JS       jetstream.JetStream
	Registry prometheus.Registerer
}

// Migrate applies the user service's migrations to its schema, and its outbox's.
func Migrate(ctx context.Context, db *pgxpool.Pool) error {
	return errors.Join(pg.Migrate(ctx, db, Schema, migrationsFS), outbox.Migrate(ctx, db, Schema))
}

// Run migrates the schema, ensures the admin account, serves the user endpoints and relays
// the user events (USERS stream) until ctx ends and then stops gracefully.
func Run(ctx context.Context, cfg Config, deps Deps) error {
	if err := cfg.defaults(); err != nil {
		return err
	}
	if err := Migrate(ctx, deps.DB); err != nil {
		return err
	}
	if err := bus.EnsureStreams(ctx, deps.JS); err != nil {
		return fmt.Errorf("user: %w", err)
	}
	store := NewStore(deps.DB)
	h, err := newHandlers(store, cfg.BcryptCost, cfg.VerifyURL, cfg.HashConcurrency)
	if err != nil {
		return err
	}
	relay := outbox.NewRelay(Schema, deps.DB, deps.JS, deps.Log)
	relay.Metrics = deps.Registry
	h.kick = relay.Kick
	g := background.Start(ctx, deps.Log.With().Str("service", "user").Logger())
	defer g.Stop()
	g.Go("outbox relay", relay.Run)
	if cfg.AdminEmail != "" && cfg.AdminPassword != "" {
		if err := h.ensureAdmin(ctx, cfg.AdminEmail, cfg.AdminPassword, deps.Log); err != nil {
			return err
		}
	}
	return rpc.Serve(ctx, rpc.Config{Name: "user", Version: "0.1.0", Description: "accounts, credentials, profiles, email verification"},
		rpc.Deps{Log: deps.Log, NC: deps.NC, Registry: deps.Registry, Verifier: authn.NewVerifierFor(nil, deps.NC), Loops: g},
		func(svc *rpc.Service) error {
			return svc.Add(
				rpc.Bind(subjects.UserRegister, h.register),
				rpc.Bind(subjects.UserVerifyCredentials, h.verifyCredentials),
				rpc.Bind(subjects.UserPrincipal, h.principal),
				rpc.Bind(subjects.UserMe, h.me),
				rpc.Bind(subjects.UserUpdateMe, h.updateMe),
				rpc.Bind(subjects.UserVerifyEmail, h.verifyEmail),
				rpc.Bind(subjects.UserList, h.list),
				rpc.Bind(subjects.UserSetRoles, h.setRoles),
			)
		})
}

// ensureAdmin creates the admin account, or grants the admin role to the existing account of
// email without touching its password. Errors never contain the password.
func (h *handlers) ensureAdmin(ctx context.Context, rawEmail, password string, log zerolog.Logger) error {
	email, err := NormalizeEmail(rawEmail)
	if err != nil {
		return fmt.Errorf("user: admin email (SOUK_ADMIN_EMAIL) %s", err)
	}
	if err := CheckPassword(password, email); err != nil {
		return fmt.Errorf("user: admin password (SOUK_ADMIN_PASSWORD) %s", err)
	}
	// The common case on a restart: the account exists; skip the bcrypt work.
	if err := h.store.GrantAdmin(ctx, email); err == nil {
		log.Info().Str("email", email).Msg("admin account present")
		return nil
	} else if !errors.Is(err, ErrNotFound) {
		return err
	}
	id, err := uuid.NewV7()
	if err != nil {
		return err
	}
	hash, err := h.hash(ctx, password)
	if err != nil {
		return fmt.Errorf("user: admin account: %w", err)
	}
	created, err := h.store.EnsureAdmin(ctx, Account{ID: id, Email: email, PasswordHash: hash, Name: "Admin",
		Locale: DefaultLocale, Roles: []string{subjects.RoleCustomer, subjects.RoleStaff, subjects.RoleAdmin}})
	if err != nil {
		return err
	}
	log.Info().Str("email", email).Bool("created", created).Msg("admin account ensured")
	return nil
}
