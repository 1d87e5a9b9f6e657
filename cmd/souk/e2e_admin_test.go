package main

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/souk/souk/internal/expect"
)

// ids returns the ids of a list reply's items, and its next cursor.
func (r reply) ids(t *testing.T) ([]string, string) {
	t.Helper()
	m := r.json(t)
	var out []string
	for _, it := range m["items"].([]any) {
		out = append(out, it.(map[string]any)["id"].(string))
	}
	next, _ := m["next_cursor"].(string)
	return out, next
}

// Staff find work: every order newest first, narrowed by status, by customer (id or email,
// any spelling) and by time; the shipments to pack, oldest first, with the lines and the
// address; the refusals (a customer 403, a bad filter 400 naming it, another filter's cursor
// 400) change nothing. Before issue 14 neither route existed.
func TestEndToEndStaffFindWork(t *testing.T) {
	s := startShop(t, nil)
	admin, _ := s.login(adminEmail, adminPassword)
	mug := s.mug(admin, "MUG-1", 5)
	tok := s.customer("ada@example.com")
	customerID := s.do("GET", "/v1/users/me", nil, tok).json(t)["id"].(string)

	place := func(key, method string) string {
		t.Helper()
		expect.Within(t, 10*time.Second, func() error { // the cart prices from the catalog, which learns the stock from events
			if r := s.do("POST", "/v1/cart/items", map[string]any{"product_id": mug, "quantity": 1}, tok); r.status != 200 {
				return fmt.Errorf("add to cart: %d %s", r.status, r.body)
			}
			return nil
		})
		r := s.do("POST", "/v1/orders", map[string]any{"shipping_address": address, "payment_method": method}, tok, "Idempotency-Key", key)
		s.expect(r, 201, "place order "+key)
		return r.json(t)["id"].(string)
	}
	declined := place("admin-1", "pm_card_chargeDeclined")
	paid := place("admin-2", "pm_card_visa")
	var shipment string
	expect.Within(t, 15*time.Second, func() error { // paid, its shipment made, the declined one cancelled
		o, d := s.order(paid, tok), s.order(declined, tok)
		if o.Status != "fulfilling" || d.Status != "cancelled" {
			return fmt.Errorf("orders not settled: %s %s", o.Status, d.Status)
		}
		r := s.do("GET", "/v1/orders/"+paid+"/shipment", nil, tok)
		s.expect(r, 200, "the paid order's shipment")
		shipment = r.json(t)["id"].(string)
		return nil
	})

	list := func(query string) []string {
		t.Helper()
		r := s.do("GET", "/v1/admin/orders?"+query, nil, admin)
		s.expect(r, 200, "admin orders "+query)
		ids, _ := r.ids(t)
		return ids
	}
	both := []string{paid, declined}
	hour := url.QueryEscape(time.Now().Add(-time.Hour).UTC().Format(time.RFC3339))
	for query, want := range map[string][]string{
		"":                                      both,
		"status=cancelled":                      {declined},
		"status=paid,fulfilling&status=shipped": {paid},
		"status=delivered":                      nil,
		"customer=" + customerID:                both,
		"customer=" + url.QueryEscape(" ADA@example.com"): both,
		"customer=nobody%40example.com":                   nil,
		"from=" + hour + "&customer=" + customerID:        both,
		"to=" + hour: nil,
	} {
		if got := list(query); !slices.Equal(got, want) {
			t.Errorf("GET /v1/admin/orders?%s: %v, want %v", query, got, want)
		}
	}
	r := s.do("GET", "/v1/admin/orders?limit=1", nil, admin)
	first, next := r.ids(t)
	if !slices.Equal(first, []string{paid}) || next == "" {
		t.Fatalf("the first page of one: %s", r.body)
	}
	if second, last := s.do("GET", "/v1/admin/orders?limit=1&cursor="+next, nil, admin).ids(t); !slices.Equal(second, []string{declined}) || last != "" {
		t.Fatalf("the second page of one: %v %q", second, last)
	}
	s.expectProblem(s.do("GET", "/v1/admin/orders?limit=1&status=cancelled&cursor="+next, nil, admin), 400, "cursor", "another filter's cursor")
	s.expectProblem(s.do("GET", "/v1/admin/orders", nil, tok), 403, "", "a customer listing every order")
	for query, field := range map[string]string{"status=lost": "status", "customer=ada": "customer", "from=yesterday": "from"} {
		s.expectProblem(s.do("GET", "/v1/admin/orders?"+query, nil, admin), 400, field, "GET /v1/admin/orders?"+query)
	}

	r = s.do("GET", "/v1/admin/shipments", nil, admin)
	s.expect(r, 200, "shipments to pack")
	items := r.json(t)["items"].([]any)
	if len(items) != 1 {
		t.Fatalf("shipments to pack: %s", r.body)
	}
	sh := items[0].(map[string]any)
	addr, _ := sh["shipping_address"].(map[string]any)
	if sh["id"] != shipment || sh["order_id"] != paid || sh["status"] != "pending" || len(sh["lines"].([]any)) != 1 || addr["city"] != "Berlin" {
		t.Fatalf("a shipment to pack: %v", sh)
	}
	s.expectProblem(s.do("GET", "/v1/admin/shipments", nil, tok), 403, "", "a customer listing shipments")
	s.expectProblem(s.do("GET", "/v1/admin/shipments?status=lost", nil, admin), 400, "status", "an unknown shipment status")
	s.expect(s.do("POST", "/v1/admin/shipments/"+shipment+"/status", map[string]any{"status": "packed"}, admin), 200, "packed")
	if ids, _ := s.do("GET", "/v1/admin/shipments", nil, admin).ids(t); len(ids) != 0 {
		t.Fatalf("a packed shipment is still to pack: %v", ids)
	}
	if ids, _ := s.do("GET", "/v1/admin/shipments?status=packed,pending", nil, admin).ids(t); !slices.Equal(ids, []string{shipment}) {
		t.Fatalf("packed or pending: %v", ids)
	}

	doc := string(s.do("GET", "/openapi.json", nil, "").body)
	for _, path := range []string{`"/v1/admin/orders"`, `"/v1/admin/shipments"`} {
		if !strings.Contains(doc, path) {
			t.Errorf("/openapi.json lacks %s", path)
		}
	}
}
