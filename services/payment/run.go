package payment

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/souk/souk/nats/bus"
	"github.com/souk/souk/platform/authn"
	"github.com/souk/souk/platform/background"
	"github.com/souk/souk/platform/consumer"
	"github.com/souk/souk/platform/outbox"
	"github.com/souk/souk/platform/pg"
	"github.com/souk/souk/platform/rpc"
	"github.com/souk/souk/subjects"
)

//go:embed migrations/*.sql
var migrationsFS embed.FS

// Schema is the PostgreSQL schema the payment service owns.
const Schema = "payments"

// Providers.
const (
	ProviderSandbox = "sandbox"
	ProviderStripe  = "stripe"
)

// Defaults of Config.
const (
	DefaultSandboxDelay    = 200 * time.Millisecond
	DefaultProviderTimeout = 10 * time.Second
	DefaultReconcileAfter  = 30 * time.Second
	DefaultBreakerFailures = 5
	DefaultBreakerOpenFor  = 10 * time.Second
	DefaultActionTimeout   = 10 * time.Minute
)

// Config configures the payment service. Its secrets are redacted wherever it is logged or
// printed (MarshalZerologObject, String).
type Config struct {
	// Provider is "sandbox" (the default: Stripe's test payment methods, decided here) or
	// "stripe".
	Provider string
	// StripeSecretKey is the Stripe API key (sk_…); required with the stripe provider.
	StripeSecretKey string
	// StripeWebhookSecret verifies Stripe's webhooks (whsec_…); without it every webhook is
	// refused.
	StripeWebhookSecret string
	// StripeAPIURL is Stripe's API base URL (DefaultStripeAPIURL); stripe-mock's in tests.
	StripeAPIURL string
	// SandboxDelay is how long the sandbox takes to decide a payment (200 ms).
	SandboxDelay time.Duration
	// ProviderTimeout bounds every provider call (10 s).
	ProviderTimeout time.Duration
	// ReconcileAfter is how long a payment may stay undecided, or a refund unanswered,
	// before the worker asks the provider (30 s); the wait doubles with every look.
	ReconcileAfter time.Duration
	// BreakerFailures consecutive failed provider calls open the circuit breaker (5).
	BreakerFailures int
	// BreakerOpenFor is how long an open breaker refuses calls before it tries one (10 s).
	BreakerOpenFor time.Duration
	// ActionTimeout is how long a payment may wait for its payer to act (3-D Secure, a new
	// card) before the worker cancels its intent and fails it action_timeout, so that the
	// order is cancelled and its stock released (10 min: inside the 15 min reservation hold,
	// so the customer is told why).
	ActionTimeout time.Duration
}

