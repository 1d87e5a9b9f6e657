package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/souk/souk/internal/expect"
)

// order is what the checkout tests read of an order.
type orderView struct {
	ID           string `json:"id"`
	Status       string `json:"status"`
	CancelReason string `json:"cancel_reason"`
	Total        struct {
		Amount int64 `json:"amount"`
	} `json:"total"`
	Discount struct {
		Amount int64 `json:"amount"`
	} `json:"discount"`
	History []struct {
		Status string `json:"status"`
		Reason string `json:"reason"`
	} `json:"history"`
	Payment *struct {
		Status   string `json:"status"`
		Refunded struct {
			Amount int64 `json:"amount"`
		} `json:"refunded"`
	} `json:"payment"`
}

func (s *shop) order(id, token string) orderView {
	s.t.Helper()
	r := s.do("GET", "/v1/orders/"+id, nil, token)
	s.expect(r, 200, "get order")
	var o orderView
	if err := json.Unmarshal(r.body, &o); err != nil {
		s.t.Fatalf("order: %s", r.body)
	}
	return o
}

func (o orderView) statuses() []string {
	out := make([]string, len(o.History))
	for i, h := range o.History {
		out[i] = h.Status
	}
	return out
}

// stock reads a SKU's counts as staff.
func (s *shop) stock(sku, token string) (onHand, reserved, available int64) {
	s.t.Helper()
	r := s.do("GET", "/v1/inventory/"+sku, nil, token)
	s.expect(r, 200, "stock of "+sku)
	var st struct{ OnHand, Reserved, Available int64 }
	var raw map[string]int64
	_ = json.Unmarshal(r.body, &raw)
	st.OnHand, st.Reserved, st.Available = raw["on_hand"], raw["reserved"], raw["available"]
	return st.OnHand, st.Reserved, st.Available
}

// follow reads GET /v1/orders/{id}/events until an event named until arrives (or the stream
// ends) and returns the event names in order.
//
// The gateway answers a stream's headers and first comment at once, before any event, so
// follow gives them followStart; the events come as the saga makes them, within followAll.
// A stream that misses either bound fails the test at once with the goroutines of this
// process, the shop's among them: where the gateway waits is named in the failure (see
// docs/decisions.md, "The order's event stream under load").
func (s *shop) follow(id, token, until string) []string {
	s.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", s.base+"/v1/orders/"+id+"/events", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	stage := "the stream's headers"
	w := expect.Watch(followStart, cancel)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		w.Fail(s.t, stage, fmt.Errorf("order events: %w", err))
	}
	defer res.Body.Close()
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		s.t.Fatalf("order events: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	var names []string
	sc := bufio.NewScanner(res.Body)
	if !sc.Scan() || !strings.HasPrefix(sc.Text(), ":") {
		w.Fail(s.t, "the stream's first comment", fmt.Errorf("order events began %q (%v)", sc.Text(), sc.Err()))
	}
	stage = "event " + until
	w.Extend(followAll)
	for sc.Scan() {
		if name, ok := strings.CutPrefix(sc.Text(), "event: "); ok {
			names = append(names, name)
			if name == until {
				w.Stop()
				return names
			}
		}
	}
	w.Fail(s.t, stage, fmt.Errorf("order events ended without %q: %v (%v)", until, names, sc.Err()))
	return nil
}

// Bounds of follow: the stream's start waits on nothing but one read of the order, which the
// shop bounds by SOUK_REQUEST_TIMEOUT (60 s here: a read that slow is a 504, not a hang);
// the events wait on the saga.
const (
	followStart = 70 * time.Second
	followAll   = 90 * time.Second
)

// await polls the order id until its history holds status (up to a minute) and returns it.
// Tests whose subject is not the order's event stream wait with it rather than with follow.
func (s *shop) await(id, token, status string) orderView {
	s.t.Helper()
	var o orderView
	expect.Within(s.t, time.Minute, func() error {
		if o = s.order(id, token); !slices.Contains(o.statuses(), status) {
			return fmt.Errorf("order %s went %v, not yet %s", id, o.statuses(), status)
		}
		return nil
	})
	return o
}

