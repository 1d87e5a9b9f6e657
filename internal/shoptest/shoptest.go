// Package shoptest runs the shop's services for the tests of the checkout services (cart,
// inventory, promotion, payment, order): a real PostgreSQL database and an embedded NATS
// server with Souk's streams and buckets, on which services run as cmd/souk runs them, with
// tokens signed by test keys that every service trusts instead of the auth service's (the
// services' token checks are real).
//
// It lives outside services/ because a service folder must not import another service, test
// files included, and these tests need several services running.
//
// Adding a service is one small method in the style of StartCatalog: build its Deps from the
// Env and hand its Run to start with the call that proves it answers.
package shoptest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/souk/souk/internal/expect"
	bus "github.com/souk/souk/nats"
	"github.com/souk/souk/nats/natstest"
	"github.com/souk/souk/platform/authn/authntest"
	"github.com/souk/souk/platform/pgtest"
	"github.com/souk/souk/services/cart"
	"github.com/souk/souk/services/catalog"
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
	// Keys sign the tokens of As; the services started here trust them.
	Keys *authntest.Keys
	// Log is the logger services are started with (silent unless a test sets it).
	Log zerolog.Logger
	// Staff is a context whose calls carry a staff member's token.
	Staff context.Context
	// Customer is a context whose calls carry the token of the customer CustomerID.
	Customer   context.Context
	CustomerID string

	mu       sync.Mutex
	running  map[string]int // instances started per micro service name
	category string         // the category Product puts products in, made on first use
}

// NewEnv opens a fresh database and starts an embedded NATS server with Souk's streams and
// buckets for t; no service runs yet. Everything is closed at t's cleanup.
func NewEnv(t testing.TB) *Env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	db := pgtest.Pool(t, ctx)
	nc, js := natstest.JetStream(t, ctx)
	if err := bus.EnsureBuckets(ctx, js); err != nil {
		t.Fatalf("shoptest: %v", err)
	}
	e := &Env{T: t, Ctx: ctx, DB: db, NC: nc, JS: js, Keys: authntest.NewKeys(t, kid), Log: zerolog.Nop(),
		CustomerID: NewID(), running: map[string]int{}}
	e.Staff = e.As("staff-"+NewID(), subjects.RoleCustomer, subjects.RoleStaff)
	e.Customer = e.As(e.CustomerID, subjects.RoleCustomer)
	return e
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

// start runs one instance of the micro service name with run (given the instance's
// registry) and waits until ready succeeds and every instance started here, this one
// included, answers name's micro ping; it fails the test if run returns first.
func (e *Env) start(name string, run func(ctx context.Context, reg *prometheus.Registry) error, ready func() error) *Instance {
	e.T.Helper()
	reg := prometheus.NewRegistry()
	r := expect.Start(e.T, func(ctx context.Context) error { return run(ctx, reg) })
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

// CatalogConfig returns the configuration tests run the catalog with, so that a service's
// tests need not import the catalog to start it.
func CatalogConfig() catalog.Config { return catalog.Config{} }

// StartCatalog runs a catalog instance and waits until it answers.
func (e *Env) StartCatalog(cfg catalog.Config) *Instance {
	e.T.Helper()
	return e.start("catalog", func(ctx context.Context, reg *prometheus.Registry) error {
		return catalog.Run(ctx, cfg, catalog.Deps{Log: e.Log, DB: e.DB, NC: e.NC, JS: e.JS, Registry: reg, Keys: e.Keys.Source})
	}, func() error {
		_, err := subjects.CategoryList.Call(e.Ctx, e.NC, subjects.Empty{})
		return err
	})
}

// StartCart runs a cart instance and waits until it answers.
func (e *Env) StartCart(cfg cart.Config) *Instance {
	e.T.Helper()
	return e.start("cart", func(ctx context.Context, reg *prometheus.Registry) error {
		return cart.Run(ctx, cfg, cart.Deps{Log: e.Log, NC: e.NC, JS: e.JS, Registry: reg, Keys: e.Keys.Source})
	}, func() error {
		_, err := subjects.CartGet.Call(e.Staff, e.NC, subjects.Empty{})
		return err
	})
}

// Product creates a listed product priced price with a SKU of sku, in a category made on
// first use; the catalog must be running.
func (e *Env) Product(t testing.TB, sku string, price subjects.Money) subjects.Product {
	t.Helper()
	p, err := subjects.ProductCreate.Call(e.Staff, e.NC, subjects.ProductCreateRequest{
		SKU: sku, Name: "Product " + sku, Price: price, CategoryID: e.defaultCategory(t)})
	if err != nil {
		t.Fatalf("shoptest: create product %s: %v", sku, err)
	}
	return p
}

// defaultCategory is the id of the category Product uses, creating it the first time.
func (e *Env) defaultCategory(t testing.TB) string {
	t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.category == "" {
		c, err := subjects.CategoryCreate.Call(e.Staff, e.NC, subjects.CategoryCreateRequest{Name: "Everything", Slug: "everything"})
		if err != nil {
			t.Fatalf("shoptest: create category: %v", err)
		}
		e.category = c.ID
	}
	return e.category
}

// EUR is amount minor units of euros.
func EUR(amount int64) subjects.Money { return subjects.Money{Amount: amount, Currency: "EUR"} }
