// Package kit is Souk's service kit: a service declares what it is (its migrations, its
// endpoints, the events it consumes and publishes, its background loops) and Run does the
// rest, the same way for every service:
//
//  1. migrate the service's schema: its own migrations, the outbox's when it publishes, the
//     processed table's when it consumes;
//  2. ensure the streams and KV buckets (unless the process already did);
//  3. run the outbox relay, kicked after every request, consumer batch or loop round that
//     wrote events (the stores only write their events in their transactions: see
//     outbox.Track);
//  4. run the consumers and the loops, each restarted with back-off when it fails and
//     reported in health (the loops endpoint, $SRV.STATS, souk_loop_up);
//  5. serve the micro endpoints until ctx ends, then drain them before the loops stop, so
//     that no request in flight waits on a stopped loop.
//
// A run.go is its Config and its declaration (Service). The same declaration, read without
// running anything, says what each service publishes and consumes: the tests check it
// against the streams' declared consumers (nats/bus), and the NATS permissions of each
// service can be generated from it.
package kit

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/souk/souk/nats/bus"
	"github.com/souk/souk/platform/authn"
	"github.com/souk/souk/platform/background"
	"github.com/souk/souk/platform/consumer"
	"github.com/souk/souk/platform/liveconfig"
	"github.com/souk/souk/platform/outbox"
	"github.com/souk/souk/platform/pg"
	"github.com/souk/souk/platform/rpc"
	"github.com/souk/souk/platform/trace"
	"github.com/souk/souk/subjects"
)

// Deps are what every service needs from its process: one struct for all of them.
type Deps struct {
	// Log is the process's logger; the kit adds the service's name.
	Log zerolog.Logger
	// DB is the PostgreSQL pool; nil is allowed only for a service without a Schema.
	DB *pgxpool.Pool
	// NC is the NATS connection the service serves and publishes on.
	NC *nats.Conn
	// JS is JetStream on NC.
	JS jetstream.JetStream
	// Registry receives the service's metrics; a private registry when nil.
	Registry prometheus.Registerer
	// Keys is where callers' token keys come from: the auth service's JWKS over NATS when nil.
	Keys authn.KeySource
	// Live is the process's live configuration: the keys a service binds (Key.Bind) follow
	// the config bucket. Nil keeps every key at its default (tests that change none).
	Live *liveconfig.Config
	// StreamsReady says the process has ensured the streams and buckets already (souk run
	// does, once, before it starts the services); the kit then does not ask again.
	StreamsReady bool
	// Health, when set, learns when the service serves and sees its loops, for the process's
	// own readiness (the ops listener); nil records nothing.
	Health *Health
	// Replicas is the replica count of the streams and buckets the kit ensures when the
	// process has not, and of those a service makes as it runs (SITE_SALES)
	// (SOUK_NATS_REPLICAS; see bus.Replicas); 0 means 1.
	Replicas int
	// Tracing is the process's tracing: the service's requests and events are spans of its
	// Provider(Name). Nil is tracing off.
	Tracing *trace.Tracing
}

// Logger is Log labelled with the service's name: the logger a declaration gives what it
// keeps (handlers, consumers' handlers, loops), so that every line names its service, as
// the kit's own lines and rpc's do.
func (d Deps) Logger(service string) zerolog.Logger {
	return d.Log.With().Str("service", service).Logger()
}

// Loop is one of a service's background loops. Give Run, or Round (with Every and, when
// something kicks it, Wake).
type Loop struct {
	// Name names the loop in logs, health and metrics; fixed, unique in the service.
	Name string
	// Run runs until ctx ends, retrying what is transient itself. Returning early or
	// panicking is a failure: it is restarted after a back-off.
	Run func(ctx context.Context) error
	// Round is one round of a kick-or-poll loop (background.Poll): it runs again at once while
	// it reports more work, else after Every or when Wake is kicked. Events it writes kick the
	// relay when the round ends.
	Round func(ctx context.Context) (more bool)
	// Every is the pause between idle rounds.
	Every time.Duration
	// Wake, when set, cuts the pause short (a handler that queued work kicks it).
	Wake *background.Kicker
}

