package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"golang.org/x/time/rate"

	"github.com/souk/souk/gateway"
	"github.com/souk/souk/internal/demodata"
	"github.com/souk/souk/nats/bus"
	"github.com/souk/souk/platform/authn"
	"github.com/souk/souk/platform/background"
	"github.com/souk/souk/platform/kit"
	"github.com/souk/souk/platform/liveconfig"
	soukLog "github.com/souk/souk/platform/log"
	"github.com/souk/souk/platform/metrics"
	"github.com/souk/souk/platform/pg"
	"github.com/souk/souk/platform/trace"
	"github.com/souk/souk/services/catalog"
)

// env is what the parts of one process share.
type env struct {
	cfg      Config
	log      zerolog.Logger
	db       *pgxpool.Pool
	nc       *nats.Conn
	js       jetstream.JetStream
	registry *prometheus.Registry
	// health is what the process's services report of themselves, for the ops listener.
	health *kit.Health
	// live is the process's live configuration (platform/liveconfig).
	live *liveconfig.Config
	// server is the embedded NATS server; nil when the process joins NATS_URL's.
	server *server.Server
	// keys are the token keys at an edge site: the hub's, kept for when the link is cut; nil
	// at the hub (the auth service's JWKS over NATS).
	keys authn.KeySource
	// tracing is the process's trace export (platform/trace); nil when off.
	tracing *trace.Tracing
}

