package notification

import (
	"context"
	"crypto/tls"
	"embed"
	"net"
	"time"

	"github.com/souk/souk/platform/background"
	"github.com/souk/souk/platform/kit"
	"github.com/souk/souk/platform/rpc"
	"github.com/souk/souk/platform/seal"
	"github.com/souk/souk/subjects"
)

//go:embed migrations/*.sql
var migrationsFS embed.FS

// Schema is the PostgreSQL schema the notification service owns.
const Schema = "notify"

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
	// Seal is the process's data-encryption key (SOUK_SECRET_KEY and the previous ones): it
	// seals the webhook secrets in PostgreSQL. Declaring needs none; starting does.
	Seal *seal.Keyring
	// AllowPrivateWebhooks lets webhooks reach loopback, private, link-local and other
	// internal addresses (SOUK_WEBHOOK_ALLOW_PRIVATE), for development only. Off, such
	// targets are refused at registration and on every connection of a delivery (egress.go).
	AllowPrivateWebhooks bool
	// Resolver looks up webhook hosts, at registration and when delivering; nil: the
	// system's. Tests point it at a DNS server of their own.
	Resolver *net.Resolver
}

// Service declares the notification service: its endpoints, the consumers that turn the
// other services' events into deliveries, and the sender that delivers them.
func Service(cfg Config, deps kit.Deps) (kit.Service, error) {
	if err := cfg.defaults(); err != nil {
		return kit.Service{}, err
	}
	renderer, err := NewRenderer(cfg.ReviewURL)
	if err != nil {
		return kit.Service{}, err
	}
	log := deps.Logger("notification")
	var mailer Mailer = &logMailer{log: log}
	if cfg.SMTPURL != "" {
		smtpCfg, _ := ParseSMTPURL(cfg.SMTPURL) // checked by defaults
		mailer = &smtpMailer{cfg: smtpCfg, timeout: cfg.SendTimeout, tls: cfg.SMTPTLS}
	}
	store := &Store{db: deps.DB, seal: cfg.Seal}
	out := newEgress(cfg.AllowPrivateWebhooks, cfg.Resolver)
	h := &handlers{store: store, egress: out}
	w := newWorker(store, map[string]Channel{
		subjects.ChannelEmail:   &emailChannel{renderer: renderer, mailer: mailer},
		subjects.ChannelWebhook: newWebhookChannel(out, cfg.SendTimeout),
	}, cfg, log, deps.Registry)
	wake := background.NewKicker()
	return kit.Service{
		Name: "notification", Version: "0.1.0", Description: "emails in the customer's language, outgoing webhooks",
		Schema: Schema, Migrations: migrationsFS,
		Endpoints: []rpc.Binding{
			rpc.Bind(subjects.NotificationList, h.list),
			rpc.Bind(subjects.WebhookCreate, h.createWebhook),
			rpc.Bind(subjects.WebhookList, h.listWebhooks),
			rpc.Bind(subjects.WebhookDelete, h.deleteWebhook),
		},
		Consumers: consumers(wake),
		Loops:     []kit.Loop{{Name: "sender", Round: w.round, Every: cfg.Poll, Wake: wake}},
		Start: func(ctx context.Context) error {
			log.Info().Object("config", cfg).Msg("notification: starting")
			if err := seal.ResealAtStart(ctx, deps.DB, cfg.Seal, secretColumn, log); err != nil {
				return err
			}
			if cfg.AllowPrivateWebhooks {
				log.Warn().Msg("notification: webhooks may reach loopback and private addresses (SOUK_WEBHOOK_ALLOW_PRIVATE): for development only")
			}
			return nil
		},
	}, nil
}