// Service declares one service.
type Service struct {
	// Name is the micro service's name (`nats micro ls`) and the log and metric label.
	Name string
	// Version is its semantic version.
	Version string
	// Description is a line for operators.
	Description string
	// Schema is the PostgreSQL schema it owns; empty for a service that keeps nothing there.
	Schema string
	// Migrations are its own migrations (its embedded migrations/ folder: 0001_init.sql, …).
	Migrations fs.FS
	// Publishes are the events it writes to its outbox. When there are any the kit runs the
	// relay of Schema's outbox.
	Publishes []subjects.EventKind
	// RelayRate, when above zero, paces the relay to that many events a second once it has
	// a backlog (outbox.Relay.Rate): for a service whose bulk changes must not starve the
	// shop's requests (the catalog's imports). Zero: as fast as JetStream takes them.
	RelayRate float64
	// RelayPoll is how long the relay waits between looks at the outbox when nothing kicks it
	// (outbox.Relay.Poll; its default when zero). A request or a consumer batch that wrote
	// events kicks it at once.
	RelayPoll time.Duration
	// Endpoints are its micro endpoints, each bound to its contract (rpc.Bind).
	Endpoints []rpc.Binding
	// Calls are the endpoints of other services it calls (subjects.Endpoint descriptors).
	// Its NATS user may request these and no others: a call missing here is refused by the
	// server as a permissions violation (cmd/souk's TestShopAsNATSUsers runs the whole shop
	// so).
	Calls []subjects.Callee
	// Buckets are the KV buckets it reads and writes (bus.BucketCarts). The revocations a
	// service with protected endpoints watches need not be listed: the kit watches them.
	Buckets []string
	// Follows are the streams it reads with ordered consumers of its own, outside Consumers
	// (the catalog's cache invalidation follows CATALOG).
	Follows []string
	// Streams are the streams it creates and updates itself, beyond those souk nats-setup
	// ensures (the inventory's SITE_SALES, whose sources follow the sites granted a quota).
	Streams []string
	// SiteReads are the streams and KV buckets (KV_<bucket>) it reads in every edge site's
	// JetStream domain (the inventory reconciles quotas from each site's SALES and quota).
	SiteReads []string
	// MaxInFlight bounds the requests handled at once by one instance; 256 when zero.
	MaxInFlight int
	// Keys, when set, is where this service's callers' token keys come from instead of
	// Deps.Keys: the auth service reads its own key store, never its own JWKS endpoint
	// (which would verify the caller's token by asking itself again, and could answer from
	// another instance's cache right after a rotation).
	Keys authn.KeySource
	// Consumers are its durable consumers, each with its routes (consumer.On) and, where it
	// needs them, its own Batch, AckWait or MaxDeliver. The kit fills in Schema, DB, JS, Log
	// and Metrics, and kicks the relay after each batch.
	Consumers []*consumer.Consumer
	// Loops are its background loops.
	Loops []Loop
	// Start, when set, runs once after the migrations and before anything else (seed data,
	// a first signing key); an error stops the service.
	Start func(ctx context.Context) error
	// Stop, when set, runs once after the endpoints drained and the loops stopped.
	Stop func()
	// Canary, when set, is the release label of a canary instance: it serves its endpoints
	// on the canary subjects, which take the share of requests `canary.<Name>` gives them
	// (see rpc.Config.Canary and platform/canary). The process sets it (SOUK_CANARY), not
	// the service's declaration.
	Canary string
}

// MigrationSets are the migration files of svc's schema: its own, its outbox's when it
// publishes, its processed table's when it consumes. A service without a Schema has none.
func (svc Service) MigrationSets() []fs.FS {
	if svc.Schema == "" {
		return nil
	}
	var sets []fs.FS
	if svc.Migrations != nil {
		sets = append(sets, svc.Migrations)
	}
	if len(svc.Publishes) > 0 {
		sets = append(sets, outbox.Migrations)
	}
	if len(svc.Consumers) > 0 {
		sets = append(sets, consumer.Migrations)
	}
	return sets
}