func runCommand(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	cfg, rest, err := parseConfig("souk run", args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	picked, withGateway, err := targets(rest)
	if cfg.Site != "" {
		picked, withGateway, err = siteTargets(rest)
	}
	if err != nil {
		return err
	}
	lvl, err := soukLog.ParseLevel(cfg.LogLevel)
	if err != nil {
		return err
	}
	sink := logSink(cfg, picked, withGateway)
	log, err := soukLog.NewAt(stderr, lvl, cfg.LogFormat, sink)
	if err != nil {
		return err
	}
	if cfg.NATSURL == "" {
		// The embedded server's store is the data directory: lock it before anything opens it.
		lock, err := lockDataDir(cfg.DataDir)
		if err != nil {
			return err
		}
		defer lock.Release()
	}
	if cfg.Seal, err = dataKey(cfg, picked, log); err != nil {
		return err
	}
	log.Info().Object("config", cfg).Strs("services", namesOf(picked)).Bool("gateway", withGateway).Str("version", version).Msg("souk starting")

	tracing := tracingFor(ctx)
	if tracing == nil {
		var flush func()
		if tracing, flush, err = startTracing(ctx, cfg, log); err != nil {
			return err
		}
		defer flush()
	}
	e := &env{cfg: cfg, log: log, registry: registryFor(ctx), health: kit.NewHealth(namesOf(picked)...), tracing: tracing}
	// The embedded server serves no TLS: the certificates a process loads are its NATS client's.
	e.registry.MustRegister(metrics.NewCertCollector(map[string]string{"nats_ca": cfg.NATSCA, "nats_client": cfg.NATSCert}))
	e.registry.MustRegister(sink)
	if len(picked) > 0 && cfg.Site == "" { // an edge site keeps nothing in PostgreSQL
		if e.db, err = openDB(ctx, cfg.DatabaseURL); err != nil {
			return err
		}
		defer e.db.Close()
		e.registry.MustRegister(pg.NewPoolCollector(e.db)) // connections in use, waits, the database's size
	}
	ns, err := startNATS(cfg, log)
	if err != nil {
		return err
	}
	url := cfg.NATSURL
	e.server = ns
	if ns != nil {
		url = ns.ClientURL()
		defer func() { ns.Shutdown(); ns.WaitForShutdown() }()
		log.Info().Str("url", url).Str("try", "nats --server "+url+" micro ls").Msg("embedded NATS server ready")
	}
	if e.nc, err = bus.Connect(url, "souk", log, natsAuth(cfg).Options()...); err != nil {
		return err
	}
	defer drain(e.nc, log)
	// Async publish futures wait forever without a timeout; the outbox relay bounds its own
	// waits, this bounds everyone else's (and frees the futures of lost acks).
	if e.js, err = jetstream.New(e.nc, jetstream.WithPublishAsyncTimeout(30*time.Second)); err != nil {
		return err
	}
	setupCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	if cfg.NATSUser != "" {
		noSetup(cfg, log) // its user may not: souk nats-setup did
	} else {
		err = ensureJetStream(setupCtx, cfg, e.js)
	}
	if err == nil && cfg.Site != "" {
		e.keys, err = siteKeys(setupCtx, e)
	}
	cancel()
	if err != nil {
		return err
	}
	// The lines logged so far waited in the sink's queue for LOGS to exist. Stopped before
	// the connection drains, so that the last lines go out with it.
	defer sink.Start(e.nc)()
	// Consumer and source lag, how full the streams and the store are: alerted on in
	// infra/prometheus.
	lag := bus.NewLagCollector(e.js)
	if cfg.Site != "" {
		lag = bus.NewSiteLagCollector(e.js, cfg.Site)
	}
	e.registry.MustRegister(lag, bus.NewStorageCollector(e.js, e.server))
	if cfg.Site != "" && e.server != nil {
		// An edge site's own server holds the link to the hub; a site joining a server of
		// its own (NATS_URL) watches that server's leaf connection (its /leafz) instead.
		e.registry.MustRegister(bus.NewSiteLinkGauge(e.server, cfg.Site))
	}
	stopLive, err := startLive(ctx, e, lvl)
	if err != nil {
		return nil // stopped while loading the live configuration
	}
	defer stopLive()
	return runParts(ctx, e, picked, withGateway)
}

// runParts runs the services and the gateway until ctx ends or one of them fails, then stops
// them all and returns the first failure.
func runParts(ctx context.Context, e *env, picked []service, withGateway bool) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	type result struct {
		name string
		err  error
	}
	done := make(chan result)
	n := 0
	start := func(name string, run func(context.Context) error) {
		n++
		go func() {
			err := run(ctx)
			if err != nil {
				cancel(fmt.Errorf("%s: %w", name, err))
			}
			done <- result{name, err}
		}()
	}
	for _, s := range picked {
		start(s.name, func(ctx context.Context) error { return s.run(ctx, e) })
	}
	if withGateway {
		start("gateway", func(ctx context.Context) error { return runGateway(ctx, e) })
	}
	if e.cfg.OpsAddr != "" && !withGateway { // the gateway serves the same paths itself
		start("ops", func(ctx context.Context) error { return runOps(ctx, e, e.cfg.OpsAddr) })
	}
	if e.server != nil && e.live != nil && e.cfg.Site == "" { // an edge site serves its own reads: see runCanary
		start("canary", func(ctx context.Context) error { return runCanary(ctx, e) })
	}
	if e.cfg.PprofAddr != "" {
		start("pprof", func(ctx context.Context) error { return runPprof(ctx, e.cfg.PprofAddr) })
	}
	var errs []error
	for range n {
		r := <-done
		if r.err != nil && !errors.Is(r.err, context.Canceled) {
			e.log.Error().Err(r.err).Str("part", r.name).Msg("stopped with an error")
			errs = append(errs, fmt.Errorf("%s: %w", r.name, r.err))
		} else {
			e.log.Info().Str("part", r.name).Msg("stopped")
		}
	}
	return errors.Join(errs...)
}

