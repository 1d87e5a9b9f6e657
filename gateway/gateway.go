// Package gateway is Souk's HTTP front door: a Fiber app that turns the public API of
// docs/api.md into NATS requests to the services and their replies (or errors) back into HTTP.
//
// Every route is one entry of a route table (routes.go) that declares its method, path,
// access (subjects.Public or subjects.Require), rate-limit class, the subjects endpoint it forwards
// to and how its input binds; the same table registers the Fiber handlers and builds the
// OpenAPI document served at /openapi.json, so the two cannot drift apart.
//
// Around every route: a request id, security headers, panic recovery, per-IP and per-account
// token-bucket rate limits, bearer-token verification before any service is asked, RED
// metrics per route template, one access-log line, and application/problem+json (RFC 9457)
// for every error, with every 5xx detail masked. The gateway never imports a service: it
// reaches them only over NATS through subjects.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/cors"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/valyala/fasthttp"
	oteltrace "go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/souk/souk/platform/authn"
	"github.com/souk/souk/platform/liveconfig"
	"github.com/souk/souk/platform/metrics"
	"github.com/souk/souk/platform/trace"
)

// Defaults applied by New to zero Config fields.
const (
	// DefaultBodyLimit is the largest request body, 1 MiB.
	DefaultBodyLimit = 1 << 20
	// DefaultRequestTimeout bounds the NATS call of one request.
	DefaultRequestTimeout = 10 * time.Second
	// DefaultReadTimeout bounds reading one request.
	DefaultReadTimeout = 10 * time.Second
	// DefaultIdleTimeout bounds a keep-alive connection between requests.
	DefaultIdleTimeout = 60 * time.Second
	// ShutdownTimeout bounds how long Run waits for in-flight requests after ctx ends.
	ShutdownTimeout = 10 * time.Second
)

// Config is the gateway's configuration. Zero fields take the defaults above.
type Config struct {
	// Addr is the listen address of Run, such as 127.0.0.1:8080.
	Addr string
	// CORSOrigins is the allowlist of browser origins (scheme://host[:port]); empty sends no
	// CORS headers at all. A wildcard is refused: list the origins.
	CORSOrigins []string
	// BodyLimit is the largest request body in bytes (1 MiB when zero); larger is a 413.
	BodyLimit int
	// RequestTimeout bounds the NATS call of one request (10 s when zero); exceeded is a 504.
	RequestTimeout time.Duration
	// ReadTimeout bounds reading one request (10 s when zero).
	ReadTimeout time.Duration
	// WriteTimeout bounds writing one response (RequestTimeout + 5 s when zero).
	WriteTimeout time.Duration
	// IdleTimeout bounds a keep-alive connection between requests (60 s when zero).
	IdleTimeout time.Duration
	// RateLimit holds the token buckets per client IP, per account and per login email.
	RateLimit RateLimits
	// Admission bounds the requests in flight per class (reads shed first); see Admission.
	Admission Admission
	// TrustProxy, when true, takes the client IP from the last X-Forwarded-For entry (the one
	// the single trusted proxy in front appended); when false the client IP is the TCP peer.
	TrustProxy bool
	// VerifyRedirectURL, when set, is the shop's own page that the email verification link
	// (GET /v1/auth/verify-email) redirects to (303) with ?status=verified or ?status=invalid;
	// when empty the gateway answers a short page itself.
	VerifyRedirectURL string
}

// Deps are what the gateway needs from its process.
type Deps struct {
	// Log receives the access log and the errors, each line with its request_id.
	Log zerolog.Logger
	// NC is the connection the services are reached through.
	NC *nats.Conn
	// Registry is served at /metrics and holds the HTTP RED instruments.
	Registry *prometheus.Registry
	// Verifier checks bearer tokens before a protected route asks its service.
	Verifier *authn.Verifier
	// Live is the process's live configuration: the rate limits and feature switches follow
	// it (platform/liveconfig). Nil keeps them at Config's values.
	Live *liveconfig.Config
	// Services are the micro service names /readyz pings ("user", "auth", …).
	Services []string
	// Tracer makes a server span per request (the child of the client's traceparent) whose
	// context the calls to the services carry; nil is a no-op provider (platform/trace).
	Tracer oteltrace.TracerProvider
}

