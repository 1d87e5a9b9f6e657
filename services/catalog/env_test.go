package catalog_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/souk/souk/internal/demodata"
	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/nats/natstest"
	"github.com/souk/souk/platform/authn/authntest"
	"github.com/souk/souk/platform/kit"
	"github.com/souk/souk/platform/pgtest"
	"github.com/souk/souk/services/catalog"
	"github.com/souk/souk/subjects"
)

// env is a real PostgreSQL database and an embedded NATS server on which catalog instances
// run as cmd/souk runs them. Tokens are signed with test keys (authntest) that the instances
// trust instead of the auth service's: the catalog's token checks are real.
type env struct {
	t    testing.TB
	ctx  context.Context
	db   *pgxpool.Pool
	nc   *nats.Conn
	js   jetstream.JetStream
	keys *authntest.Keys
	// staff, customer and other are contexts whose calls carry such a token.
	staff, customer, other context.Context
	// customerID and otherID are the users of customer and other.
	customerID, otherID string
}

func newEnv(t testing.TB) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	db := pgtest.Pool(t, ctx)
	nc, js := natstest.JetStream(t, ctx)
	e := &env{t: t, ctx: ctx, db: db, nc: nc, js: js, keys: authntest.NewKeys(t, "k1"),
		customerID: uuid.Must(uuid.NewV7()).String(), otherID: uuid.Must(uuid.NewV7()).String()}
	e.staff = e.as("staff-1", subjects.RoleCustomer, subjects.RoleStaff)
	e.customer = e.as(e.customerID, subjects.RoleCustomer)
	e.other = e.as(e.otherID, subjects.RoleCustomer)
	return e
}

// as returns a context whose calls carry a token of sub with roles.
func (e *env) as(sub string, roles ...string) context.Context {
	return subjects.WithAuthorization(e.ctx, e.keys.Sign(e.t, "k1", sub, roles, nil))
}

// start runs one catalog instance with its own metrics registry, and waits until it answers.
// It stops at cleanup; stop stops it earlier.
func (e *env) start(cfg catalog.Config) (reg *prometheus.Registry, stop func()) {
	e.t.Helper()
	reg = prometheus.NewRegistry()
	r := expect.Start(e.t, func(ctx context.Context) error {
		deps := kit.Deps{Log: zerolog.Nop(), DB: e.db, NC: e.nc, JS: e.js, Registry: reg, Keys: e.keys.Source}
		svc, err := catalog.Service(cfg, deps)
		if err != nil {
			return err
		}
		return kit.Run(ctx, deps, svc)
	})
	expect.Within(e.t, 30*time.Second, func() error {
		if exited, err := r.Exited(); exited {
			e.t.Fatalf("kit.Run returned before it was ready: %v", err)
		}
		_, err := subjects.CategoryList.Call(e.ctx, e.nc, subjects.Empty{})
		return err
	})
	return reg, func() {
		if err := r.Stop(); err != nil {
			e.t.Errorf("kit.Run: %v", err)
		}
	}
}

// category creates a category under parent (a path or id, "" for the top).
func (e *env) category(name, slug, parent string, tr map[string]subjects.CategoryText) subjects.Category {
	e.t.Helper()
	c, err := subjects.CategoryCreate.Call(e.staff, e.nc, subjects.CategoryCreateRequest{Name: name, Slug: slug, ParentID: parent, Translations: tr})
	if err != nil {
		e.t.Fatalf("create category %s: %v", slug, err)
	}
	return c
}

// product creates a product.
func (e *env) product(req subjects.ProductCreateRequest) subjects.Product {
	e.t.Helper()
	p, err := subjects.ProductCreate.Call(e.staff, e.nc, req)
	if err != nil {
		e.t.Fatalf("create product %s: %v", req.SKU, err)
	}
	return p
}

// search runs a search anonymously.
func (e *env) search(req subjects.SearchRequest) subjects.ProductPage {
	e.t.Helper()
	page, err := subjects.ProductSearch.Call(e.ctx, e.nc, req)
	if err != nil {
		e.t.Fatalf("search %+v: %v", req, err)
	}
	return page
}

// lastEvent returns the latest event published on subject (the CATALOG stream keeps the
// latest per subject), waiting for the outbox relay to publish it.
func (e *env) lastEvent(subject string, into any) {
	e.t.Helper()
	expect.Within(e.t, 10*time.Second, func() error {
		s, err := e.js.Stream(e.ctx, "CATALOG")
		if err != nil {
			return err
		}
		m, err := s.GetLastMsgForSubject(e.ctx, subject)
		if err != nil {
			return fmt.Errorf("%s: %w", subject, err)
		}
		return json.Unmarshal(m.Data, into)
	})
}

// publish publishes an event of another service to JetStream with its event id as
// Nats-Msg-Id, as that service's outbox relay would.
func (e *env) publish(subject, eventID string, payload any) {
	e.t.Helper()
	b, err := json.Marshal(payload)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.js.Publish(e.ctx, subject, b, jetstream.WithMsgID(eventID)); err != nil {
		e.t.Fatalf("publish %s: %v", subject, err)
	}
}

// seed imports the demo catalog of n products, as `souk seed` does.
func seed(ctx context.Context, db *pgxpool.Pool, n int) (catalog.ImportResult, error) {
	cats, products := demodata.Catalog(n)
	return catalog.Import(ctx, db, catalog.DefaultLocale, demodata.Requests(cats), products)
}

func eur(amount int64) subjects.Money { return subjects.Money{Amount: amount, Currency: "EUR"} }

func ptr[T any](v T) *T { return &v }