// mug makes the category "mugs" and in it a 15.00 EUR mug with sku and onHand units, as
// admin, and returns the mug's id.
func (s *shop) mug(admin, sku string, onHand int) string {
	s.t.Helper()
	s.expect(s.do("POST", "/v1/categories", map[string]any{"name": "Mugs", "slug": "mugs"}, admin), 201, "category")
	r := s.do("POST", "/v1/products", map[string]any{"sku": sku, "name": "Mug", "price": map[string]any{"amount": 1500, "currency": "EUR"}, "category_id": "mugs"}, admin)
	s.expect(r, 201, "product")
	s.expect(s.do("PUT", "/v1/inventory/"+sku, map[string]any{"on_hand": onHand}, admin), 200, "stock")
	return r.json(s.t)["id"].(string)
}

// customer registers and logs in a new customer.
func (s *shop) customer(email string) string {
	s.t.Helper()
	s.expect(s.do("POST", "/v1/auth/register", map[string]string{"email": email, "password": "correct horse battery", "name": "Ada"}, ""), 201, "register "+email)
	tok, _ := s.login(email, "correct horse battery")
	return tok
}

var address = map[string]any{"name": "Ada Lovelace", "line1": "1 Main St", "city": "Berlin", "postal_code": "10115", "country": "DE"}