// Gateway is the HTTP API in front of the services. Build it with New.
type Gateway struct {
	cfg    Config
	deps   Deps
	app    *fiber.App
	red    *metrics.RED
	tracer oteltrace.Tracer
	// serverSpan starts each request's span: built once, not per request.
	serverSpan []oteltrace.SpanStartOption
	limits     *limiters
	// reads and writes are the admission bounds of Config.Admission; nil is no bound.
	reads, writes *admitter
	routes        []Route
	// closing is closed when the gateway starts shutting down: long-lived streams end.
	closing chan struct{}
	// openapi is the encoded OpenAPI document, built once from routes.
	openapi []byte
}

// New validates cfg and deps and builds the gateway with every route registered.
func New(cfg Config, deps Deps) (*Gateway, error) {
	if deps.NC == nil || deps.Registry == nil || deps.Verifier == nil {
		return nil, errors.New("gateway: NC, Registry and Verifier are required")
	}
	cfg = withDefaults(cfg)
	if deps.Tracer == nil {
		deps.Tracer = noop.NewTracerProvider()
	}
	origins, err := corsOrigins(cfg.CORSOrigins)
	if err != nil {
		return nil, err
	}
	if err := checkVerifyRedirect(cfg.VerifyRedirectURL); err != nil {
		return nil, err
	}
	g := &Gateway{
		cfg:        cfg,
		deps:       deps,
		red:        metrics.HTTP(deps.Registry),
		tracer:     trace.Tracer(deps.Tracer),
		serverSpan: []oteltrace.SpanStartOption{oteltrace.WithSpanKind(oteltrace.SpanKindServer)},
		limits:     newLimiters(cfg.RateLimit, deps.Live),
		reads:      newAdmitter(cfg.Admission.MaxReads, cfg.Admission.HeldRetries, "overloaded_reads"),
		writes:     newAdmitter(cfg.Admission.MaxWrites, 0, "overloaded"),
		closing:    make(chan struct{}),
	}
	g.app = fiber.New(fiber.Config{
		AppName:               "souk-gateway",
		DisableStartupMessage: true,
		BodyLimit:             cfg.BodyLimit,
		ReadTimeout:           cfg.ReadTimeout,
		WriteTimeout:          cfg.WriteTimeout,
		IdleTimeout:           cfg.IdleTimeout,
		ReadBufferSize:        16 << 10, // room for a bearer token and the usual headers
		// No route takes a form: never spool multipart bodies to temporary files.
		DisablePreParseMultipartForm: true,
		ErrorHandler:                 g.errorHandler,
	})
	// Fiber answers a method it does not know with a plain-text 400 before any middleware:
	// answer it with a problem instead.
	srv := g.app.Server()
	inner := srv.Handler
	srv.Handler = func(ctx *fasthttp.RequestCtx) {
		if !knownMethod(ctx.Method()) {
			c := g.app.AcquireCtx(ctx)
			defer g.app.ReleaseCtx(c)
			_ = g.errorHandler(c, fiber.ErrMethodNotAllowed)
			return
		}
		inner(ctx)
	}
	// Order matters: the outermost middleware sees the final status of everything inside.
	g.app.Use(g.edge)
	if len(origins) > 0 {
		g.app.Use(cors.New(cors.Config{
			AllowOrigins:     strings.Join(origins, ","),
			AllowMethods:     "GET,POST,PUT,PATCH,DELETE,OPTIONS",
			AllowHeaders:     "Authorization,Content-Type,X-Request-Id,Idempotency-Key,Accept-Language",
			ExposeHeaders:    "X-Request-Id,Retry-After",
			AllowCredentials: false, // tokens travel in the Authorization header, never cookies
			MaxAge:           600,
		}))
	}
	g.app.Use(g.limitIP)
	g.routes = append(append(append(g.apiRoutes(), g.catalogRoutes()...), g.checkoutRoutes()...), g.opsRoutes()...)
	g.routes = append(g.routes, g.shippingRoutes()...)
	g.routes = append(g.routes, g.notificationRoutes()...)
	g.routes = append(g.routes, g.edgeRoutes()...)
	g.routes = append(g.routes, g.docsRoutes()...)
	for i := range g.routes {
		if err := g.register(&g.routes[i]); err != nil {
			return nil, err
		}
	}
	if g.openapi, err = buildOpenAPI(g.routes); err != nil {
		return nil, fmt.Errorf("gateway: openapi: %w", err)
	}
	return g, nil
}