// Migrate applies svc's MigrationSets to its schema.
func Migrate(ctx context.Context, db *pgxpool.Pool, svc Service) error {
	sets := svc.MigrationSets()
	if len(sets) > 0 && db == nil {
		return fmt.Errorf("%s: no database for schema %s", svc.Name, svc.Schema)
	}
	var errs []error
	for _, set := range sets {
		errs = append(errs, pg.Migrate(ctx, db, svc.Schema, set))
	}
	return errors.Join(errs...)
}

// Check reports what is wrong with the declaration: a missing name, a consumer or an outbox
// without a schema, a loop without a body, names used twice. Run checks first.
func (svc Service) Check() error {
	var errs []error
	if svc.Name == "" || strings.ContainsAny(svc.Name, ". *>") {
		errs = append(errs, fmt.Errorf("kit: bad service name %q", svc.Name))
	}
	if svc.Schema == "" && (len(svc.Publishes) > 0 || len(svc.Consumers) > 0) {
		errs = append(errs, fmt.Errorf("%s: an outbox and consumers need a Schema", svc.Name))
	}
	names := map[string]bool{}
	for _, l := range svc.Loops {
		if (l.Run == nil) == (l.Round == nil) {
			errs = append(errs, fmt.Errorf("%s: loop %q needs Run or Round, not both", svc.Name, l.Name))
		}
		if l.Round != nil && l.Every <= 0 {
			errs = append(errs, fmt.Errorf("%s: loop %q needs Every", svc.Name, l.Name))
		}
		if names[l.Name] {
			errs = append(errs, fmt.Errorf("%s: two loops named %q", svc.Name, l.Name))
		}
		names[l.Name] = true
	}
	for _, c := range svc.Consumers {
		if len(c.On) == 0 {
			errs = append(errs, fmt.Errorf("%s: consumer %s routes no event (consumer.On)", svc.Name, c.Name))
		}
	}
	for _, e := range svc.Publishes {
		if e.Family {
			errs = append(errs, fmt.Errorf("%s: publishes the family %s; declare each kind", svc.Name, e.Kind))
		}
	}
	return errors.Join(errs...)
}

