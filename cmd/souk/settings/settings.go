// Package settings declares every setting of the souk binary once, in the tags of Config:
// its environment variable, its flag, its default, its help, whether it is a secret and what
// a valid value is. That one declaration drives the parsing (flags win over the environment,
// the environment over the default), the validation (each error names the setting), `souk
// run --help`, the logged configuration (secrets redacted) and the table of settings in
// README.md (a test keeps it equal to the declaration).
//
// The tags of a setting:
//
//	env:"NAME"          the environment variable (read with github.com/caarlos0/env)
//	envDefault:"value"  the default: what --help shows, never the environment's value
//	flag:"name"         the flag, -name or --name
//	help:"text"         what it does, for --help and README.md
//	secret:"value"      never logged, never repeated in an error; secret:"url": a URL whose password is redacted;
//	                    a secret may also be read from the file NAME_FILE names (see fromEnv)
//	min:"1" max:"31"    bounds of a number or a duration
//	oneof:"a b"         the values allowed
//	check:"hostport"    a named rule: hostport, url, smtp, loglevel, key, keys or label (see checks)
//	live:"gateway.rate_ip"  the setting is the default of that key of the live configuration
//	                    (platform/liveconfig), which declares the bounds: no min or max here
//
// A rule that spans settings lives in Config.rules. The package imports no service, so it
// builds and tests whatever state the services are in.
package settings

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/souk/souk/platform/seal"
)

