package gateway_test

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/souk/souk/gateway"
)

// GET /docs is an HTML page with its own headers whose assets are served from the gateway,
// cached for good under a versioned path; the route is in the document as text/html.
func TestDocsPageAndAssets(t *testing.T) {
	h := newHarness(t, gateway.Config{})
	page := h.do("GET", "/docs", nil)
	want := map[string]string{
		"Content-Type":            "text/html; charset=utf-8",
		"Content-Security-Policy": gateway.DocsCSP,
		"Cache-Control":           "no-cache",
		"X-Content-Type-Options":  "nosniff",
	}
	if page.status != 200 {
		t.Fatalf("GET /docs: %d %s", page.status, page.body)
	}
	for k, v := range want {
		if got := page.header.Get(k); got != v {
			t.Errorf("GET /docs %s: %q, want %q", k, got, v)
		}
	}
	// Everything the page names is on the gateway: an absolute path, or a data: URL.
	for _, m := range regexp.MustCompile(`(?:src|href)="([^"]*)"`).FindAllStringSubmatch(string(page.body), -1) {
		if !strings.HasPrefix(m[1], "/") && !strings.HasPrefix(m[1], "data:") || strings.HasPrefix(m[1], "//") {
			t.Errorf("the page loads %q", m[1])
		}
	}
	assets := map[string]string{"swagger-ui-bundle.js": "text/javascript; charset=utf-8",
		"swagger-ui.css": "text/css; charset=utf-8", "docs.js": "text/javascript; charset=utf-8"}
	for name, media := range assets {
		path := gateway.DocsAssetPath(name)
		if !strings.Contains(string(page.body), `"`+path+`"`) {
			t.Errorf("the page does not load %s", path)
		}
		r := h.do("GET", path, nil)
		if r.status != 200 || len(r.body) == 0 || r.header.Get("Content-Type") != media ||
			r.header.Get("Cache-Control") != "public, max-age=31536000, immutable" {
			t.Errorf("GET %s: %d, %d bytes, %v", path, r.status, len(r.body), r.header)
		}
	}
	stale := h.do("GET", "/docs/assets/0123456789abcdef/docs.js", nil)
	stale.problem(t, 404)

	var doc struct {
		Paths map[string]map[string]struct {
			Responses map[string]struct {
				Content map[string]json.RawMessage `json:"content"`
			} `json:"responses"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(h.do("GET", "/openapi.json", nil).body, &doc); err != nil {
		t.Fatal(err)
	}
	if _, ok := doc.Paths["/docs"]["get"].Responses["200"].Content["text/html"]; !ok {
		t.Errorf("GET /docs is not in the document as text/html: %+v", doc.Paths["/docs"])
	}
}
