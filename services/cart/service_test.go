package cart_test

import (
	"strings"
	"sync"
	"testing"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/internal/shoptest"
	"github.com/souk/souk/services/cart"
	"github.com/souk/souk/subjects"
)

func TestAddSetRemoveClear(t *testing.T) {
	e := newEnv(t, cart.Config{})
	a := e.Product(t, "A-1", shoptest.EUR(1250))
	b := e.Product(t, "B-1", shoptest.EUR(399))

	empty := e.get(e.Customer)
	if len(empty.Items) != 0 || empty.Total != shoptest.EUR(0) || empty.Revision != 0 || empty.Coupon != nil {
		t.Fatalf("a new cart: %+v", empty)
	}
	e.add(e.Customer, a.ID, 2)
	// Another spelling of the same UUID is the same line.
	c := e.add(e.Customer, strings.ToUpper(a.ID), 3)
	wantLines(t, c, map[string]int{a.ID: 5})
	c = e.add(e.Customer, b.ID, 1)
	if c.Items[0].ProductID != a.ID || c.Items[0].SKU != "A-1" || c.Items[0].Name != "Product A-1" ||
		c.Items[0].UnitPrice != shoptest.EUR(1250) || c.Items[0].LineTotal != shoptest.EUR(6250) {
		t.Fatalf("first line: %+v", c.Items[0])
	}
	if c.Subtotal != shoptest.EUR(6250+399) || c.Discount != shoptest.EUR(0) || c.Total != c.Subtotal {
		t.Fatalf("totals: %+v", c)
	}
	c = e.set(e.Customer, b.ID, 4)
	wantLines(t, c, map[string]int{a.ID: 5, b.ID: 4})
	c = e.set(e.Customer, a.ID, 0)
	wantLines(t, c, map[string]int{b.ID: 4})
	if c.Total != shoptest.EUR(4*399) {
		t.Fatalf("total after setting a to 0: %+v", c.Total)
	}

	// Someone else's cart is theirs.
	_, other := e.NewCustomer()
	if got := e.get(other); len(got.Items) != 0 {
		t.Fatalf("another customer's cart: %+v", got)
	}

	// Removing is idempotent: an absent line writes nothing.
	c, err := subjects.CartRemoveItem.Call(e.Customer, e.NC, subjects.CartItemRequest{ProductID: b.ID})
	if err != nil {
		t.Fatal(err)
	}
	again, err := subjects.CartRemoveItem.Call(e.Customer, e.NC, subjects.CartItemRequest{ProductID: b.ID})
	if err != nil || len(again.Items) != 0 || again.Revision != c.Revision {
		t.Fatalf("second remove: %+v, %v (first at revision %d)", again, err, c.Revision)
	}

	e.add(e.Customer, a.ID, 1)
	for range 2 { // clearing an empty cart is fine too
		if _, err := subjects.CartClear.Call(e.Customer, e.NC, subjects.Empty{}); err != nil {
			t.Fatal(err)
		}
	}
	if got := e.get(e.Customer); len(got.Items) != 0 || got.Total != shoptest.EUR(0) {
		t.Fatalf("after clear: %+v", got)
	}
	if _, err := subjects.CartClear.Call(other, e.NC, subjects.Empty{}); err != nil {
		t.Fatalf("clearing a cart never written: %v", err)
	}
}

func TestPricesComeFromTheCatalogAtEveryRead(t *testing.T) {
	e := newEnv(t, cart.Config{})
	a := e.Product(t, "A-1", shoptest.EUR(1000))
	b := e.Product(t, "B-1", shoptest.EUR(250))
	e.add(e.Customer, a.ID, 2)
	e.add(e.Customer, b.ID, 1)

	if _, err := subjects.ProductUpdate.Call(e.Staff, e.NC, subjects.ProductUpdateRequest{ID: a.ID, Price: new(shoptest.EUR(1500))}); err != nil {
		t.Fatal(err)
	}
	c := e.get(e.Customer)
	if c.Items[0].UnitPrice != shoptest.EUR(1500) || c.Subtotal != shoptest.EUR(3250) || c.Total != shoptest.EUR(3250) {
		t.Fatalf("after the price change: %+v", c)
	}

	// Names come in the caller's language: Accept-Language travels to the catalog.
	de := subjects.WithMeta(e.Customer, subjects.Meta{Authorization: subjects.MetaFrom(e.Customer).Authorization, AcceptLanguage: "de-DE,de;q=0.9"})
	if _, err := subjects.ProductUpdate.Call(e.Staff, e.NC, subjects.ProductUpdateRequest{ID: a.ID,
		Translations: map[string]*subjects.ProductText{"de": {Name: "Produkt A"}}}); err != nil {
		t.Fatal(err)
	}
	if c := e.get(de); c.Items[0].Name != "Produkt A" || e.get(e.Customer).Items[0].Name != "Product A-1" {
		t.Fatalf("names by language: %+v", c.Items)
	}

	// A product that is no longer sold is listed apart and counts for nothing, but stays in
	// the cart until the customer removes it.
	if _, err := subjects.ProductDelete.Call(e.Staff, e.NC, subjects.ProductIDRequest{ID: b.ID}); err != nil {
		t.Fatal(err)
	}
	c = e.get(e.Customer)
	wantLines(t, c, map[string]int{a.ID: 2})
	if len(c.Unavailable) != 1 || c.Unavailable[0] != b.ID || c.Total != shoptest.EUR(3000) {
		t.Fatalf("with a deleted product: %+v", c)
	}
	_, err := subjects.CartAddItem.Call(e.Customer, e.NC, subjects.CartItemRequest{ProductID: b.ID, Quantity: 1})
	expect.Error(t, err, 404, "product_not_found", "product_id")
	c, err = subjects.CartRemoveItem.Call(e.Customer, e.NC, subjects.CartItemRequest{ProductID: b.ID})
	if err != nil || len(c.Unavailable) != 0 {
		t.Fatalf("removing the deleted product: %+v, %v", c, err)
	}
}