// Config is every setting of souk, typed and validated. Build one with Parse.
type Config struct {
	HTTPAddr      string `env:"SOUK_HTTP_ADDR" flag:"http-addr" envDefault:"127.0.0.1:8080" check:"hostport" help:"gateway listen address"`
	NATSListen    string `env:"SOUK_NATS_LISTEN" flag:"nats-listen" envDefault:"127.0.0.1:4222" check:"hostport" help:"embedded NATS server listen address (when NATS_URL is empty): a free port if this one is taken, unless it was set explicitly, then a taken port is an error"`
	NATSURL       string `env:"NATS_URL" flag:"nats-url" help:"join this NATS server instead of embedding one"`
	NATSReplicas  int    `env:"SOUK_NATS_REPLICAS" flag:"nats-replicas" envDefault:"1" min:"1" max:"5" help:"copies of every JetStream stream and KV bucket, each on its own server of the NATS cluster, set at start-up (an existing one is scaled to it): 1 on one server, 3 in production (one server may be lost); more than 1 needs NATS_URL, a cluster"`
	DatabaseURL   string `env:"DATABASE_URL" flag:"database-url" envDefault:"postgres://postgres@127.0.0.1:5432/souk?sslmode=disable" secret:"url" help:"PostgreSQL URL; the database is created when missing"`
	DataDir       string `env:"SOUK_DATA_DIR" flag:"data-dir" envDefault:"./data" help:"directory of the embedded NATS server's JetStream files, locked by one running shop"`
	LogLevel      string `env:"SOUK_LOG_LEVEL" flag:"log-level" envDefault:"info" check:"loglevel" live:"log.level" help:"debug, info, warn or error"`
	LogFormat     string `env:"SOUK_LOG_FORMAT" flag:"log-format" oneof:"json console" help:"json or console; when empty, console at a terminal and json otherwise"`
	SecretKey     string `env:"SOUK_SECRET_KEY" flag:"secret-key" secret:"value" check:"key" help:"data-encryption key (base64 of 32 bytes: head -c32 /dev/urandom | base64) that seals the signing keys and webhook secrets in PostgreSQL; required with NATS_URL by the services that seal (auth, notification); when empty with the embedded NATS server, one is made once in the data directory (secret.key), for development only"`
	SecretKeysOld List   `env:"SOUK_SECRET_KEYS_OLD" flag:"secret-keys-old" secret:"value" check:"keys" help:"previous data-encryption keys, comma- or line-separated: values sealed under them still open, and each service seals them again under SOUK_SECRET_KEY when it starts (key rotation)"`
	NATSUser      string `env:"SOUK_NATS_USER" flag:"nats-user" help:"NATS user of this process (nats/accounts.conf): the service's name when it runs alone (order), gateway for the gateway, admin for souk nats setup; when empty, none (the embedded server checks nothing)"`
	NATSPassword  string `env:"SOUK_NATS_PASSWORD" flag:"nats-password" secret:"value" help:"password of SOUK_NATS_USER (prefer SOUK_NATS_PASSWORD_FILE)"`
	NATSCA        string `env:"SOUK_NATS_CA" flag:"nats-ca" help:"PEM file of the CA that signed the NATS servers' certificates; set, the connection to NATS is TLS"`
	NATSCert      string `env:"SOUK_NATS_CERT" flag:"nats-cert" help:"PEM file of this process's client certificate for NATS (mutual TLS), with SOUK_NATS_KEY"`
	NATSKey       string `env:"SOUK_NATS_KEY" flag:"nats-key" help:"PEM file of the key of SOUK_NATS_CERT"`

	// Logs in JetStream (docs/observability.md, "Logs").
	LogStream bool          `env:"SOUK_LOG_STREAM" flag:"log-stream" envDefault:"true" help:"also publish every log line to the JetStream stream LOGS (souk logs reads it across every instance and site); stdout keeps every line either way, for a log shipper; a line that would wait for NATS is dropped and counted (souk_log_dropped_total), never the service held up"`
	LogMaxMB  int           `env:"SOUK_LOG_MAX_MB" flag:"log-max-mb" envDefault:"256" min:"1" max:"1000000" help:"MiB the stream LOGS keeps (the hub's, or a site's), set at start-up: beyond it the oldest lines leave; JetStream reserves it from its store"`
	LogMaxAge time.Duration `env:"SOUK_LOG_MAX_AGE" flag:"log-max-age" envDefault:"168h" min:"1m" max:"87600h" help:"how long the stream LOGS keeps a line, set at start-up"`

	AdminEmail           string        `env:"SOUK_ADMIN_EMAIL" flag:"admin-email" help:"admin account ensured at start-up (with SOUK_ADMIN_PASSWORD); when empty, none"`
	AdminPassword        string        `env:"SOUK_ADMIN_PASSWORD" flag:"admin-password" secret:"value" help:"password of that admin account (prefer the environment to the flag)"`
	CORSOrigins          List          `env:"SOUK_CORS_ORIGINS" flag:"cors-origins" help:"comma-separated origins allowed by CORS; when empty, no cross-origin access"`
	VerifyURL            string        `env:"SOUK_VERIFY_URL" flag:"verify-url" envDefault:"http://127.0.0.1:8080/v1/auth/verify-email?token=" check:"url" help:"base of the email verification link; the token is appended"`
	VerifyRedirectURL    string        `env:"SOUK_VERIFY_REDIRECT_URL" flag:"verify-redirect-url" check:"url" help:"the shop's page the verification link redirects to (303) with ?status=verified or ?status=invalid; when empty, the gateway answers a short page itself"`
	ResetURL             string        `env:"SOUK_RESET_URL" flag:"reset-url" envDefault:"http://127.0.0.1:8080/reset-password?token=" check:"url" help:"base of the password reset link: the shop's page that asks for the new password and sends it with the token to POST /v1/auth/password/reset; the token is appended; a link works once, for 30 minutes"`
	BcryptCost           int           `env:"SOUK_BCRYPT_COST" flag:"bcrypt-cost" envDefault:"12" min:"10" max:"31" help:"bcrypt work factor of passwords, 10 (OWASP's floor) to 31; each step doubles a login's CPU"`
	LoginAttempts        int           `env:"SOUK_LOGIN_ATTEMPTS" flag:"login-attempts" envDefault:"5" live:"gateway.login_attempts" help:"failed logins one client address may make on one email before each next attempt waits, 1 s doubling up to 15 min; a success resets it"`
	LoginEmailAttempts   int           `env:"SOUK_LOGIN_EMAIL_ATTEMPTS" flag:"login-email-attempts" envDefault:"10" live:"gateway.login_email_attempts" help:"failed logins on one email from any address before each next attempt at it waits, 1 s doubling up to SOUK_LOGIN_EMAIL_WAIT; an address with no failure on that email keeps its turn, so the owner is delayed, never locked out"`
	LoginEmailWait       time.Duration `env:"SOUK_LOGIN_EMAIL_WAIT" flag:"login-email-wait" envDefault:"30s" min:"1s" max:"10m" help:"the longest wait of the per-email login limit: the most the owner of an attacked account waits"`
	LoginAddressAttempts int           `env:"SOUK_LOGIN_ADDRESS_ATTEMPTS" flag:"login-address-attempts" envDefault:"30" live:"gateway.login_address_attempts" help:"failed logins one client address may make across all emails (password spraying) before each next attempt waits, 1 s doubling up to 15 min; clients behind one NAT share it"`
	SSEPerUser           int           `env:"SOUK_SSE_PER_USER" flag:"sse-per-user" envDefault:"8" min:"1" max:"1000000" help:"order event streams one account may hold open at once; the next is a 429 until one closes"`
	RateIP               int           `env:"SOUK_RATE_IP" flag:"rate-ip" envDefault:"50" live:"gateway.rate_ip" help:"requests per second per client IP (burst twice that); /v1/auth/* is held far lower"`
	RateAccount          int           `env:"SOUK_RATE_ACCOUNT" flag:"rate-account" envDefault:"20" live:"gateway.rate_account" help:"requests per second per signed-in account (burst twice that)"`
	MaxReads             int           `env:"SOUK_MAX_READS" flag:"max-reads" envDefault:"0" min:"-1" max:"1000000" help:"signed-in reads (order, payment, profile polls) the gateway lets in at once, more get 503 with Retry-After; 0: 2 per core, -1: no bound"`
	HeldRetries          int           `env:"SOUK_HELD_RETRIES" flag:"held-retries" envDefault:"0" min:"-1" max:"1000000" help:"refused signed-in reads the gateway holds at once until their Retry-After is up, when their client asked again before it was (a poller ignoring Retry-After then asks twice a second); 0: 1024, -1: every refusal at once"`
	MaxCheckouts         int           `env:"SOUK_MAX_CHECKOUTS" flag:"max-checkouts" envDefault:"96" live:"order.max_checkouts" help:"checkouts in progress (orders placed in the last minute, not yet paid or cancelled) the shop holds at once; more placements get 503 with Retry-After at once, so what is admitted reaches paid in time; about the sustained checkouts per second × the time to paid wanted; 0: no bound"`
	RequestTimeout       time.Duration `env:"SOUK_REQUEST_TIMEOUT" flag:"request-timeout" envDefault:"10s" min:"100ms" max:"10m" help:"how long the gateway waits for the services to answer one request, then 504; raise it on a starved machine (a test run under the race detector), not to hide a slow service"`

	Locale           string `env:"SOUK_LOCALE" flag:"locale" envDefault:"en" help:"language of products' own names and descriptions (translations add others)"`
	Currency         string `env:"SOUK_CURRENCY" flag:"currency" envDefault:"EUR" help:"the shop's currency: the one a price filter means when it names none"`
	CatalogCacheMB   int    `env:"SOUK_CATALOG_CACHE_MB" flag:"catalog-cache-mb" envDefault:"48" min:"0" max:"1000000" help:"MiB of encoded catalog replies cached per catalog instance (2/3 products, 1/3 search pages); 0 turns caching off, for measurements"`
	SearchMaxMatches int    `env:"SOUK_SEARCH_MAX_MATCHES" flag:"search-max-matches" envDefault:"1000" min:"-1" max:"1000000" help:"matches a PostgreSQL search reads at most to rank by relevance and count its facets (Meilisearch's maxTotalHits); past it the facets are estimates (facets.estimated) and relevance pages end; sorted pages are not capped; -1: no cap, every match read"`
	SearchConns      int    `env:"SOUK_SEARCH_CONNS" flag:"search-conns" envDefault:"0" min:"-1" max:"100000" help:"database connections a catalog instance's PostgreSQL searches hold at once, so that a burst of uncached searches leaves the rest of the pool to product reads and checkouts; 0: half the pool (pool_max_conns in DATABASE_URL), -1: no bound"`
	CatalogRelayRate int    `env:"SOUK_CATALOG_RELAY_RATE" flag:"catalog-relay-rate" envDefault:"1000" min:"-1" max:"10000000" help:"catalog events a second the relay publishes at most once it has a backlog (an import, a start that relays the whole catalog), so the storefront's reads keep their cores; a lone change after a quiet spell is not held; 0: 1000, -1: no pacing"`
	MeiliURL         string `env:"MEILI_URL" flag:"meili-url" check:"url" secret:"url" help:"Meilisearch URL: search there instead of in PostgreSQL; when empty, search in PostgreSQL"`
	MeiliAPIKey      string `env:"MEILI_API_KEY" flag:"meili-api-key" secret:"value" help:"Meilisearch API key (prefer the environment to the flag)"`

	ReservationTTL      time.Duration `env:"SOUK_RESERVATION_TTL" flag:"reservation-ttl" envDefault:"15m" live:"inventory.reservation_ttl" help:"how long stock stays held for an unpaid order, then it is cancelled (payment_timeout); also how long an order may wait for the inventory to answer (not_confirmed)"`
	PaymentProvider     string        `env:"SOUK_PAYMENT_PROVIDER" flag:"payment-provider" envDefault:"sandbox" oneof:"sandbox stripe" help:"sandbox (Stripe's test payment methods, decided here) or stripe"`
	StripeSecretKey     string        `env:"STRIPE_SECRET_KEY" flag:"stripe-secret-key" secret:"value" help:"Stripe API key, for the stripe provider (prefer the environment to the flag)"`
	StripeWebhookSecret string        `env:"STRIPE_WEBHOOK_SECRET" flag:"stripe-webhook-secret" secret:"value" help:"secret that verifies Stripe's webhooks (prefer the environment to the flag)"`
	StripeAPIURL        string        `env:"STRIPE_API_URL" flag:"stripe-api-url" check:"url" help:"Stripe API base URL; point it at stripe-mock to try the stripe provider offline"`
	SandboxDelay        time.Duration `env:"SOUK_SANDBOX_DELAY" flag:"sandbox-delay" envDefault:"200ms" min:"1ms" max:"24h" help:"how long the sandbox provider takes to decide a payment (1ms and up: 1ms is at once)"`
	ActionTimeout       time.Duration `env:"SOUK_PAYMENT_ACTION_TIMEOUT" flag:"payment-action-timeout" envDefault:"10m" min:"1s" max:"24h" help:"how long a payment may wait for the payer's action (3-D Secure), then it is cancelled at the provider and fails action_timeout; keep it below SOUK_RESERVATION_TTL"`

	SMTPURL             string `env:"SOUK_SMTP_URL" flag:"smtp-url" check:"smtp" secret:"url" help:"where email goes: smtp://user:pass@host:587?from=shop@example.com (STARTTLS when offered) or smtps://…:465; when empty, emails are written to the log, secrets redacted (prefer the environment to the flag)"`
	ReviewURL           string `env:"SOUK_REVIEW_URL" flag:"review-url" envDefault:"http://127.0.0.1:8080/v1/products/{product_id}/reviews" check:"url" help:"review link of a delivered product in the delivery email; {product_id} is replaced"`
	WebhookAllowPrivate bool   `env:"SOUK_WEBHOOK_ALLOW_PRIVATE" flag:"webhook-allow-private" envDefault:"false" help:"let outgoing webhooks reach loopback, private, link-local and other internal addresses (a receiver on this machine, for development); keep it off in production, where such targets are refused when a webhook is registered and on every delivery"`
	OpsAddr             string `env:"SOUK_OPS_ADDR" flag:"ops-addr" check:"hostport" help:"serve /healthz, /readyz and /metrics on this address (:9090 in a container) from a process that runs no gateway (the gateway serves them on its own address), for Kubernetes probes and Prometheus; off when empty, so that several processes on one machine need no ports"`
	PprofAddr           string `env:"SOUK_PPROF_ADDR" flag:"pprof-addr" check:"hostport" help:"serve Go's profiles (/debug/pprof/) on this address, e.g. 127.0.0.1:6060; off when empty"`

	// Edge sites (docs/operations.md, "Adding an edge site").
	NATSLeafListen string `env:"SOUK_NATS_LEAF_LISTEN" flag:"nats-leaf-listen" check:"hostport" help:"the hub's embedded NATS server accepts edge sites' leaf node connections on this host:port (nats-leaf://); off when empty"`
	LeafURL        string `env:"SOUK_LEAF_URL" flag:"leaf" help:"run as an edge site: the embedded NATS server is a leaf node of the hub at this URL (nats-leaf://hub:7422), with the JetStream domain site-<SOUK_SITE>; needs SOUK_SITE"`
	Site           string `env:"SOUK_SITE" flag:"site" help:"the edge site's id (1 to 32 of a-z 0-9 -): its JetStream domain is site-<id>; the site runs the gateway and the site service (the catalog's reads from a mirror, sales from a stock quota)"`

	// Canary releases (docs/operations.md, "Canary and blue-green releases").
	Canary string `env:"SOUK_CANARY" flag:"canary" check:"label" help:"run this process's services as a canary, labelled with this release (1 to 64 of A-Z a-z 0-9 . _ + -, e.g. 2.4.0-rc.1): they take only the share of requests the live key canary.<service> gives (0 % until it is set) and show the label in nats micro info; needs NATS_URL"`

	// Traces (docs/observability.md, "Traces"): the standard OpenTelemetry variables. The
	// exporter also reads the other OTEL_EXPORTER_OTLP_* variables itself (headers,
	// certificates, compression, timeout).
	OTLPEndpoint       string `env:"OTEL_EXPORTER_OTLP_ENDPOINT" flag:"otel-exporter-otlp-endpoint" check:"url" help:"OpenTelemetry collector to export traces to over OTLP (http://collector:4317 for grpc, http://collector:4318 for http/protobuf, which appends /v1/traces); traces are off unless this, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or OTEL_TRACES_EXPORTER=otlp is set"`
	OTLPTracesEndpoint string `env:"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT" flag:"otel-exporter-otlp-traces-endpoint" check:"url" help:"URL traces are exported to, used as is; wins over OTEL_EXPORTER_OTLP_ENDPOINT"`
	OTLPProtocol       string `env:"OTEL_EXPORTER_OTLP_PROTOCOL" flag:"otel-exporter-otlp-protocol" envDefault:"grpc" oneof:"grpc http/protobuf" help:"OTLP transport of the trace export: grpc or http/protobuf"`
	TracesExporter     string `env:"OTEL_TRACES_EXPORTER" flag:"otel-traces-exporter" oneof:"otlp none" help:"otlp turns trace export on (to localhost:4317 when no endpoint is set), none turns it off whatever the endpoints say; when empty, export is on when an endpoint is set"`
	TracesSampler      string `env:"OTEL_TRACES_SAMPLER" flag:"otel-traces-sampler" envDefault:"parentbased_always_on" oneof:"always_on always_off traceidratio parentbased_always_on parentbased_always_off parentbased_traceidratio" help:"which traces are recorded: parentbased_* follow the caller's decision (its traceparent's sampled flag) and apply the rest to new traces; traceidratio keeps the share OTEL_TRACES_SAMPLER_ARG says"`
	TracesSamplerArg   string `env:"OTEL_TRACES_SAMPLER_ARG" flag:"otel-traces-sampler-arg" help:"the ratio of the traceidratio samplers, 0 to 1 (1 when empty): 0.1 records one trace in ten"`

	// Seal is not a setting: it is the data-encryption keyring souk run makes from SecretKey
	// and SecretKeysOld (or the data directory's development key) for the services that
	// seal secrets in PostgreSQL; nil when none of them runs.
	Seal *seal.Keyring

	// NATSListenExplicit is not a setting: it is true when SOUK_NATS_LISTEN or -nats-listen
	// was given, so that a taken port is an error rather than replaced by a free one.
	NATSListenExplicit bool

	// NATSPasswordFile is not a setting: it is the file SOUK_NATS_PASSWORD was read from
	// (SOUK_NATS_PASSWORD_FILE), which the connection reads again on every reconnect.
	NATSPasswordFile string
}