// Run runs svc until ctx ends (see the package doc), and returns the error that stopped it,
// nil on a clean stop.
func Run(ctx context.Context, deps Deps, svc Service) error {
	if err := svc.Check(); err != nil {
		return err
	}
	if deps.Registry == nil {
		deps.Registry = prometheus.NewRegistry()
	}
	log := deps.Logger(svc.Name)
	if err := start(ctx, deps, svc); err != nil {
		if ctx.Err() != nil {
			return nil // stopped while starting: nothing failed
		}
		return err
	}
	if svc.Stop != nil {
		defer svc.Stop()
	}

	defer deps.Health.stop(svc.Name)

	work := &counters{}
	tracer := deps.Tracing.Provider(svc.Name)
	kick := func() {}
	// around runs a unit of work (a request, a loop's round) so that the relay is kicked
	// once it is over if it wrote events; a service without an outbox tracks nothing.
	around := func(ctx context.Context) (context.Context, func()) { return ctx, func() {} }
	g := background.Start(ctx, log)
	defer g.Stop() // after the endpoints drained: see rpc.Serve below
	if len(svc.Publishes) > 0 {
		relay := outbox.NewRelay(svc.Schema, deps.DB, deps.JS, log)
		relay.Metrics, relay.Rate, relay.Poll = deps.Registry, svc.RelayRate, svc.RelayPoll
		kick = relay.Kick
		work.relay(svc.Schema, relay)
		around = func(ctx context.Context) (context.Context, func()) {
			ctx, wrote := outbox.Track(ctx)
			return ctx, func() {
				if wrote() {
					relay.Kick()
				}
			}
		}
		g.Go("outbox relay", relay.Run)
	}
	for _, c := range svc.Consumers {
		r := *c
		r.Schema, r.DB, r.JS, r.Log, r.Metrics, r.Tracer = svc.Schema, deps.DB, deps.JS, log, deps.Registry, tracer
		after := r.AfterCommit
		r.Counts = work.consumer(r.Name)
		// A batch kicks the relay only when its handlers wrote events: one that wrote none
		// (an event another service's relay answers, a no-op) would send it for a round
		// that finds nothing. The flag may outlive a batch that committed nothing or was
		// run again (a spare kick), never miss one that wrote.
		wrote := new(atomic.Bool)
		if len(svc.Publishes) > 0 {
			prepare := r.Prepare
			r.Prepare = func(ctx context.Context, tx pgx.Tx, batch []consumer.Msg) (context.Context, error) {
				ctx = outbox.Mark(ctx, wrote)
				if prepare == nil {
					return ctx, nil
				}
				return prepare(ctx, tx, batch)
			}
		}
		r.AfterCommit = func(msgs []consumer.Msg) {
			if wrote.Swap(false) {
				kick()
			}
			if after != nil {
				after(msgs)
			}
		}
		g.Go("consumer "+r.Name, r.Run)
	}
	// A loop's work has no request of its own, but may resume a stored trace (a payment
	// decided later is still its checkout's): its context names the service's provider.
	for _, l := range svc.Loops {
		if l.Run != nil {
			run := l.Run
			g.Go(l.Name, func(ctx context.Context) error { return run(trace.WithProvider(ctx, tracer)) })
			continue
		}
		round := l.Round
		g.Run(l.Name, func(ctx context.Context) {
			background.Poll(trace.WithProvider(ctx, tracer), l.Every, l.Wake, func(ctx context.Context) bool {
				ctx, done := around(ctx)
				defer done()
				return round(ctx)
			})
		})
	}

	verifier, err := serviceVerifier(ctx, deps, svc, g)
	if err != nil {
		return nil // stopped while loading the revocations: nothing failed
	}
	return rpc.Serve(ctx, rpc.Config{Name: svc.Name, Version: svc.Version, Description: svc.Description, MaxInFlight: svc.MaxInFlight, Canary: svc.Canary},
		rpc.Deps{Log: deps.Log, NC: deps.NC, Registry: deps.Registry, Verifier: verifier, Loops: g, Counters: work.read, Metadata: svc.Metadata(), Around: around, Tracer: tracer},
		func(s *rpc.Service) error {
			if err := s.Add(svc.Endpoints...); err != nil {
				return err
			}
			deps.Health.serve(svc.Name, g) // the endpoints listen: ready, while the loops are up
			return nil
		})
}

// serviceVerifier is the Verifier of svc's protected endpoints, nil when it has none: keys
// from svc.Keys or deps.Keys, and its own copy of the revocations, watched by the loop
// "revocations" of g (down, and every token refused, while the bucket is not loaded). It returns once the bucket is loaded, so the service serves no caller before it
// can judge their tokens; ctx's error when ctx ends first.
func serviceVerifier(ctx context.Context, deps Deps, svc Service, g *background.Group) (*authn.Verifier, error) {
	if !svc.verifies() {
		return nil, nil
	}
	keys := deps.Keys
	if svc.Keys != nil {
		keys = svc.Keys
	}
	rev := authn.NewRevocations(deps.JS)
	g.Go("revocations", rev.Run)
	if err := rev.WaitLoaded(ctx); err != nil {
		return nil, err
	}
	return authn.NewVerifierFor(keys, deps.NC, rev), nil
}

// start migrates, ensures the streams unless the process did, and runs svc.Start.
func start(ctx context.Context, deps Deps, svc Service) error {
	if err := Migrate(ctx, deps.DB, svc); err != nil {
		return err
	}
	if !deps.StreamsReady {
		if err := errors.Join(bus.EnsureStreams(ctx, deps.JS, bus.Replicas(deps.Replicas)), bus.EnsureBuckets(ctx, deps.JS, bus.Replicas(deps.Replicas))); err != nil {
			return fmt.Errorf("%s: %w", svc.Name, err)
		}
	}
	if svc.Start != nil {
		if err := svc.Start(ctx); err != nil {
			return fmt.Errorf("%s: start: %w", svc.Name, err)
		}
	}
	return nil
}

