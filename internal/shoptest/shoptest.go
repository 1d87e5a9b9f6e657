// Package shoptest runs the shop's services for the tests that need several of them (the
// checkout: cart, catalog, inventory, promotion, payment, order, shipping): the harness of
// internal/kittest on a database cloned from a template migrated with all their schemas, and
// a StartX per service that starts it as cmd/souk does and waits until it answers.
//
// It lives outside services/ because a service folder must not import another service, test
// files included. Adding a service is one small file in the style of catalog.go: its
// XConfig, its StartX handing its declaration to Env.Start with the call that proves it
// answers, and its declaration in shop below.
package shoptest

import (
	"errors"
	"sync"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/souk/souk/internal/kittest"
	"github.com/souk/souk/nats/bus"
	"github.com/souk/souk/platform/kit"
	"github.com/souk/souk/platform/pgtest"
	"github.com/souk/souk/services/cart"
	"github.com/souk/souk/services/catalog"
	"github.com/souk/souk/services/inventory"
	"github.com/souk/souk/services/order"
	"github.com/souk/souk/services/payment"
	"github.com/souk/souk/services/promotion"
	"github.com/souk/souk/services/shipping"
	"github.com/souk/souk/subjects"
)

// Env is kittest's Env on the shop's database, with a StartX per service.
type Env struct {
	*kittest.Env

	mu       sync.Mutex
	category string // the category Product puts products in, made on first use
}

// Instance is one running instance of a service.
type Instance = kittest.Instance

// shop is the template of the shop's database: every schema of the services started here,
// migrated once for all the tests.
var shop = sync.OnceValue(func() pgtest.Template {
	return kittest.Schemas("shop",
		func(d kit.Deps) (kit.Service, error) { return cart.Service(CartConfig(), d) },
		func(d kit.Deps) (kit.Service, error) { return catalog.Service(CatalogConfig(), d) },
		func(d kit.Deps) (kit.Service, error) { return inventory.Service(InventoryConfig(), d) },
		func(d kit.Deps) (kit.Service, error) { return order.Service(order.Config{}, d) },
		func(d kit.Deps) (kit.Service, error) { return payment.Service(PaymentConfig(), d) },
		func(d kit.Deps) (kit.Service, error) { return promotion.Service(PromotionConfig(), d) },
		func(d kit.Deps) (kit.Service, error) { return shipping.Service(ShippingConfig(), d) },
	)
})

// NewEnv runs t in parallel (see kittest.New) on a fresh database with the shop's schemas
// and an embedded NATS server with Souk's streams and buckets; no service runs yet.
// Everything is closed at t's cleanup.
func NewEnv(t testing.TB) *Env {
	t.Helper()
	return &Env{Env: kittest.New(t, shop())}
}

// NewEnvOn is NewEnv on the NATS connection nc (to a natstest.Cluster, say), the streams
// and buckets made with opts (bus.Replicas); see kittest.NewOn.
func NewEnvOn(t testing.TB, nc *nats.Conn, opts ...bus.EnsureOption) *Env {
	t.Helper()
	return &Env{Env: kittest.NewOn(t, shop(), nc, opts...)}
}

// NewID returns a fresh UUIDv7, as Souk's ids are.
func NewID() string { return kittest.NewID() }

// answered is ready's verdict on a call about something that does not exist: the 404 is
// the service answering.
func answered(err error) error {
	if errors.Is(err, subjects.ErrNotFound) {
		return nil
	}
	if err == nil {
		return errors.New("shoptest: an unknown id was found")
	}
	return err
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