// App returns the Fiber app, for tests (app.Test) and for GetRoutes.
func (g *Gateway) App() *fiber.App { return g.app }

// Serve serves HTTP on ln until the app shuts down.
func (g *Gateway) Serve(ln net.Listener) error { return g.app.Listener(newLingerListener(ln)) }

// Run listens on cfg.Addr (an error when the address is taken) and serves until ctx ends; then
// it stops accepting connections and waits up to ShutdownTimeout for in-flight requests.
func Run(ctx context.Context, cfg Config, deps Deps) error {
	g, err := New(cfg, deps)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", g.cfg.Addr)
	if err != nil {
		return fmt.Errorf("gateway: listen %s: %w", g.cfg.Addr, err)
	}
	deps.Log.Info().Str("addr", ln.Addr().String()).Msg("gateway listening")
	served := make(chan error, 1)
	lln := newLingerListener(ln)
	go func() { served <- g.app.Listener(lln) }()
	select {
	case err := <-served:
		return fmt.Errorf("gateway: serve: %w", err)
	case <-ctx.Done():
	}
	close(g.closing)
	lln.endUnused()
	shutErr := g.app.ShutdownWithTimeout(ShutdownTimeout)
	// Shutdown closes only the listeners Serve has registered: if ctx ended before Serve got
	// that far, closing ln here is what stops it.
	_ = ln.Close()
	if err := <-served; err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("gateway: serve: %w", err)
	}
	if shutErr != nil {
		return fmt.Errorf("gateway: shutdown: %w", shutErr)
	}
	deps.Log.Info().Msg("gateway stopped")
	return nil
}

func withDefaults(cfg Config) Config {
	if cfg.BodyLimit <= 0 {
		cfg.BodyLimit = DefaultBodyLimit
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	if cfg.ReadTimeout <= 0 {
		cfg.ReadTimeout = DefaultReadTimeout
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = cfg.RequestTimeout + 5*time.Second
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	cfg.RateLimit = cfg.RateLimit.withDefaults()
	cfg.Admission = cfg.Admission.withDefaults()
	return cfg
}

// corsOrigins checks and normalises the allowlist; Fiber's cors middleware panics on a bad
// origin, so a bad configuration is an error here instead.
func corsOrigins(in []string) ([]string, error) {
	var out []string
	for _, o := range in {
		o = strings.ToLower(strings.TrimSpace(o))
		if o == "" {
			continue
		}
		u, err := url.Parse(o)
		if o == "*" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil || strings.Contains(u.Host, "*") {
			return nil, fmt.Errorf("gateway: CORS origin %q: want scheme://host[:port], no wildcard", o)
		}
		out = append(out, u.Scheme+"://"+u.Host)
	}
	return out, nil
}

// knownMethod reports whether Fiber routes method; the comparison allocates nothing.
func knownMethod(method []byte) bool {
	for _, m := range fiber.DefaultMethods {
		if string(method) == m {
			return true
		}
	}
	return false
}