// Twenty tabs of one customer add at once, through two cart instances, so that writes race
// both inside an instance and between instances: every unit is counted.
func TestConcurrentAddsLoseNothing(t *testing.T) {
	e := newEnv(t, cart.Config{})
	second := e.StartCart(cart.Config{})
	shared := e.Product(t, "SHARED", shoptest.EUR(100))
	const tabs = 20
	own := make([]subjects.Product, tabs)
	for i := range own {
		own[i] = e.Product(t, "OWN-"+string(rune('A'+i)), shoptest.EUR(10))
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2*tabs)
	for i := range tabs {
		wg.Go(func() {
			for _, id := range []string{own[i].ID, shared.ID} {
				if _, err := subjects.CartAddItem.Call(e.Customer, e.NC, subjects.CartItemRequest{ProductID: id, Quantity: i%3 + 1}); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("add: %v", err)
	}
	want := map[string]int{}
	sharedUnits := 0
	for i, p := range own {
		want[p.ID] = i%3 + 1
		sharedUnits += i%3 + 1
	}
	want[shared.ID] = sharedUnits
	wantLines(t, e.get(e.Customer), want)
	t.Logf("compare-and-swap conflicts retried: %v", conflicts(t, e.cart)+conflicts(t, second))
}

// conflicts reads an instance's count of lost compare-and-swap rounds.
func conflicts(t *testing.T, inst *shoptest.Instance) float64 {
	t.Helper()
	mfs, err := inst.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "souk_cart_write_conflicts_total" {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatal("no souk_cart_write_conflicts_total")
	return 0
}

func TestCurrenciesDoNotMix(t *testing.T) {
	e := newEnv(t, cart.Config{DefaultCurrency: "usd"})
	eur := e.Product(t, "EUR-1", shoptest.EUR(500))
	usd := e.Product(t, "USD-1", money(700, "USD"))
	if c := e.get(e.Customer); c.Total != money(0, "USD") {
		t.Fatalf("an empty cart is in the default currency: %+v", c.Total)
	}
	c := e.add(e.Customer, eur.ID, 1)
	if c.Total != shoptest.EUR(500) {
		t.Fatalf("a cart of euro products is in euros: %+v", c.Total)
	}
	for _, ep := range []subjects.Endpoint[subjects.CartItemRequest, subjects.Cart]{subjects.CartAddItem, subjects.CartSetItem} {
		_, err := ep.Call(e.Customer, e.NC, subjects.CartItemRequest{ProductID: usd.ID, Quantity: 1})
		expect.Error(t, err, 422, "currency_mismatch", "product_id")
	}
	wantLines(t, e.get(e.Customer), map[string]int{eur.ID: 1})
	// Once the euro line is gone the cart takes dollars.
	e.set(e.Customer, eur.ID, 0)
	if c := e.add(e.Customer, usd.ID, 2); c.Total != money(1400, "USD") {
		t.Fatalf("a cart of dollar products: %+v", c.Total)
	}
}

func TestCheckedOutTakesOnlyWhatWasOrdered(t *testing.T) {
	e := newEnv(t, cart.Config{})
	a := e.Product(t, "A-1", shoptest.EUR(100))
	b := e.Product(t, "B-1", shoptest.EUR(200))
	c := e.Product(t, "C-1", shoptest.EUR(300))
	e.add(e.Customer, a.ID, 3)
	e.add(e.Customer, b.ID, 1)
	order := subjects.CartCheckedOutRequest{OrderID: shoptest.NewID(), Lines: []subjects.OrderLine{
		{ProductID: a.ID, SKU: "A-1", Quantity: 2, UnitPrice: shoptest.EUR(100)},
		{ProductID: b.ID, SKU: "B-1", Quantity: 1, UnitPrice: shoptest.EUR(200)},
	}}
	// The customer adds C in another tab while the order is being placed.
	e.add(e.Customer, c.ID, 1)
	for range 2 {
		if _, err := subjects.CartCheckedOut.Call(e.Customer, e.NC, order); err != nil {
			t.Fatal(err)
		}
		wantLines(t, e.get(e.Customer), map[string]int{a.ID: 1, c.ID: 1})
	}
	// A later order of more than is left empties the line.
	order.OrderID, order.Lines = shoptest.NewID(), order.Lines[:1]
	if _, err := subjects.CartCheckedOut.Call(e.Customer, e.NC, order); err != nil {
		t.Fatal(err)
	}
	wantLines(t, e.get(e.Customer), map[string]int{c.ID: 1})
}
