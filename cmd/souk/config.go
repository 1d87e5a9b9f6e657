package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/souk/souk/platform/pg"
	"github.com/souk/souk/services/notification"
)

// Config is everything `souk` reads from its environment, each value also a flag. Flags win
// over the environment; the environment wins over the defaults.
type Config struct {
	HTTPAddr      string
	NATSListen    string
	natsExplicit  bool
	NATSURL       string
	DatabaseURL   string
	DataDir       string
	LogLevel      string
	LogFormat     string
	AdminEmail    string
	AdminPassword string
	CORSOrigins   string
	VerifyURL     string
	LoginAttempts string
	RateIP        string
	RateAccount   string
	Locale        string
	Currency      string
	MeiliURL      string
	MeiliAPIKey   string
	CatalogCache  string
	MaxReads      string
	// Checkout settings.
	ReservationTTL      string
	PaymentProvider     string
	StripeSecretKey     string
	StripeWebhookSecret string
	StripeAPIURL        string
	SandboxDelay        string
	ActionTimeout       string
	BcryptCost          string
	PprofAddr           string
	// Notification settings.
	SMTPURL        string
	ReviewURL      string
	reservationTTL time.Duration
	sandboxDelay   time.Duration
	actionTimeout  time.Duration
	bcryptCost     int
	loginAttempts  int
	catalogCache   int
	rateIP         int
	rateAccount    int
	maxReads       int
}

const (
	defaultNATSListen  = "127.0.0.1:4222"
	defaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/souk?sslmode=disable"
)

type setting struct {
	env, flag, def, help string
	dst                  *string
}