// The README's checkout walk: stock, a coupon, a cart, a paid order followed live, a
// declined one whose stock comes back, a refund, a cancel, and the refusals on the way.
func TestEndToEndCheckout(t *testing.T) {
	s := startShop(t, nil)
	admin, _ := s.login(adminEmail, adminPassword)
	mug := s.mug(admin, "MUG-1", 3)
	expect.Within(t, 10*time.Second, func() error {
		if p := s.do("GET", "/v1/products/"+mug, nil, "").json(t); p["in_stock"] != true {
			return fmt.Errorf("in_stock still %v", p["in_stock"])
		}
		return nil
	})
	s.expect(s.do("POST", "/v1/admin/coupons", map[string]any{"code": "WELCOME10", "kind": "percent", "value": 10}, admin), 201, "coupon")

	tok := s.customer("buyer@example.com")
	s.expectProblem(s.do("POST", "/v1/orders", map[string]any{"shipping_address": address}, tok), 422, "", "empty cart")
	s.expectProblem(s.do("POST", "/v1/cart/items", map[string]any{"product_id": mug, "quantity": 0}, tok), 400, "quantity", "quantity 0")
	s.expectProblem(s.do("POST", "/v1/cart/items", map[string]any{"product_id": "0190c0de-0000-7000-8000-000000000001", "quantity": 1}, tok), 404, "", "unknown product")
	s.expect(s.do("POST", "/v1/cart/items", map[string]any{"product_id": mug, "quantity": 2}, tok), 200, "add to cart")
	s.expectProblem(s.do("PUT", "/v1/cart/coupon", map[string]any{"code": "NOPE"}, tok), 422, "", "unknown coupon")
	cart := s.do("PUT", "/v1/cart/coupon", map[string]any{"code": "welcome10"}, tok)
	s.expect(cart, 200, "apply coupon")
	if c := cart.json(t); c["total"].(map[string]any)["amount"] != 2700.0 || c["discount"].(map[string]any)["amount"] != 300.0 {
		t.Fatalf("cart with 10 %% off 2 × 15.00: %s", cart.body)
	}

	// Check out with pm_card_visa and watch it to paid; the same key gives the same order.
	place := map[string]any{"shipping_address": address, "payment_method": "pm_card_visa"}
	r := s.do("POST", "/v1/orders", place, tok, "Idempotency-Key", "checkout-1")
	s.expect(r, 201, "place order")
	paid := r.json(t)
	if paid["status"] != "pending" || paid["total"].(map[string]any)["amount"] != 2700.0 {
		t.Fatalf("placed order: %s", r.body)
	}
	id := paid["id"].(string)
	if again := s.do("POST", "/v1/orders", place, tok, "Idempotency-Key", "checkout-1").json(t); again["id"] != id {
		t.Fatalf("the same Idempotency-Key made a second order %v", again["id"])
	}
	if items := s.do("GET", "/v1/cart", nil, tok).json(t)["items"].([]any); len(items) != 0 {
		t.Fatalf("the cart still holds %d lines after checkout", len(items))
	}
	if names := s.follow(id, tok, "paid"); !slices.Equal(names, []string{"pending", "reserved", "paid"}) {
		t.Fatalf("the order's events: %v", names)
	}
	if o := s.order(id, tok); !slices.Equal(o.statuses(), []string{"pending", "reserved", "paid"}) || o.Payment == nil || o.Payment.Status != "succeeded" {
		t.Fatalf("paid order: %+v", o)
	}
	expect.Within(t, 10*time.Second, func() error {
		if on, res, av := s.stock("MUG-1", admin); on != 1 || res != 0 || av != 1 {
			return fmt.Errorf("stock after a paid order of 2: on_hand %d reserved %d available %d", on, res, av)
		}
		return nil
	})
	other := s.customer("other@example.com")
	s.expectProblem(s.do("GET", "/v1/orders/"+id, nil, other), 404, "", "another customer's order")

	// Declined: cancelled with payment_failed, and the unit comes back.
	s.expect(s.do("POST", "/v1/cart/items", map[string]any{"product_id": mug, "quantity": 1}, tok), 200, "add again")
	r = s.do("POST", "/v1/orders", map[string]any{"shipping_address": address, "payment_method": "pm_card_chargeDeclined"}, tok)
	s.expect(r, 201, "place a declined order")
	declined := r.json(t)["id"].(string)
	if names := s.follow(declined, tok, "cancelled"); names[len(names)-1] != "cancelled" {
		t.Fatalf("declined order's events: %v", names)
	}
	if o := s.order(declined, tok); o.CancelReason != "payment_failed" {
		t.Fatalf("declined order: %+v", o)
	}
	expect.Within(t, 10*time.Second, func() error {
		if on, res, av := s.stock("MUG-1", admin); on != 1 || res != 0 || av != 1 {
			return fmt.Errorf("stock after a declined order: on_hand %d reserved %d available %d", on, res, av)
		}
		return nil
	})
	s.expectProblem(s.do("POST", "/v1/orders/"+declined+"/payment", map[string]any{"payment_method": "pm_card_visa"}, tok), 409, "", "paying a cancelled order")

	// Refund part, then cancel the paid order: the rest is refunded and the stock returns.
	refund := func(amount any, key string) reply {
		body := map[string]any{}
		if amount != nil {
			body["amount"] = amount
		}
		return s.do("POST", "/v1/admin/orders/"+id+"/refund", body, admin, "Idempotency-Key", key)
	}
	first := refund(500, "refund-1")
	s.expect(first, 200, "partial refund")
	if again := refund(500, "refund-1"); again.json(t)["id"] != first.json(t)["id"] {
		t.Fatalf("the same refund key refunded twice: %s then %s", first.body, again.body)
	}
	s.expectProblem(refund(999999, "refund-2"), 422, "amount", "refund above what was captured")
	s.expectProblem(s.doInvalid("POST", "/v1/admin/orders/"+id+"/refund", map[string]any{}, tok), 403, "", "a customer refunding")
	s.expect(s.do("POST", "/v1/orders/"+id+"/cancel", nil, tok), 200, "cancel the paid order")
	expect.Within(t, 10*time.Second, func() error {
		o := s.order(id, tok)
		if o.Status != "cancelled" || o.CancelReason != "customer" || o.Payment == nil || o.Payment.Refunded.Amount != 2700 {
			return fmt.Errorf("cancelled paid order: %+v", o)
		}
		if on, _, av := s.stock("MUG-1", admin); on != 3 || av != 3 {
			return fmt.Errorf("stock after the cancel: on_hand %d available %d", on, av)
		}
		return nil
	})
	s.expectProblem(s.do("POST", "/v1/webhooks/stripe", `{"id":"evt_1","type":"payment_intent.succeeded"}`, "", "Stripe-Signature", "t=1,v1=bad"), 400, "", "a forged webhook")
	doc := string(s.do("GET", "/openapi.json", nil, "").body)
	for _, path := range []string{"/v1/cart", "/v1/orders/{id}/events", "/v1/inventory/{sku}", "/v1/admin/coupons", "/v1/webhooks/stripe"} {
		if !strings.Contains(doc, `"`+path+`"`) {
			t.Errorf("/openapi.json lacks %s", path)
		}
	}
}
