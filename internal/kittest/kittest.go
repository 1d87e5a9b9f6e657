// Package kittest runs services declared with platform/kit for their tests: a fresh
// PostgreSQL database cloned from a template already migrated with the services' schemas
// (platform/pgtest), an embedded NATS server with Souk's streams and buckets (nats/natstest),
// and test keys that every service started here trusts instead of the auth service's (the
// services' token checks are real). It imports no service, so a service's own tests
// (package x as well as x_test) use it; internal/shoptest adds a StartX per service for the
// tests that run several.
//
// Every test that makes an Env runs in parallel with the others (New calls t.Parallel): each
// has its own database and NATS server. A test that changes what the process shares (an
// environment variable, os.Stdout, a fixed port) cannot use an Env.
//
// Beside the services it reads what they leave on the streams: the dead letters of a
// consumer (DeadLetter), and whether the services have come to rest (AtRest: every durable
// consumer caught up, every outbox sent).
package kittest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/internal/promtest"
	"github.com/souk/souk/nats/bus"
	"github.com/souk/souk/nats/natstest"
	"github.com/souk/souk/platform/authn/authntest"
	"github.com/souk/souk/platform/kit"
	"github.com/souk/souk/platform/liveconfig"
	"github.com/souk/souk/platform/pgtest"
	"github.com/souk/souk/subjects"
)

// kid is the id of the test signing key.
const kid = "k1"

// Env is a real PostgreSQL database and an embedded NATS server for one test, and the
// services started on them.
type Env struct {
	// T is the test the environment belongs to; its cleanup stops the services.
	T testing.TB
	// Ctx bounds the test; the contexts below derive from it.
	Ctx context.Context
	// DB is a pool on the test's own database.
	DB *pgxpool.Pool
	// NC is a connection to the embedded server, JS its JetStream context.
	NC *nats.Conn
	JS jetstream.JetStream
	// Server is the embedded NATS server (its account takes a canary's subject mapping); nil
	// on a connection given to NewOn.
	Server *server.Server
	// Keys sign the tokens of As; the services started here trust them.
	Keys *authntest.Keys
	// Log is the logger services are started with (silent unless a test sets it).
	Log zerolog.Logger
	// Staff is a context whose calls carry a staff member's token.
	Staff context.Context
	// Admin is a context whose calls carry an administrator's token (coupons, refunds).
	Admin context.Context
	// Customer is a context whose calls carry the token of the customer CustomerID.
	Customer   context.Context
	CustomerID string
	// Live is the live configuration the services started here follow; nil (every key at
	// its default) unless the test called FollowConfig.
	Live *liveconfig.Config

	mu      sync.Mutex
	running map[string]int // instances started per micro service name
	// published are the stream sequences of the messages Publish stored, by Nats-Msg-Id.
	published map[string]*jetstream.PubAck
}

// New runs t in parallel with the other tests that make an Env (see the package doc), and
// returns t's Env: a database cloned from tmpl (see Schemas) and an embedded NATS server with
// Souk's streams and buckets; no service runs yet. Everything is closed at t's cleanup.
func New(t testing.TB, tmpl pgtest.Template) *Env {
	t.Helper()
	parallel(t)
	ns, nc := natstest.Server(t)
	e := NewOn(t, tmpl, nc)
	e.Server = ns
	return e
}

// NewOn is New on the NATS connection nc instead of a server of its own: on a
// natstest.Cluster, say, with opts giving the streams' and buckets' replica count
// (bus.Replicas). The streams get natstest's Recorder too.
func NewOn(t testing.TB, tmpl pgtest.Template, nc *nats.Conn, opts ...bus.EnsureOption) *Env {
	t.Helper()
	parallel(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	db := pgtest.MigratedPool(t, ctx, tmpl)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("kittest: %v", err)
	}
	natstest.Streams(t, ctx, js, opts...)
	if err := bus.EnsureBuckets(ctx, js, opts...); err != nil {
		t.Fatalf("kittest: %v", err)
	}
	e := &Env{T: t, Ctx: ctx, DB: db, NC: nc, JS: js, Keys: authntest.NewKeys(t, kid), Log: zerolog.Nop(),
		CustomerID: NewID(), running: map[string]int{}}
	e.Staff = e.As("staff-"+NewID(), subjects.RoleCustomer, subjects.RoleStaff)
	e.Admin = e.As("admin-"+NewID(), subjects.RoleCustomer, subjects.RoleStaff, subjects.RoleAdmin)
	e.Customer = e.As(e.CustomerID, subjects.RoleCustomer)
	return e
}