func (c *Config) settings() []setting {
	return []setting{
		{"SOUK_HTTP_ADDR", "http-addr", "127.0.0.1:8080", "gateway listen address", &c.HTTPAddr},
		{"SOUK_NATS_LISTEN", "nats-listen", defaultNATSListen, "embedded NATS server listen address (when NATS_URL is empty)", &c.NATSListen},
		{"NATS_URL", "nats-url", "", "join this NATS server instead of embedding one", &c.NATSURL},
		{"DATABASE_URL", "database-url", defaultDatabaseURL, "PostgreSQL URL; the database is created when missing", &c.DatabaseURL},
		{"SOUK_DATA_DIR", "data-dir", "./data", "directory of the embedded NATS server's JetStream files", &c.DataDir},
		{"SOUK_LOG_LEVEL", "log-level", "info", "debug, info, warn or error", &c.LogLevel},
		{"SOUK_LOG_FORMAT", "log-format", "", "json or console (console at a terminal by default)", &c.LogFormat},
		{"SOUK_ADMIN_EMAIL", "admin-email", "", "admin account ensured at start-up (with SOUK_ADMIN_PASSWORD)", &c.AdminEmail},
		{"SOUK_ADMIN_PASSWORD", "admin-password", "", "password of that admin account (prefer the environment to the flag)", &c.AdminPassword},
		{"SOUK_CORS_ORIGINS", "cors-origins", "", "comma-separated origins allowed by CORS", &c.CORSOrigins},
		{"SOUK_LOGIN_ATTEMPTS", "login-attempts", "10", "login attempts allowed per email and minute, from any address", &c.LoginAttempts},
		{"SOUK_RATE_IP", "rate-ip", "50", "requests per second per client IP (burst twice that); /v1/auth/* is held far lower", &c.RateIP},
		{"SOUK_RATE_ACCOUNT", "rate-account", "20", "requests per second per signed-in account (burst twice that)", &c.RateAccount},
		{"SOUK_VERIFY_URL", "verify-url", "http://127.0.0.1:8080/v1/auth/verify-email?token=", "base of the email verification link", &c.VerifyURL},
		{"SOUK_LOCALE", "locale", "en", "language of products' own names and descriptions (translations add others)", &c.Locale},
		{"SOUK_CURRENCY", "currency", "EUR", "the shop's currency: meant by a price filter that names none", &c.Currency},
		{"MEILI_URL", "meili-url", "", "Meilisearch URL: search there instead of in PostgreSQL", &c.MeiliURL},
		{"MEILI_API_KEY", "meili-api-key", "", "Meilisearch API key (prefer the environment to the flag)", &c.MeiliAPIKey},
		{"SOUK_RESERVATION_TTL", "reservation-ttl", "15m", "how long stock stays held for an unpaid order, then it is cancelled (payment_timeout); also how long an order may wait for the inventory to answer (not_confirmed)", &c.ReservationTTL},
		{"SOUK_PAYMENT_PROVIDER", "payment-provider", "sandbox", "sandbox (Stripe's test payment methods, decided here) or stripe", &c.PaymentProvider},
		{"STRIPE_SECRET_KEY", "stripe-secret-key", "", "Stripe API key, for the stripe provider (prefer the environment to the flag)", &c.StripeSecretKey},
		{"STRIPE_WEBHOOK_SECRET", "stripe-webhook-secret", "", "secret that verifies Stripe's webhooks (prefer the environment to the flag)", &c.StripeWebhookSecret},
		{"STRIPE_API_URL", "stripe-api-url", "", "Stripe API base URL; point it at stripe-mock to try the stripe provider offline", &c.StripeAPIURL},
		{"SOUK_SANDBOX_DELAY", "sandbox-delay", "200ms", "how long the sandbox provider takes to decide a payment (1ms and up: 1ms is at once)", &c.SandboxDelay},
		{"SOUK_PAYMENT_ACTION_TIMEOUT", "payment-action-timeout", "10m", "how long a payment may wait for the payer's action (3-D Secure), then it is cancelled at the provider and fails action_timeout; keep it below SOUK_RESERVATION_TTL", &c.ActionTimeout},
		{"SOUK_BCRYPT_COST", "bcrypt-cost", "12", "bcrypt work factor of passwords, 10 to 31 (each step doubles a login's CPU)", &c.BcryptCost},
		{"SOUK_PPROF_ADDR", "pprof-addr", "", "serve Go's profiles (/debug/pprof/) on this address, e.g. 127.0.0.1:6060; off when empty", &c.PprofAddr},
		{"SOUK_SMTP_URL", "smtp-url", "", "where email goes: smtp://user:pass@host:587?from=shop@example.com (STARTTLS when offered) or smtps://…:465; empty: emails are written to the log, secrets redacted (prefer the environment to the flag)", &c.SMTPURL},
		{"SOUK_REVIEW_URL", "review-url", notification.DefaultReviewURL, "review link of a delivered product in the delivery email; {product_id} is replaced", &c.ReviewURL},
		{"SOUK_MAX_READS", "max-reads", "0", "signed-in reads (order, payment, profile polls) the gateway lets in at once, more get 503 + Retry-After; 0: 2 per core, -1: no bound", &c.MaxReads},
		{"SOUK_CATALOG_CACHE_MB", "catalog-cache-mb", "48", "MiB of encoded catalog replies cached per catalog instance (2/3 products, 1/3 search pages); 0 turns caching off, for measurements", &c.CatalogCache},
	}
}

// parseConfig reads the environment (through getenv) and then the flags in args, and returns
// the validated Config and the remaining positional arguments. extra adds a command's own
// flags.
func parseConfig(name string, args []string, getenv func(string) string, out io.Writer, extra ...func(*flag.FlagSet)) (Config, []string, error) {
	var c Config
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(out)
	for _, add := range extra {
		add(fs)
	}
	for _, s := range c.settings() {
		def := s.def
		if v := getenv(s.env); v != "" {
			def = v
		}
		fs.StringVar(s.dst, s.flag, def, s.help+" ($"+s.env+")")
	}
	if err := fs.Parse(args); err != nil {
		return c, nil, err
	}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "nats-listen" {
			c.natsExplicit = true
		}
	})
	if getenv("SOUK_NATS_LISTEN") != "" {
		c.natsExplicit = true
	}
	return c, fs.Args(), c.validate()
}

