package catalog_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/souk/souk/internal/demodata"
	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/internal/shoptest"
	"github.com/souk/souk/services/catalog"
	"github.com/souk/souk/subjects"
)

// env is the shop harness (a database with the catalog's schema, an embedded NATS server,
// test keys the instances trust instead of the auth service's) on which catalog instances run
// as cmd/souk runs them; the catalog's token checks are real.
type env struct {
	shop *shoptest.Env
	t    testing.TB
	ctx  context.Context
	db   *pgxpool.Pool
	nc   *nats.Conn
	js   jetstream.JetStream
	// staff, customer and other are contexts whose calls carry such a token.
	staff, customer, other context.Context
	// customerID and otherID are the users of customer and other.
	customerID, otherID string
}

func newEnv(t testing.TB) *env {
	t.Helper()
	shop := shoptest.NewEnv(t)
	e := &env{shop: shop, t: t, ctx: shop.Ctx, db: shop.DB, nc: shop.NC, js: shop.JS, staff: shop.Staff,
		customer: shop.Customer, customerID: shop.CustomerID}
	e.otherID, e.other = shop.NewCustomer()
	return e
}

// start runs one catalog instance on e.db with its own metrics registry, and waits until it
// answers. It stops at cleanup; stop stops it earlier.
func (e *env) start(cfg catalog.Config) (reg *prometheus.Registry, stop func()) {
	e.t.Helper()
	e.shop.DB = e.db
	inst := e.shop.StartCatalog(cfg)
	return inst.Registry, func() {
		if err := inst.Stop(); err != nil {
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
	e.shop.Publish(subject, eventID, payload)
}

// seed imports the demo catalog of n products, as `souk seed` does.
func seed(ctx context.Context, db *pgxpool.Pool, n int) (catalog.ImportResult, error) {
	cats, products := demodata.Catalog(n)
	return catalog.Import(ctx, db, catalog.DefaultLocale, demodata.Requests(cats), products)
}

func eur(amount int64) subjects.Money { return subjects.Money{Amount: amount, Currency: "EUR"} }

func ptr[T any](v T) *T { return &v }
