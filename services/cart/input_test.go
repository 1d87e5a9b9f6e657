package cart_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/internal/shoptest"
	"github.com/souk/souk/nats/bus"
	"github.com/souk/souk/services/cart"
	"github.com/souk/souk/subjects"
)

// Every bad request is a 4xx naming its field, and leaves the cart as it was.
func TestBadInputIsAClearErrorAndChangesNothing(t *testing.T) {
	e := newEnv(t, cart.Config{MaxLines: 3})
	var ids []string
	for _, sku := range []string{"A-1", "B-1", "C-1"} {
		ids = append(ids, e.Product(t, sku, shoptest.EUR(100)).ID)
		e.add(e.Customer, ids[len(ids)-1], 1)
	}
	e.set(e.Customer, ids[0], 999)
	fourth := e.Product(t, "D-1", shoptest.EUR(100)).ID
	before := e.get(e.Customer)
	huge := strings.Repeat("9", 1<<20)

	cases := []struct {
		name    string
		subject string
		body    string
		code    int
		slug    string
		field   string
	}{
		{"no product", subjects.CartAddItem.Subject, `{"quantity":1}`, 400, "validation", "product_id"},
		{"not a uuid", subjects.CartAddItem.Subject, `{"product_id":"abc","quantity":1}`, 400, "validation", "product_id"},
		{"nul byte", subjects.CartAddItem.Subject, `{"product_id":"` + ids[1][:35] + `\u0000","quantity":1}`, 400, "validation", "product_id"},
		{"invalid utf-8", subjects.CartAddItem.Subject, "{\"product_id\":\"\xff\xfe\",\"quantity\":1}", 400, "validation", "product_id"},
		{"huge id", subjects.CartAddItem.Subject, `{"product_id":"` + huge + `","quantity":1}`, 400, "validation", "product_id"},
		{"unknown product", subjects.CartAddItem.Subject, `{"product_id":"` + shoptest.NewID() + `","quantity":1}`, 404, "product_not_found", "product_id"},
		{"add 0", subjects.CartAddItem.Subject, `{"product_id":"` + ids[1] + `","quantity":0}`, 400, "validation", "quantity"},
		{"add negative", subjects.CartAddItem.Subject, `{"product_id":"` + ids[1] + `","quantity":-5}`, 400, "validation", "quantity"},
		{"add 1000", subjects.CartAddItem.Subject, `{"product_id":"` + ids[1] + `","quantity":1000}`, 400, "validation", "quantity"},
		{"absurd number", subjects.CartAddItem.Subject, `{"product_id":"` + ids[1] + `","quantity":1e300}`, 400, "validation", ""},
		{"line past 999", subjects.CartAddItem.Subject, `{"product_id":"` + ids[0] + `","quantity":1}`, 400, "validation", "quantity"},
		{"too many lines", subjects.CartAddItem.Subject, `{"product_id":"` + fourth + `","quantity":1}`, 422, "cart_full", "product_id"},
		{"set negative", subjects.CartSetItem.Subject, `{"product_id":"` + ids[1] + `","quantity":-1}`, 400, "validation", "quantity"},
		{"set 1000", subjects.CartSetItem.Subject, `{"product_id":"` + ids[1] + `","quantity":1000}`, 400, "validation", "quantity"},
		{"set a new line past the limit", subjects.CartSetItem.Subject, `{"product_id":"` + fourth + `","quantity":2}`, 422, "cart_full", "product_id"},
		{"remove bad id", subjects.CartRemoveItem.Subject, `{"product_id":"x"}`, 400, "validation", "product_id"},
		{"malformed json", subjects.CartAddItem.Subject, `{"product_id":`, 400, "validation", ""},
		{"empty coupon", subjects.CartApplyCoupon.Subject, `{"code":""}`, 400, "validation", "code"},
		{"coupon with nul", subjects.CartApplyCoupon.Subject, `{"code":"SAVE\u000010"}`, 422, "coupon_invalid", "code"},
		{"huge coupon", subjects.CartApplyCoupon.Subject, `{"code":"` + huge + `"}`, 422, "coupon_invalid", "code"},
		{"checkout without order", subjects.CartCheckedOut.Subject, `{"lines":[]}`, 400, "validation", "order_id"},
		{"checkout bad line", subjects.CartCheckedOut.Subject, `{"order_id":"` + shoptest.NewID() + `","lines":[{"product_id":"x","quantity":0}]}`, 400, "validation", "lines[0].quantity"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := subjects.Request(e.Customer, e.NC, tc.subject, []byte(tc.body))
			expect.Error(t, err, tc.code, tc.slug, tc.field)
		})
	}
	if after := e.get(e.Customer); !reflect.DeepEqual(after, before) {
		t.Fatalf("bad requests changed the cart:\n%+v\n%+v", before, after)
	}

	_, err := subjects.CartGet.Call(e.Ctx, e.NC, subjects.Empty{})
	expect.Error(t, err, 401, "", "")
}