func (c *Config) defaults() error {
	if c.Provider == "" {
		c.Provider = ProviderSandbox
	}
	if c.StripeAPIURL == "" {
		c.StripeAPIURL = DefaultStripeAPIURL
	}
	switch {
	case c.Provider != ProviderSandbox && c.Provider != ProviderStripe:
		return fmt.Errorf("payment: provider %q is neither sandbox nor stripe", c.Provider)
	case c.Provider == ProviderStripe && c.StripeSecretKey == "":
		return errors.New("payment: the stripe provider needs StripeSecretKey")
	case c.SandboxDelay < 0 || c.ProviderTimeout < 0 || c.ReconcileAfter < 0 || c.BreakerFailures < 0 || c.BreakerOpenFor < 0 || c.ActionTimeout < 0:
		return errors.New("payment: negative durations or counts in the configuration")
	}
	if u, err := url.Parse(c.StripeAPIURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("payment: StripeAPIURL %q is no http(s) URL", c.StripeAPIURL)
	}
	c.SandboxDelay = orDefault(c.SandboxDelay, DefaultSandboxDelay)
	c.ProviderTimeout = orDefault(c.ProviderTimeout, DefaultProviderTimeout)
	c.ReconcileAfter = orDefault(c.ReconcileAfter, DefaultReconcileAfter)
	c.BreakerOpenFor = orDefault(c.BreakerOpenFor, DefaultBreakerOpenFor)
	c.ActionTimeout = orDefault(c.ActionTimeout, DefaultActionTimeout)
	if c.BreakerFailures == 0 {
		c.BreakerFailures = DefaultBreakerFailures
	}
	return nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// MarshalZerologObject logs the configuration with its secrets redacted.
func (c Config) MarshalZerologObject(e *zerolog.Event) {
	e.Str("provider", c.Provider).Str("stripe_api_url", c.StripeAPIURL).
		Str("stripe_secret_key", redact(c.StripeSecretKey)).Str("stripe_webhook_secret", redact(c.StripeWebhookSecret)).
		Dur("sandbox_delay", c.SandboxDelay).Dur("provider_timeout", c.ProviderTimeout).
		Dur("reconcile_after", c.ReconcileAfter).Int("breaker_failures", c.BreakerFailures).Dur("breaker_open_for", c.BreakerOpenFor).Dur("action_timeout", c.ActionTimeout)
}

// String prints the configuration with its secrets redacted, so %v cannot leak them.
func (c Config) String() string {
	return fmt.Sprintf("payment.Config{Provider: %q, StripeAPIURL: %q, StripeSecretKey: %q, StripeWebhookSecret: %q}",
		c.Provider, c.StripeAPIURL, redact(c.StripeSecretKey), redact(c.StripeWebhookSecret))
}

// GoString is String, for %#v.
func (c Config) GoString() string { return c.String() }

func redact(secret string) string {
	if secret == "" {
		return ""
	}
	return "[redacted]"
}

// Deps are what the payment service needs from its process.
type Deps struct {
	Log      zerolog.Logger
	DB       *pgxpool.Pool
	NC       *nats.Conn
	JS       jetstream.JetStream
	Registry prometheus.Registerer
	// Keys is where callers' token keys come from: the auth service's JWKS over NATS when nil.
	Keys authn.KeySource
}

// Migrate applies the payment schema's migrations, its outbox's and its consumer's
// processed table.
func Migrate(ctx context.Context, db *pgxpool.Pool) error {
	return errors.Join(pg.Migrate(ctx, db, Schema, migrationsFS), outbox.Migrate(ctx, db, Schema), consumer.Migrate(ctx, db, Schema))
}

// Run migrates the schema and serves payments until ctx ends: the endpoints, the outbox
// relay, the consumer of order events and the worker. Then it stops them all gracefully.
func Run(ctx context.Context, cfg Config, deps Deps) error {
	if err := cfg.defaults(); err != nil {
		return err
	}
	if deps.Registry == nil {
		deps.Registry = prometheus.NewRegistry()
	}
	if err := Migrate(ctx, deps.DB); err != nil {
		return err
	}
	if err := bus.EnsureStreams(ctx, deps.JS); err != nil {
		return fmt.Errorf("payment: %w", err)
	}
	log := deps.Log.With().Str("service", "payment").Logger()
	log.Info().Object("config", cfg).Msg("payment: starting")
	sb := newSandbox(cfg.SandboxDelay)
	var provider Provider = sb
	if cfg.Provider == ProviderStripe {
		provider = newStripe(cfg)
	}
	s := &service{cfg: cfg, log: log, nc: deps.NC, relay: outbox.NewRelay(Schema, deps.DB, deps.JS, log),
		store:    &store{db: deps.DB, provider: provider.Name(), reconcileAfter: cfg.ReconcileAfter, actionTimeout: cfg.ActionTimeout},
		provider: newGuarded(provider, cfg, deps.Registry, log)}
	s.relay.Metrics = deps.Registry
	s.worker = newWorker(s, cfg.ReconcileAfter)

	g := background.Start(ctx, log)
	defer g.Stop()
	g.Go("outbox relay", s.relay.Run)
	g.Run("worker", s.worker.run)
	g.Run("sandbox notices", func(ctx context.Context) {
		sb.run(ctx, s.applyNotices, func(ns []notice, err error) {
			log.Warn().Err(err).Int("notices", len(ns)).Msg("payment: sandbox notices not applied; reconciliation will")
		})
	})
	orders := &consumer.Consumer{Name: ordersConsumer, Stream: "ORDERS", Subjects: orderSubjects, Schema: Schema,
		DB: deps.DB, JS: deps.JS, Log: log, Metrics: deps.Registry, Handle: s.applyOrderEvent,
		AfterCommit: func([]consumer.Msg) { s.relay.Kick(); s.worker.Kick() }}
	g.Go("consumer "+orders.Name, orders.Run)
	log.Info().Str("provider", s.provider.Name()).Msg("payment: collecting through this provider")
	return serve(ctx, s, deps, g)
}

// serve registers the endpoints and serves until ctx ends.
func serve(ctx context.Context, s *service, deps Deps, loops *background.Group) error {
	return rpc.Serve(ctx, rpc.Config{Name: "payment", Version: "0.1.0", Description: "payment intents, provider webhooks, refunds"},
		rpc.Deps{Log: deps.Log, NC: deps.NC, Registry: deps.Registry, Verifier: authn.NewVerifierFor(deps.Keys, deps.NC), Loops: loops},
		func(svc *rpc.Service) error {
			return svc.Add(
				rpc.Bind(subjects.PaymentCreate, s.paymentCreate),
				rpc.Bind(subjects.PaymentRefund, s.refundCreate),
				rpc.Bind(subjects.PaymentStripeWebhook, s.stripeWebhook),
			)
		})
}