// rules are the checks that span settings, or that a tag cannot say.
func (c Config) rules() []error {
	var errs []error
	if c.Canary != "" && c.NATSURL == "" {
		errs = append(errs, errors.New("SOUK_CANARY needs NATS_URL: a canary joins the NATS server of the stable instances, whose requests it shares"))
	}
	if (c.AdminEmail == "") != (c.AdminPassword == "") {
		errs = append(errs, errors.New("SOUK_ADMIN_EMAIL and SOUK_ADMIN_PASSWORD go together: set both or neither"))
	}
	if len(c.SecretKeysOld) > 0 && c.SecretKey == "" {
		errs = append(errs, errors.New("SOUK_SECRET_KEYS_OLD needs SOUK_SECRET_KEY: the key that seals from now on"))
	}
	if c.NATSReplicas > 1 && c.NATSURL == "" {
		errs = append(errs, fmt.Errorf("SOUK_NATS_REPLICAS %d needs NATS_URL: the embedded NATS server is one server, a stream has at most one copy there", c.NATSReplicas))
	}
	if c.PaymentProvider == "stripe" && c.StripeSecretKey == "" {
		errs = append(errs, errors.New("SOUK_PAYMENT_PROVIDER stripe needs STRIPE_SECRET_KEY"))
	}
	errs = append(errs, c.siteRules()...)
	if (c.NATSCert == "") != (c.NATSKey == "") {
		errs = append(errs, errors.New("SOUK_NATS_CERT and SOUK_NATS_KEY go together: set both or neither"))
	}
	if c.NATSCert != "" && c.NATSCA == "" {
		errs = append(errs, errors.New("SOUK_NATS_CERT needs SOUK_NATS_CA: a client certificate is only sent over TLS"))
	}
	if !strings.Contains(c.ReviewURL, "{product_id}") {
		errs = append(errs, fmt.Errorf("SOUK_REVIEW_URL (-review-url) %q: want a URL with {product_id}", c.ReviewURL))
	}
	return errs
}

// List is a comma-separated setting (or one item a line, as a file gives it): its items
// trimmed, empty ones dropped.
type List []string

// UnmarshalText splits text at its commas and line breaks.
func (l *List) UnmarshalText(text []byte) error {
	*l = splitList(string(text))
	return nil
}

func splitList(text string) []string {
	var out []string
	for _, s := range strings.FieldsFunc(text, func(r rune) bool { return r == ',' || r == '\n' || r == '\r' }) {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