// Subscribes lists the durable consumers of svc with their streams and filters, as the
// streams must declare them (nats/bus.Consumers).
func (svc Service) Subscribes() []bus.Consumer {
	out := make([]bus.Consumer, 0, len(svc.Consumers))
	for _, c := range svc.Consumers {
		out = append(out, bus.Consumer{Name: c.Name, Stream: c.StreamName(), Subjects: c.Filters()})
	}
	return out
}

// Metadata is what `nats micro info <service>` shows of the declaration: the events the
// service publishes and the filters of its consumers.
func (svc Service) Metadata() map[string]string {
	pub := make([]string, len(svc.Publishes))
	for i, e := range svc.Publishes {
		pub[i] = e.Kind
	}
	var sub []string
	for _, c := range svc.Subscribes() {
		sub = append(sub, c.Name+"="+strings.Join(c.Subjects, ","))
	}
	return map[string]string{"publishes": strings.Join(pub, " "), "consumes": strings.Join(sub, " ")}
}

// Description is what a declaration says of a service's traffic, for operators and for the
// NATS permissions each service needs: the endpoints it serves (subject and access rule), the
// durable consumers it runs (stream and filters) and the events it publishes.
type Description struct {
	Name      string            `json:"name"`
	Endpoints map[string]string `json:"endpoints"`
	Consumes  []bus.Consumer    `json:"consumes"`
	Publishes []string          `json:"publishes"`
	// Calls are the subjects of the endpoints it calls.
	Calls []string `json:"calls"`
	// Buckets are the KV buckets it reads and writes; Reads those it only reads and watches.
	Buckets []string `json:"buckets"`
	Reads   []string `json:"reads"`
	// Follows are the streams it reads with ordered consumers.
	Follows []string `json:"follows"`
	// Streams it creates and updates; SiteReads it reads in every site's domain.
	Streams   []string `json:"streams"`
	SiteReads []string `json:"site_reads"`
}

// Describe is the declaration's Description.
func (svc Service) Describe() Description {
	d := Description{Name: svc.Name, Endpoints: map[string]string{}, Consumes: svc.Subscribes(), Publishes: []string{},
		Calls: []string{}, Buckets: slices.Clone(svc.Buckets), Reads: []string{}, Follows: slices.Clone(svc.Follows),
		Streams: slices.Clone(svc.Streams), SiteReads: slices.Clone(svc.SiteReads)}
	for _, b := range svc.Endpoints {
		d.Endpoints[b.Subject()] = b.Access().String()
	}
	for _, e := range svc.Publishes {
		d.Publishes = append(d.Publishes, e.Kind)
	}
	for _, c := range svc.Calls {
		d.Calls = append(d.Calls, c.EndpointSubject())
	}
	if svc.verifies() && !slices.Contains(d.Buckets, bus.BucketRevocations) {
		d.Reads = append(d.Reads, bus.BucketRevocations) // serviceVerifier watches them
	}
	if svc.verifies() && svc.Keys == nil {
		d.Calls = append(d.Calls, subjects.AuthJWKS.Subject) // the keys of serviceVerifier, unless Deps.Keys
	}
	if d.Buckets == nil {
		d.Buckets = []string{}
	}
	for _, list := range []*[]string{&d.Follows, &d.Streams, &d.SiteReads} {
		if *list == nil {
			*list = []string{}
		}
	}
	return d
}

// verifies says whether svc has protected endpoints, whose callers' tokens it checks.
func (svc Service) verifies() bool {
	return slices.ContainsFunc(svc.Endpoints, func(b rpc.Binding) bool { return !b.Access().IsPublic() })
}
