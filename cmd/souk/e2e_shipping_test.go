package main

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/souk/souk/internal/expect"
)

// The README's "Ship it": a paid order gets a shipment, staff move it forward to delivered,
// and the order follows, live on its event stream, ending delivered; the customer's
// notification list shows every email she was sent, in German. The refusals on the
// way change nothing. (Another customer's shipment is 404: services/shipping tests it, and
// a second customer here would cost two bcrypt rounds under -race.)
func TestEndToEndShipping(t *testing.T) {
	s := startShop(t, nil)
	admin, _ := s.login(adminEmail, adminPassword)
	mug := s.mug(admin, "MUG-1", 3)

	reg := map[string]string{"email": "kundin@example.com", "password": "correct horse battery", "name": "Käthe", "locale": "de-AT"}
	s.expect(s.do("POST", "/v1/auth/register", reg, ""), 201, "register")
	tok, _ := s.login(reg["email"], reg["password"])
	expect.Within(t, 10*time.Second, func() error { // the cart prices from the catalog, which learns the stock from events
		if r := s.do("POST", "/v1/cart/items", map[string]any{"product_id": mug, "quantity": 1}, tok); r.status != 200 {
			return fmt.Errorf("add to cart: %d %s", r.status, r.body)
		}
		return nil
	})
	r := s.do("POST", "/v1/orders", map[string]any{"shipping_address": address, "payment_method": "pm_card_visa"}, tok, "Idempotency-Key", "ship-1")
	s.expect(r, 201, "place order")
	id := r.json(t)["id"].(string)

	var shipment map[string]any
	expect.Within(t, 15*time.Second, func() error {
		r := s.do("GET", "/v1/orders/"+id+"/shipment", nil, tok)
		if r.status != 200 {
			return fmt.Errorf("shipment: %d %s", r.status, r.body)
		}
		shipment = r.json(t)
		return nil
	})
	if shipment["status"] != "pending" || shipment["carrier"] != "manual" || shipment["tracking_number"] != "" || len(shipment["history"].([]any)) != 1 {
		t.Fatalf("a new shipment: %v", shipment)
	}
	status := "/v1/admin/shipments/" + shipment["id"].(string) + "/status"
	s.expectProblem(s.do("POST", status, map[string]any{"status": "packed"}, tok), 403, "", "a customer moving a shipment")

	s.expect(s.do("POST", status, map[string]any{"status": "packed"}, admin), 200, "packed")
	s.expectProblem(s.do("POST", status, map[string]any{"status": "pending"}, admin), 409, "", "a move backwards")
	s.expectProblem(s.do("POST", status, map[string]any{"status": "shipped"}, admin), 400, "tracking_number", "shipped without a tracking number")
	s.expectProblem(s.doInvalid("POST", status, map[string]any{"status": "lost"}, admin), 400, "status", "an unknown status")
	s.expect(s.do("POST", status, map[string]any{"status": "shipped", "tracking_number": "00340434161094042557", "carrier": "dhl"}, admin), 200, "shipped")
	s.expectProblem(s.do("POST", "/v1/orders/"+id+"/cancel", nil, tok), 409, "", "cancelling a shipped order")
	s.expect(s.do("POST", status, map[string]any{"status": "in_transit"}, admin), 200, "in transit")
	s.expect(s.do("POST", status, map[string]any{"status": "delivered"}, admin), 200, "delivered")

	want := []string{"pending", "reserved", "paid", "fulfilling", "shipped", "delivered"}
	if names := s.follow(id, tok, "delivered"); !slices.Equal(names, want) {
		t.Fatalf("the order's events: %v, want %v", names, want)
	}
	r = s.do("GET", "/v1/orders/"+id, nil, tok)
	s.expect(r, 200, "get order")
	o := r.json(t)
	sh, _ := o["shipment"].(map[string]any)
	if o["status"] != "delivered" || sh == nil || sh["status"] != "delivered" || sh["tracking_number"] != "00340434161094042557" || sh["carrier"] != "dhl" {
		t.Fatalf("the delivered order: %s", r.body)
	}
	if got := s.order(id, tok).statuses(); !slices.Equal(got, want) {
		t.Fatalf("the order's history: %v", got)
	}
	got := s.do("GET", "/v1/orders/"+id+"/shipment", nil, admin).json(t)
	var moves []string
	for _, h := range got["history"].([]any) {
		moves = append(moves, h.(map[string]any)["status"].(string))
	}
	if !slices.Equal(moves, []string{"pending", "packed", "shipped", "in_transit", "delivered"}) {
		t.Fatalf("the shipment's history: %v", moves)
	}
	// Every message the customer was sent, in her language (the log channel sends them here).
	expect.Within(t, 15*time.Second, func() error {
		r := s.do("GET", "/v1/users/me/notifications", nil, tok)
		var sent []string
		for _, n := range r.json(t)["items"].([]any) {
			n := n.(map[string]any)
			if n["status"] != "sent" || n["channel"] != "email" || n["lang"] != "de" || n["subject"] == "" {
				return fmt.Errorf("a notification not sent in German: %v", n)
			}
			sent = append(sent, n["template"].(string))
		}
		if want := []string{"delivered", "shipped", "order_confirmation", "verify_email"}; !slices.Equal(sent, want) {
			return fmt.Errorf("notifications %v, want %v (newest first)", sent, want)
		}
		return nil
	})
	doc := string(s.do("GET", "/openapi.json", nil, "").body)
	for _, path := range []string{"/v1/orders/{id}/shipment", "/v1/admin/shipments/{id}/status"} {
		if !strings.Contains(doc, `"`+path+`"`) {
			t.Errorf("/openapi.json lacks %s", path)
		}
	}
}
