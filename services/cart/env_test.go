package cart_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/souk/souk/internal/shoptest"
	"github.com/souk/souk/services/cart"
	"github.com/souk/souk/subjects"
)

// env is the shop harness with the catalog and one cart instance running.
type env struct {
	*shoptest.Env
	cart *shoptest.Instance
}

func newEnv(t testing.TB, cfg cart.Config) *env {
	t.Helper()
	e := &env{Env: shoptest.NewEnv(t)}
	e.StartCatalog(shoptest.CatalogConfig())
	e.cart = e.StartCart(cfg)
	return e
}

// get reads the cart of ctx's caller.
func (e *env) get(ctx context.Context) subjects.Cart {
	e.T.Helper()
	c, err := subjects.CartGet.Call(ctx, e.NC, subjects.Empty{})
	if err != nil {
		e.T.Fatalf("get cart: %v", err)
	}
	return c
}

// add adds quantity of product to the cart of ctx's caller.
func (e *env) add(ctx context.Context, product string, quantity int) subjects.Cart {
	e.T.Helper()
	return e.item(subjects.CartAddItem, ctx, product, quantity)
}

// set sets the quantity of product's line in the cart of ctx's caller.
func (e *env) set(ctx context.Context, product string, quantity int) subjects.Cart {
	e.T.Helper()
	return e.item(subjects.CartSetItem, ctx, product, quantity)
}

// item calls ep with product and quantity for ctx's caller, failing the test on an error.
func (e *env) item(ep subjects.Endpoint[subjects.CartItemRequest, subjects.Cart], ctx context.Context, product string, quantity int) subjects.Cart {
	e.T.Helper()
	c, err := ep.Call(ctx, e.NC, subjects.CartItemRequest{ProductID: product, Quantity: quantity})
	if err != nil {
		e.T.Fatalf("%s %s × %d: %v", ep.Subject, product, quantity, err)
	}
	return c
}

// quantities is a cart's lines as product → quantity.
func quantities(c subjects.Cart) map[string]int {
	m := map[string]int{}
	for _, it := range c.Items {
		m[it.ProductID] = it.Quantity
	}
	return m
}

// wantLines fails t unless c holds exactly want (product → quantity).
func wantLines(t *testing.T, c subjects.Cart, want map[string]int) {
	t.Helper()
	if got := quantities(c); !reflect.DeepEqual(got, want) {
		t.Fatalf("lines: got %v, want %v", got, want)
	}
}

func money(amount int64, currency string) subjects.Money {
	return subjects.Money{Amount: amount, Currency: currency}
}