// parallel runs t in parallel with the other parallel tests of its package, unless it
// cannot: it called t.Parallel itself already (or made an Env before), or it changed what
// the process shares (t.Setenv, t.Chdir), which keeps it serial. t.Parallel says so by
// panicking before it changes anything, which parallel recovers from.
func parallel(t testing.TB) {
	pt, ok := t.(*testing.T)
	if !ok {
		return // a benchmark runs alone
	}
	defer func() {
		if r := recover(); r != nil {
			if msg, _ := r.(string); !strings.HasPrefix(msg, "testing: ") {
				panic(r)
			}
		}
	}()
	pt.Parallel()
}

// FollowConfig makes the services started from now on follow the config bucket, as every
// process of souk run does: it runs a live configuration until the test ends, waits until it
// has loaded the bucket, and returns the bucket, for the test to put keys in.
func (e *Env) FollowConfig() jetstream.KeyValue {
	e.T.Helper()
	e.Live = liveconfig.New(e.JS, e.Log, prometheus.NewRegistry())
	expect.Start(e.T, e.Live.Run)
	if err := e.Live.WaitLoaded(e.Ctx); err != nil {
		e.T.Fatalf("kittest: load the config bucket: %v", err)
	}
	kv, err := e.JS.KeyValue(e.Ctx, bus.BucketConfig)
	if err != nil {
		e.T.Fatalf("kittest: %v", err)
	}
	return kv
}

// Declare declares a service on the Deps it is given: its Service function with its Config
// bound, as in func(d kit.Deps) (kit.Service, error) { return order.Service(cfg, d) }.
type Declare func(kit.Deps) (kit.Service, error)

// Schemas returns the template of a database migrated with the schemas of the services
// declare declares, for New; set names the combination ("inventory", "shop"): one set name,
// one combination (the template of a set made from other migrations is dropped as stale). A
// declaration does no I/O, so Schemas reads each one on empty Deps.
func Schemas(set string, declare ...Declare) pgtest.Template {
	svcs := make([]kit.Service, len(declare))
	var labels []string
	var files []fs.FS
	for i, d := range declare {
		svc, err := d(kit.Deps{Log: zerolog.Nop()})
		if err != nil {
			panic(fmt.Sprintf("kittest: declare %d of %s: %v", i, set, err))
		}
		svcs[i] = svc
		labels = append(labels, svc.Name, svc.Schema, fmt.Sprint(len(svc.Publishes) > 0, len(svc.Consumers) > 0))
		files = append(files, svc.MigrationSets()...)
	}
	hash, err := pgtest.Hash(labels, files...)
	if err != nil {
		panic(err)
	}
	return pgtest.Template{Set: set, Hash: hash, Migrate: func(ctx context.Context, db *pgxpool.Pool) error {
		var errs []error
		for _, svc := range svcs {
			errs = append(errs, kit.Migrate(ctx, db, svc))
		}
		return errors.Join(errs...)
	}}
}

// NewID returns a fresh UUIDv7, as Souk's ids are.
func NewID() string { return uuid.Must(uuid.NewV7()).String() }

// As returns a context whose calls carry a valid token of userID with roles.
func (e *Env) As(userID string, roles ...string) context.Context {
	return subjects.WithAuthorization(e.Ctx, e.Keys.Sign(e.T, kid, userID, roles, nil))
}

// NewCustomer returns another customer's id and a context carrying their token.
func (e *Env) NewCustomer() (string, context.Context) {
	id := NewID()
	return id, e.As(id, subjects.RoleCustomer)
}

// Instance is one running instance of a service.
type Instance struct {
	// Registry holds the instance's metrics (its own, so two instances do not mix).
	Registry *prometheus.Registry
	run      *expect.Running
	stopped  func()
}

// Stop stops the instance and returns its Run's error; it is also stopped at cleanup.
func (i *Instance) Stop() error {
	err := i.run.Stop()
	i.stopped()
	return err
}

// Counter returns the value of the counter name in the instance's registry (an alarm a
// service raises, say): the sum of its series whose labels include labels, given as pairs
// of name and value (every series when none), since a service with two consumers has a
// series of a consumer counter for each; 0 when no series matches.
func (i *Instance) Counter(t testing.TB, name string, labels ...string) float64 {
	t.Helper()
	return promtest.Sum(t, i.Registry, name, labels...)
}

// Start runs one instance of the service declare declares, on the Env's database and NATS
// server with the test keys and a registry of its own, and waits until ready succeeds and
// every instance of it started here answers its micro ping. It fails the test if the service
// stops first.
func (e *Env) Start(declare func(kit.Deps) (kit.Service, error), ready func() error) *Instance {
	e.T.Helper()
	reg := prometheus.NewRegistry()
	deps := kit.Deps{Log: e.Log, DB: e.DB, NC: e.NC, JS: e.JS, Registry: reg, Keys: e.Keys.Source, Live: e.Live, StreamsReady: true}
	svc, err := declare(deps)
	if err != nil {
		e.T.Fatalf("kittest: declare: %v", err)
	}
	return e.startWith(svc.Name, reg, func(ctx context.Context) error { return kit.Run(ctx, deps, svc) }, ready)
}

