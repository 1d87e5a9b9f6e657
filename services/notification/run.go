package notification

import (
	"context"
	"crypto/tls"
	"embed"
	"errors"
	"fmt"
	"net/url"
	"strings"
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
	"github.com/souk/souk/platform/pg"
	"github.com/souk/souk/platform/rpc"
	"github.com/souk/souk/subjects"
)

//go:embed migrations/*.sql
var migrationsFS embed.FS

// Schema is the PostgreSQL schema the notification service owns.
const Schema = "notify"

// Defaults of Config.
const (
	// DefaultReviewURL is the review link of a delivered product; {product_id} is replaced.
	DefaultReviewURL   = "http://127.0.0.1:8080/v1/products/{product_id}/reviews"
	DefaultMaxAttempts = 8
	DefaultRetryBase   = 30 * time.Second
	DefaultRetryMax    = time.Hour
	DefaultSendTimeout = 10 * time.Second
	DefaultPoll        = time.Second
	DefaultParallel    = 8
)

// Config configures the notification service. Zero fields take the defaults; the SMTP
// password is redacted wherever the config is logged or printed.
type Config struct {
	// SMTPURL is where email goes (SOUK_SMTP_URL, see ParseSMTPURL); empty: the log
	// channel writes what would have been sent, secrets redacted.
	SMTPURL string
	// SMTPTLS, when set, is the TLS configuration of STARTTLS and smtps (tests trust their
	// own certificate with it); the system's roots otherwise.
	SMTPTLS *tls.Config
	// ReviewURL is the review link of a delivered product, with {product_id}.
	ReviewURL string
	// MaxAttempts is how many times a delivery is tried before it fails for good (8).
	MaxAttempts int
	// RetryBase is the wait after the first failed attempt; it doubles with every attempt
	// (30 s), up to RetryMax (1 h). Eight attempts span about an hour and a half.
	RetryBase time.Duration
	RetryMax  time.Duration
	// SendTimeout bounds one attempt: the whole SMTP conversation, or the webhook request
	// and its answer (10 s).
	SendTimeout time.Duration
	// Poll is how often the worker looks for due retries when nothing wakes it (1 s).
	Poll time.Duration
	// Parallel bounds the attempts in flight per instance (8).
	Parallel int
}