func (c *Config) validate() error {
	var errs []error
	for _, a := range []struct{ name, v string }{{"SOUK_HTTP_ADDR", c.HTTPAddr}, {"SOUK_NATS_LISTEN", c.NATSListen}} {
		if _, _, err := net.SplitHostPort(a.v); err != nil {
			errs = append(errs, fmt.Errorf("%s %q: want host:port", a.name, a.v))
		}
	}
	if (c.AdminEmail == "") != (c.AdminPassword == "") {
		errs = append(errs, errors.New("SOUK_ADMIN_EMAIL and SOUK_ADMIN_PASSWORD go together: set both or neither"))
	}
	for _, n := range []struct {
		name, v string
		dst     *int
		least   int
	}{{"SOUK_LOGIN_ATTEMPTS", c.LoginAttempts, &c.loginAttempts, 1}, {"SOUK_RATE_IP", c.RateIP, &c.rateIP, 1},
		{"SOUK_RATE_ACCOUNT", c.RateAccount, &c.rateAccount, 1}, {"SOUK_CATALOG_CACHE_MB", c.CatalogCache, &c.catalogCache, 0},
		{"SOUK_MAX_READS", c.MaxReads, &c.maxReads, -1}, {"SOUK_BCRYPT_COST", c.BcryptCost, &c.bcryptCost, 10}} {
		v, err := strconv.Atoi(n.v)
		if err != nil || v < n.least || v > 1_000_000 {
			errs = append(errs, fmt.Errorf("%s %q: want a whole number from %d to 1000000", n.name, n.v, n.least))
		}
		*n.dst = v
	}
	for _, d := range []struct {
		name, v string
		dst     *time.Duration
		least   time.Duration
	}{{"SOUK_RESERVATION_TTL", c.ReservationTTL, &c.reservationTTL, time.Second}, {"SOUK_SANDBOX_DELAY", c.SandboxDelay, &c.sandboxDelay, time.Millisecond},
		{"SOUK_PAYMENT_ACTION_TIMEOUT", c.ActionTimeout, &c.actionTimeout, time.Second}} {
		v, err := time.ParseDuration(d.v)
		if err != nil || v < d.least || v > 24*time.Hour {
			errs = append(errs, fmt.Errorf("%s %q: want a duration such as 15m, from %s to 24h", d.name, d.v, d.least))
		}
		*d.dst = v
	}
	if c.PaymentProvider != "sandbox" && c.PaymentProvider != "stripe" {
		errs = append(errs, fmt.Errorf("SOUK_PAYMENT_PROVIDER %q: want sandbox or stripe", c.PaymentProvider))
	} else if c.PaymentProvider == "stripe" && c.StripeSecretKey == "" {
		errs = append(errs, errors.New("SOUK_PAYMENT_PROVIDER stripe needs STRIPE_SECRET_KEY"))
	}
	if c.SMTPURL != "" {
		if _, err := notification.ParseSMTPURL(c.SMTPURL); err != nil {
			errs = append(errs, err) // it never repeats the password
		}
	}
	if !strings.Contains(c.ReviewURL, "{product_id}") {
		errs = append(errs, fmt.Errorf("SOUK_REVIEW_URL %q: want a URL with {product_id}", c.ReviewURL))
	}
	if c.LogFormat != "" && c.LogFormat != "json" && c.LogFormat != "console" {
		errs = append(errs, fmt.Errorf("SOUK_LOG_FORMAT %q: want json or console", c.LogFormat))
	}
	return errors.Join(errs...)
}

func (c *Config) corsOrigins() []string {
	var out []string
	for _, o := range strings.Split(c.CORSOrigins, ",") {
		if o = strings.TrimSpace(o); o != "" {
			out = append(out, o)
		}
	}
	return out
}

// MarshalZerologObject logs the configuration with its secrets redacted.
func (c Config) MarshalZerologObject(e *zerolog.Event) {
	e.Str("http_addr", c.HTTPAddr).Str("nats_url", c.NATSURL).Str("nats_listen", c.NATSListen).
		Str("database_url", pg.Redact(c.DatabaseURL)).Str("data_dir", c.DataDir).
		Str("admin_email", c.AdminEmail).Bool("admin_password_set", c.AdminPassword != "").
		Str("cors_origins", c.CORSOrigins).Str("locale", c.Locale).Str("currency", c.Currency).
		Str("meili_url", pg.Redact(c.MeiliURL)).Bool("meili_api_key_set", c.MeiliAPIKey != "").
		Str("reservation_ttl", c.ReservationTTL).Str("payment_provider", c.PaymentProvider).Str("stripe_api_url", c.StripeAPIURL).
		Bool("stripe_secret_key_set", c.StripeSecretKey != "").Bool("stripe_webhook_secret_set", c.StripeWebhookSecret != "").Str("pprof_addr", c.PprofAddr).
		Str("smtp_url", pg.Redact(c.SMTPURL)).Str("review_url", c.ReviewURL)
}