func runGateway(ctx context.Context, e *env) error {
	// The gateway's own copy of the revocations, watched by a supervised loop; it serves
	// once the bucket is loaded, and /readyz names it while it is not.
	rev := authn.NewRevocations(e.js)
	loops := background.Start(ctx, e.log.With().Str("service", "gateway").Logger())
	defer loops.Stop()
	loops.Go("revocations", rev.Run)
	if err := rev.WaitLoaded(ctx); err != nil {
		return nil // stopped while loading
	}
	keys := e.keys
	if keys == nil {
		keys = authn.NATSKeySource(e.nc)
	}
	verifier := authn.NewVerifier(keys, time.Second).WithRevocations(rev)
	limits := gateway.RateLimits{
		IP:      gateway.Limit{Rate: rate.Limit(e.cfg.RateIP), Burst: 2 * e.cfg.RateIP},
		Account: gateway.Limit{Rate: rate.Limit(e.cfg.RateAccount), Burst: 2 * e.cfg.RateAccount},
		Login: gateway.LoginLimits{
			Pair:    gateway.Backoff{Free: e.cfg.LoginAttempts},
			Email:   gateway.Backoff{Free: e.cfg.LoginEmailAttempts, Max: e.cfg.LoginEmailWait},
			Address: gateway.Backoff{Free: e.cfg.LoginAddressAttempts},
		},
		SSEPerUser: e.cfg.SSEPerUser,
	}
	return gateway.Run(ctx, gateway.Config{Addr: e.cfg.HTTPAddr, CORSOrigins: e.cfg.CORSOrigins, RateLimit: limits,
		Admission: gateway.Admission{MaxReads: e.cfg.MaxReads, HeldRetries: e.cfg.HeldRetries}, RequestTimeout: e.cfg.RequestTimeout, VerifyRedirectURL: e.cfg.VerifyRedirectURL},
		gateway.Deps{Log: e.log.With().Str("service", "gateway").Logger(), NC: e.nc, Registry: e.registry, Verifier: verifier, Live: e.live,
			Services: readyNames(e.cfg), Tracer: e.tracing.Provider("gateway")})
}

// siteKeys is the key source of an edge site: the hub's auth service, its last answer kept in
// the site's keys bucket for when the link is cut (even across a restart).
func siteKeys(ctx context.Context, e *env) (authn.KeySource, error) {
	kv, err := e.js.KeyValue(ctx, bus.BucketKeys)
	if err != nil {
		return nil, err
	}
	return authn.CachedKeySource(authn.NATSKeySource(e.nc), kv), nil
}

func startNATS(cfg Config, log zerolog.Logger) (*server.Server, error) {
	if cfg.NATSURL != "" {
		return nil, nil
	}
	sc := bus.ServerConfig{
		Listen:         cfg.NATSListen,
		ListenExplicit: cfg.NATSListenExplicit,
		StoreDir:       filepath.Join(cfg.DataDir, "jetstream"),
		Domain:         bus.HubDomain,
		LeafListen:     cfg.NATSLeafListen,
	}
	if cfg.Site != "" {
		sc.Domain, sc.LeafRemote = bus.SiteDomain(cfg.Site), cfg.LeafURL
		sc.Name = sc.Domain
	}
	return bus.StartServer(sc, log)
}

// openDB opens the pool, with an answer a newcomer can act on when PostgreSQL is not there.
func openDB(ctx context.Context, dsn string) (*pgxpool.Pool, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	db, err := pg.Open(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("%w\nSouk keeps its records in PostgreSQL: start a PostgreSQL server, or point DATABASE_URL at one (now %s)", err, pg.Redact(dsn))
	}
	return db, nil
}

func drain(nc *nats.Conn, log zerolog.Logger) {
	closed := make(chan struct{})
	nc.SetClosedHandler(func(*nats.Conn) { close(closed) })
	if err := nc.Drain(); err != nil {
		nc.Close()
		return
	}
	select {
	case <-closed:
	case <-time.After(2 * time.Second):
		log.Warn().Msg("nats drain timed out")
		nc.Close()
	}
}

func migrateCommand(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	cfg, _, err := parseConfig("souk migrate", args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	db, err := openDB(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer db.Close()
	for _, s := range services {
		if err := s.migrate(ctx, cfg, db); err != nil {
			return err
		}
		fmt.Fprintln(stderr, "migrated", s.name)
	}
	return nil
}

// seedCommand loads the demo catalog (internal/demodata) into the database (catalog.Import). A running shop
// picks the new products up from the outbox; one that is not running publishes them when it
// starts.
func seedCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var n int
	cfg, _, err := parseConfig("souk seed", args, getenv, stderr, func(fs *flag.FlagSet) {
		fs.IntVar(&n, "products", 5000, "number of demo products")
	})
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	if n < 0 || n > 1_000_000 {
		return fmt.Errorf("-products %d: want 0 to 1000000", n)
	}
	db, err := openDB(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer db.Close()
	start := time.Now()
	cats, products := demodata.Catalog(n)
	res, err := catalog.Import(ctx, db, cfg.Locale, demodata.Requests(cats), products)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "seeded the demo catalog in %s: %d categories and %d products created (the rest existed)\n",
		time.Since(start).Round(time.Millisecond), res.Categories, res.Products)
	return nil
}
