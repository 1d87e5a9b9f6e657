package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/souk/souk/internal/expect"
)

type page struct {
	Items []struct {
		ID         string            `json:"id"`
		SKU        string            `json:"sku"`
		Name       string            `json:"name"`
		CategoryID string            `json:"category_id"`
		Attributes map[string]string `json:"attributes"`
		Price      struct {
			Amount   int64  `json:"amount"`
			Currency string `json:"currency"`
		} `json:"price"`
	} `json:"items"`
	NextCursor string `json:"next_cursor"`
	Facets     struct {
		Total      int `json:"total"`
		Categories []struct {
			Path  string `json:"path"`
			Count int    `json:"count"`
		} `json:"categories"`
	} `json:"facets"`
}

func (r reply) page(t *testing.T) page {
	t.Helper()
	var p page
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatalf("not a page: %d %s", r.status, r.body)
	}
	return p
}

// The README's catalog walk: `souk seed`, then a shopper's search with a typo and a price
// bound, a product in German, and staff editing the catalog through the HTTP API.
func TestEndToEndCatalog(t *testing.T) {
	s := startShop(t, nil)
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if code := cli(ctx, []string{"seed", "-products", "600"}, func(k string) string { return s.env[k] }, &out, io.Discard); code != 0 {
		t.Fatalf("souk seed exited %d: %s", code, out.String())
	}
	if !strings.Contains(out.String(), "600 products created") {
		t.Fatalf("souk seed said: %s", out.String())
	}

	// The shopper's search: the running shop learns of the seeded products from the outbox.
	var hits page
	expect.Within(t, 20*time.Second, func() error {
		r := s.do("GET", "/v1/products?q=heaphones&max_price=10000", nil, "")
		if r.status != 200 {
			return fmt.Errorf("search: %d %s", r.status, r.body)
		}
		hits = r.page(t)
		if len(hits.Items) == 0 {
			return fmt.Errorf("no hits yet")
		}
		return nil
	})
	for _, it := range hits.Items {
		if it.Price.Amount > 10000 || it.Price.Currency != "EUR" {
			t.Fatalf("max_price=10000 let through %s at %d %s", it.SKU, it.Price.Amount, it.Price.Currency)
		}
	}
	if !strings.Contains(hits.Items[0].Name, "Headphones") {
		t.Fatalf("the best match for heaphones is %q", hits.Items[0].Name)
	}
	first := hits.Items[0]
	de := s.do("GET", "/v1/products/"+first.ID, nil, "", "Accept-Language", "de-DE,de;q=0.9")
	s.expect(de, 200, "product in German")
	if m := de.json(t); m["locale"] != "de" || !strings.Contains(m["name"].(string), "Kopfhörer") {
		t.Fatalf("product in German: %s", de.body)
	}
	r := s.do("GET", "/v1/products?category=electronics/audio&attr.color=black&sort=price_asc&limit=5", nil, "")
	s.expect(r, 200, "browse a category with a filter")
	if p := r.page(t); len(p.Items) == 0 || p.NextCursor == "" || p.Facets.Total < len(p.Items) {
		t.Fatalf("browse: %s", r.body)
	}
	s.expectProblem(s.do("GET", "/v1/products?attr.flavour=mint", nil, ""), 400, "attr.flavour", "unknown attribute")
	s.expectProblem(s.doInvalid("GET", "/v1/products?max_price=99.99", nil, ""), 400, "max_price", "fractional price bound")
	s.expectProblem(s.do("GET", "/v1/products?cursor=forged", nil, ""), 400, "cursor", "forged cursor")
	s.expectProblem(s.doInvalid("GET", "/v1/products?limit=500", nil, ""), 400, "limit", "limit out of range")
	s.expectProblem(s.do("GET", "/v1/products/not-a-product", nil, ""), 404, "", "unknown product")

	// Staff edit the catalog; bad input is named and changes nothing.
	admin, _ := s.login(adminEmail, adminPassword)
	s.expectProblem(s.doInvalid("POST", "/v1/categories", map[string]any{"name": "Gadgets", "slug": "gadgets"}, ""), 401, "", "anonymous category")
	s.expect(s.do("POST", "/v1/categories", map[string]any{"name": "Gadgets", "slug": "gadgets", "translations": map[string]any{"de": map[string]string{"name": "Spielereien"}}}, admin), 201, "create category")
	product := map[string]any{"sku": "GAD-1", "name": "Pocket Gadget", "price": map[string]any{"amount": 1999, "currency": "EUR"}, "category_id": "gadgets"}
	created := s.do("POST", "/v1/products", product, admin)
	s.expect(created, 201, "create product")
	id := created.json(t)["id"].(string)
	s.expectProblem(s.do("POST", "/v1/products", product, admin), 409, "sku", "duplicate SKU")
	s.expectProblem(s.doInvalid("POST", "/v1/products", `{"sku":"GAD-2","name":"X","price":{"amount":19.99,"currency":"EUR"},"category_id":"gadgets"}`, admin), 400, "price.amount", "fractional price")
	s.expectProblem(s.do("POST", "/v1/products", map[string]any{"sku": "GAD-2", "name": "X", "price": map[string]any{"amount": 100, "currency": "EUR"}, "category_id": "nowhere"}, admin), 400, "category_id", "unknown category")
	s.expectProblem(s.do("PATCH", "/v1/products/"+id, map[string]any{"price": map[string]any{"amount": -1, "currency": "EUR"}}, admin), 400, "price.amount", "negative price")
	s.expect(s.do("PATCH", "/v1/products/"+id, map[string]any{"price": map[string]any{"amount": 2499, "currency": "EUR"}}, admin), 200, "price change")
	if got := s.do("GET", "/v1/products/"+id, nil, "").json(t)["price"].(map[string]any)["amount"]; got != 2499.0 {
		t.Fatalf("the next read after a price change shows %v", got)
	}
	s.expectProblem(s.do("POST", "/v1/products/"+id+"/reviews", map[string]any{"rating": 5, "title": "Mine"}, admin), 403, "", "review without a purchase")
	s.expect(s.do("DELETE", "/v1/products/"+id, nil, admin), 204, "delete")
	s.expectProblem(s.do("GET", "/v1/products/"+id, nil, ""), 404, "", "deleted product")

	tree := s.do("GET", "/v1/categories", nil, "", "Accept-Language", "de")
	s.expect(tree, 200, "category tree")
	if !strings.Contains(string(tree.body), "Spielereien") || !strings.Contains(string(tree.body), "Kopfhörer") {
		t.Fatalf("the tree in German lacks names: %.300s", tree.body)
	}
	doc := s.do("GET", "/openapi.json", nil, "")
	for _, path := range []string{"/v1/products", "/v1/products/{id}", "/v1/categories", "/v1/products/{id}/reviews"} {
		if !strings.Contains(string(doc.body), `"`+path+`"`) {
			t.Errorf("/openapi.json lacks %s", path)
		}
	}
	m := s.do("GET", "/metrics", nil, "")
	for _, series := range []string{`souk_cache_hit_ratio{cache="product"}`, `souk_cache_cost_bytes{cache="search"}`} {
		if !strings.Contains(string(m.body), series) {
			t.Errorf("/metrics lacks %s", series)
		}
	}
}