// The promotion service is not running: applying a coupon is a 503 (never a 500) and
// changes nothing; a coupon already in the cart reads as worth nothing for now, and an order
// that used it takes it out.
func TestCouponWithoutThePromotionService(t *testing.T) {
	e := newEnv(t, cart.Config{})
	a := e.Product(t, "A-1", shoptest.EUR(1000))
	before := e.add(e.Customer, a.ID, 1)
	_, err := subjects.CartApplyCoupon.Call(e.Customer, e.NC, subjects.CouponCodeRequest{Code: "save10"})
	expect.Error(t, err, 503, "", "")
	if after := e.get(e.Customer); !reflect.DeepEqual(after, before) {
		t.Fatalf("a refused coupon changed the cart:\n%+v\n%+v", before, after)
	}

	// A coupon applied while the promotion service ran.
	kv, err := e.JS.KeyValue(e.Ctx, bus.BucketCarts)
	if err != nil {
		t.Fatal(err)
	}
	entry, err := kv.Get(e.Ctx, e.CustomerID)
	if err != nil {
		t.Fatal(err)
	}
	var stored cart.Cart
	if err := json.Unmarshal(entry.Value(), &stored); err != nil {
		t.Fatal(err)
	}
	stored.Coupon = "SAVE10"
	b, _ := json.Marshal(stored)
	if _, err := kv.Update(e.Ctx, e.CustomerID, b, entry.Revision()); err != nil {
		t.Fatal(err)
	}
	c := e.get(e.Customer)
	want := &subjects.CartCoupon{Code: "SAVE10", Discount: shoptest.EUR(0), Problem: cart.ProblemUnavailable}
	if !reflect.DeepEqual(c.Coupon, want) || c.Total != shoptest.EUR(1000) {
		t.Fatalf("a coupon that cannot be quoted: %+v %+v", c.Coupon, c.Total)
	}

	order := subjects.CartCheckedOutRequest{OrderID: shoptest.NewID(), Coupon: "save10",
		Lines: []subjects.OrderLine{{ProductID: a.ID, Quantity: 1, UnitPrice: shoptest.EUR(1000)}}}
	if _, err := subjects.CartCheckedOut.Call(e.Customer, e.NC, order); err != nil {
		t.Fatal(err)
	}
	if c := e.get(e.Customer); c.Coupon != nil || len(c.Items) != 0 {
		t.Fatalf("after the order: %+v", c)
	}

	if _, err := subjects.CartRemoveCoupon.Call(e.Customer, e.NC, subjects.Empty{}); err != nil {
		t.Fatalf("removing no coupon: %v", err)
	}
}

// The store matches the errors of a lost compare-and-swap with errors.Is; this pins which
// errors the KV client returns for them.
func TestKVConflictErrors(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e := shoptest.NewEnv(t)
	kv, err := e.JS.KeyValue(ctx, bus.BucketCarts)
	if err != nil {
		t.Fatal(err)
	}
	rev, err := kv.Create(ctx, "k", []byte("1"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = kv.Create(ctx, "k", []byte("2"))
	var apiErr *jetstream.APIError
	if !errors.Is(err, jetstream.ErrKeyExists) || !errors.As(err, &apiErr) || apiErr.ErrorCode != jetstream.JSErrCodeStreamWrongLastSequence {
		t.Fatalf("create over an existing key: %#v", err)
	}
	if _, err := kv.Update(ctx, "k", []byte("3"), rev); err != nil {
		t.Fatal(err)
	}
	_, err = kv.Update(ctx, "k", []byte("4"), rev)
	if !errors.Is(err, jetstream.ErrKeyRevisionMismatch) || !errors.As(err, &apiErr) || apiErr.ErrorCode != jetstream.JSErrCodeStreamWrongLastSequence {
		t.Fatalf("update with a stale revision: %#v", err)
	}
}