func (c *Config) defaults() error {
	if c.ReviewURL == "" {
		c.ReviewURL = DefaultReviewURL
	}
	if u, err := url.Parse(c.ReviewURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || !strings.Contains(c.ReviewURL, "{product_id}") {
		return fmt.Errorf("notification: review URL %q: want an http(s) URL with {product_id}", c.ReviewURL)
	}
	if c.MaxAttempts < 0 || c.RetryBase < 0 || c.RetryMax < 0 || c.SendTimeout < 0 || c.Poll < 0 || c.Parallel < 0 {
		return errors.New("notification: negative durations or counts in the configuration")
	}
	c.MaxAttempts = orDefault(c.MaxAttempts, DefaultMaxAttempts)
	c.RetryBase = orDefault(c.RetryBase, DefaultRetryBase)
	c.RetryMax = max(orDefault(c.RetryMax, DefaultRetryMax), c.RetryBase)
	c.SendTimeout = orDefault(c.SendTimeout, DefaultSendTimeout)
	c.Poll = orDefault(c.Poll, min(DefaultPoll, c.RetryBase))
	c.Parallel = orDefault(c.Parallel, DefaultParallel)
	if c.SMTPURL != "" {
		if _, err := ParseSMTPURL(c.SMTPURL); err != nil {
			return fmt.Errorf("notification: %w", err)
		}
	}
	return nil
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// backoff is the wait after the attempts-th failed attempt: RetryBase doubling up to
// RetryMax.
func (c Config) backoff(attempts int) time.Duration {
	return background.Doubling(attempts, c.RetryBase, c.RetryMax)
}

// lease is how long a claimed delivery is left to its worker: an attempt's time and a
// margin. A worker that dies mid-send leaves it to be tried again after that.
func (c Config) lease() time.Duration { return c.SendTimeout + 5*time.Second }

// smtpDesc is the SMTP server for logs: the URL without its password, or "log".
func (c Config) smtpDesc() string {
	if c.SMTPURL == "" {
		return "log"
	}
	s, err := ParseSMTPURL(c.SMTPURL)
	if err != nil {
		return "[invalid]"
	}
	return s.String()
}

// MarshalZerologObject logs the configuration with the SMTP password redacted.
func (c Config) MarshalZerologObject(e *zerolog.Event) {
	e.Str("smtp", c.smtpDesc()).Str("review_url", c.ReviewURL).Int("max_attempts", c.MaxAttempts).
		Dur("retry_base", c.RetryBase).Dur("retry_max", c.RetryMax).Dur("send_timeout", c.SendTimeout)
}

// String prints the configuration with the SMTP password redacted, so %v cannot leak it.
func (c Config) String() string {
	return fmt.Sprintf("notification.Config{SMTP: %q, ReviewURL: %q, MaxAttempts: %d}", c.smtpDesc(), c.ReviewURL, c.MaxAttempts)
}

// GoString is String, for %#v.
func (c Config) GoString() string { return c.String() }

// Deps are what the notification service needs from its process.
type Deps struct {
	Log      zerolog.Logger
	DB       *pgxpool.Pool
	NC       *nats.Conn
	JS       jetstream.JetStream
	Registry prometheus.Registerer
	// Keys is where callers' token keys come from: the auth service's JWKS over NATS when nil.
	Keys authn.KeySource
}

// Migrate applies the notification schema's migrations and its consumers' processed table.
func Migrate(ctx context.Context, db *pgxpool.Pool) error {
	return errors.Join(pg.Migrate(ctx, db, Schema, migrationsFS), consumer.Migrate(ctx, db, Schema))
}

// Run migrates the schema and runs the service until ctx ends: the consumers, the worker
// and the endpoints. Then it stops them all gracefully.
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
		return fmt.Errorf("notification: %w", err)
	}
	log := deps.Log.With().Str("service", "notification").Logger()
	log.Info().Object("config", cfg).Msg("notification: starting")
	renderer, err := NewRenderer(cfg.ReviewURL)
	if err != nil {
		return err
	}
	var mailer Mailer = &logMailer{log: log}
	if cfg.SMTPURL != "" {
		smtpCfg, _ := ParseSMTPURL(cfg.SMTPURL) // checked by defaults
		mailer = &smtpMailer{cfg: smtpCfg, timeout: cfg.SendTimeout, tls: cfg.SMTPTLS}
	}
	store := &Store{db: deps.DB}
	w := newWorker(store, map[string]Channel{
		subjects.ChannelEmail:   &emailChannel{renderer: renderer, mailer: mailer},
		subjects.ChannelWebhook: newWebhookChannel(cfg.SendTimeout),
	}, cfg, log, deps.Registry)

	g := background.Start(ctx, log)
	defer g.Stop()
	g.Run("sender", w.run)
	for _, s := range streams {
		c := &consumer.Consumer{Name: s.consumer, Stream: s.stream, Schema: Schema, DB: deps.DB, JS: deps.JS, Log: log, Metrics: deps.Registry,
			Handle: apply, AfterCommit: func([]consumer.Msg) { w.Kick() }}
		g.Go("consumer "+c.Name, c.Run)
	}
	return serve(ctx, &handlers{store: store}, deps, g)
}

// serve registers the endpoints and serves until ctx ends.
func serve(ctx context.Context, h *handlers, deps Deps, loops *background.Group) error {
	return rpc.Serve(ctx, rpc.Config{Name: "notification", Version: "0.1.0", Description: "emails in the customer's language, outgoing webhooks"},
		rpc.Deps{Log: deps.Log, NC: deps.NC, Registry: deps.Registry, Verifier: authn.NewVerifierFor(deps.Keys, deps.NC), Loops: loops},
		func(svc *rpc.Service) error {
			return svc.Add(
				rpc.Bind(subjects.NotificationList, h.list),
				rpc.Bind(subjects.WebhookCreate, h.createWebhook),
				rpc.Bind(subjects.WebhookList, h.listWebhooks),
				rpc.Bind(subjects.WebhookDelete, h.deleteWebhook),
			)
		})
}