func (e *Env) startWith(name string, reg *prometheus.Registry, run func(ctx context.Context) error, ready func() error) *Instance {
	e.T.Helper()
	r := expect.Start(e.T, run)
	e.mu.Lock()
	e.running[name]++
	want := e.running[name]
	e.mu.Unlock()
	var once sync.Once
	inst := &Instance{Registry: reg, run: r, stopped: func() {
		once.Do(func() { e.mu.Lock(); e.running[name]--; e.mu.Unlock() })
	}}
	expect.Within(e.T, 30*time.Second, func() error {
		if exited, err := r.Exited(); exited {
			e.T.Fatalf("%s: Run returned before it was ready: %v", name, err)
		}
		if err := ready(); err != nil {
			return err
		}
		return e.pings(name, want)
	})
	return inst
}

// pings succeeds when at least want instances of the micro service name answer its ping.
func (e *Env) pings(name string, want int) error {
	inbox := e.NC.NewRespInbox()
	sub, err := e.NC.SubscribeSync(inbox)
	if err != nil {
		return err
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := e.NC.PublishRequest("$SRV.PING."+name, inbox, nil); err != nil {
		return err
	}
	for got := 0; got < want; got++ {
		if _, err := sub.NextMsg(200 * time.Millisecond); err != nil {
			return fmt.Errorf("%s: %d of %d instances answer: %w", name, got, want, err)
		}
	}
	return nil
}

// Messages returns every message stored in stream on the filter subjects (all of them
// when none), oldest first, read with an ephemeral consumer deleted afterwards. Not an
// ordered consumer: that has one replica, and the server refuses a consumer on an interest
// stream with fewer replicas than the stream (an R3 stream on a natstest.Cluster).
func (e *Env) Messages(stream string, filter ...string) []jetstream.Msg {
	e.T.Helper()
	cons, err := e.JS.CreateConsumer(e.Ctx, stream, jetstream.ConsumerConfig{FilterSubjects: filter,
		DeliverPolicy: jetstream.DeliverAllPolicy, AckPolicy: jetstream.AckNonePolicy, InactiveThreshold: time.Minute})
	if err != nil {
		e.T.Fatalf("kittest: read %s: %v", stream, err)
	}
	defer func() { _ = e.JS.DeleteConsumer(e.Ctx, stream, cons.CachedInfo().Name) }()
	info, err := cons.Info(e.Ctx)
	if err != nil {
		e.T.Fatalf("kittest: read %s: %v", stream, err)
	}
	var out []jetstream.Msg
	for want := int(info.NumPending); len(out) < want; {
		batch, err := cons.Fetch(want-len(out), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			e.T.Fatalf("kittest: read %s: %v", stream, err)
		}
		n := len(out)
		for m := range batch.Messages() {
			out = append(out, m)
		}
		if err := batch.Error(); err != nil || len(out) == n {
			e.T.Fatalf("kittest: read %s: %d of %d messages: %v", stream, len(out), want, err)
		}
	}
	return out
}

// Publish publishes payload as JSON on subject with msgID as its Nats-Msg-Id, as a
// service's outbox relay would.
func (e *Env) Publish(subject, msgID string, payload any) {
	e.T.Helper()
	b, err := json.Marshal(payload)
	if err != nil {
		e.T.Fatalf("kittest: encode %s: %v", subject, err)
	}
	ack, err := e.JS.Publish(e.Ctx, subject, b, jetstream.WithMsgID(msgID))
	if err != nil {
		e.T.Fatalf("kittest: publish %s: %v", subject, err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.published == nil {
		e.published = map[string]*jetstream.PubAck{}
	}
	if !ack.Duplicate {
		e.published[msgID] = ack
	}
}

// Settled waits, up to within, until the durable consumer of stream has nothing pending and
// nothing awaiting its ack: every message published so far applied (or dead-lettered).
func (e *Env) Settled(stream, consumer string, within time.Duration) {
	e.T.Helper()
	expect.Within(e.T, within, func() error {
		c, err := e.JS.Consumer(e.Ctx, stream, consumer)
		if err != nil {
			return err
		}
		info, err := c.Info(e.Ctx)
		if err != nil {
			return err
		}
		if info.NumPending > 0 || info.NumAckPending > 0 {
			return fmt.Errorf("%s: %d pending, %d unacknowledged", consumer, info.NumPending, info.NumAckPending)
		}
		return nil
	})
}

// Applied waits until the durable consumer has settled the message Publish stored under
// msgID, and every one of its stream before it: applied and acknowledged, or dead-lettered.
// It reads the consumer's ack floor, so it serves consumers that keep no processed rows
// (consumer.Consumer.Idempotent) as well as those that do.
func (e *Env) Applied(consumer, msgID string) {
	e.T.Helper()
	e.mu.Lock()
	ack := e.published[msgID]
	e.mu.Unlock()
	if ack == nil {
		e.T.Fatalf("kittest: no message %s was published with Publish", msgID)
	}
	expect.Within(e.T, 10*time.Second, func() error {
		c, err := e.JS.Consumer(e.Ctx, ack.Stream, consumer)
		if err != nil {
			return err
		}
		info, err := c.Info(e.Ctx)
		if err != nil {
			return err
		}
		if info.AckFloor.Stream < ack.Sequence {
			return fmt.Errorf("event %s (%s #%d) not settled by %s yet: its ack floor is #%d", msgID, ack.Stream, ack.Sequence, consumer, info.AckFloor.Stream)
		}
		return nil
	})
}

// DeadLetter waits for a dead letter of the durable consumer of stream (on
// souk.dlq.<stream>.<consumer>) and returns the last one.
func (e *Env) DeadLetter(stream, consumer string) *jetstream.RawStreamMsg {
	e.T.Helper()
	var m *jetstream.RawStreamMsg
	expect.Within(e.T, 10*time.Second, func() error {
		s, err := e.JS.Stream(e.Ctx, "DLQ")
		if err != nil {
			return err
		}
		m, err = s.GetLastMsgForSubject(e.Ctx, "souk.dlq."+stream+"."+consumer)
		return err
	})
	return m
}

// AtRest waits until the shop has come to rest and returns the streams' states then, by
// name: every durable consumer of every stream that a service runs has nothing pending and
// nothing awaiting its ack, no service's outbox holds an unsent event, and two looks in a
// row find the streams alike. It cannot see work a service keeps elsewhere (a payment the provider has
// not decided yet): wait for its outcome first.
func (e *Env) AtRest(within time.Duration) map[string]jetstream.StreamState {
	e.T.Helper()
	var last map[string]jetstream.StreamState
	expect.Within(e.T, within, func() error {
		states, err := e.restless()
		if err != nil {
			last = nil
			return err
		}
		if !maps.EqualFunc(states, last, func(a, b jetstream.StreamState) bool { return a.LastSeq == b.LastSeq && a.Msgs == b.Msgs }) {
			last = states
			return errors.New("the streams are still moving")
		}
		return nil
	})
	return last
}

// restless returns the streams' states, or what keeps the shop from rest.
func (e *Env) restless() (map[string]jetstream.StreamState, error) {
	states := map[string]jetstream.StreamState{}
	for _, cfg := range bus.Streams {
		s, err := e.JS.Stream(e.Ctx, cfg.Name)
		if err != nil {
			return nil, err
		}
		consumers := s.ListConsumers(e.Ctx)
		for c := range consumers.Info() {
			// The test's recorder and the consumers declared for a service this test does
			// not run never catch up; a running service's consumer replaced its declaration.
			if c.Name == natstest.Recorder || c.Config.Description == bus.DeclaredDescription {
				continue
			}
			if c.Config.Durable != "" && (c.NumPending != 0 || c.NumAckPending != 0) {
				return nil, fmt.Errorf("consumer %s of %s: %d pending, %d awaiting ack", c.Name, cfg.Name, c.NumPending, c.NumAckPending)
			}
		}
		if err := consumers.Err(); err != nil {
			return nil, err
		}
		info, err := s.Info(e.Ctx)
		if err != nil {
			return nil, err
		}
		states[cfg.Name] = info.State
	}
	return states, e.outboxesSent()
}

// outboxesSent fails while the outbox of any schema holds an unsent event.
func (e *Env) outboxesSent() error {
	rows, err := e.DB.Query(e.Ctx, `select table_schema from information_schema.tables where table_name = 'outbox'`)
	if err != nil {
		return err
	}
	schemas, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	for _, schema := range schemas {
		var unsent int
		q := `select count(*) from ` + pgx.Identifier{schema, "outbox_pending"}.Sanitize()
		if err := e.DB.QueryRow(e.Ctx, q).Scan(&unsent); err != nil {
			return err
		}
		if unsent > 0 {
			return fmt.Errorf("the outbox of %s holds %d unsent events", schema, unsent)
		}
	}
	return nil
}
