package gateway_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/souk/souk/gateway"
	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/nats/natstest"
)

func TestHealthz(t *testing.T) {
	h := newHarness(t, gateway.Config{})
	r := h.do("GET", "/healthz", nil)
	if r.status != 200 || string(r.body) != `{"status":"ok"}` {
		t.Fatalf("%d %s", r.status, r.body)
	}
}

func TestReadyzWaitsForEveryService(t *testing.T) {
	h := newHarness(t, gateway.Config{}, "user", "auth")
	r := h.do("GET", "/readyz", nil)
	p := r.problem(t, 503)
	if !slices.Equal(p.Missing, []string{"user", "auth"}) || r.header.Get("Retry-After") == "" {
		t.Fatalf("not ready: %s %v", r.body, r.header)
	}
	serve(t, h.nc, "user", "", nil)
	if p := h.do("GET", "/readyz", nil).problem(t, 503); !slices.Equal(p.Missing, []string{"auth"}) {
		t.Fatalf("missing %v", p.Missing)
	}
	serve(t, h.nc, "auth", "", nil)
	if r := h.do("GET", "/readyz", nil); r.status != 200 {
		t.Fatalf("ready: %d %s", r.status, r.body)
	}
}

func TestReadyzWithoutNATS(t *testing.T) {
	h := newHarness(t, gateway.Config{})
	h.nc.Close()
	if p := h.do("GET", "/readyz", nil).problem(t, 503); !slices.Equal(p.Missing, []string{"nats"}) {
		t.Fatalf("missing %v", p.Missing)
	}
}

func TestMetricsByRouteTemplate(t *testing.T) {
	h := newHarness(t, gateway.Config{})
	h.do("GET", "/healthz", nil)
	h.do("GET", "/v1/no/such/thing", nil)
	h.do("PUT", "/v1/admin/users/0190abc/roles", nil)
	r := h.do("GET", "/metrics", nil)
	if r.status != 200 {
		t.Fatalf("%d", r.status)
	}
	body := string(r.body)
	for _, want := range []string{
		`souk_http_requests_total{code="200",method="GET",route="/healthz"} 1`,
		`souk_http_requests_total{code="404",method="GET",route="unmatched"} 1`,
		`souk_http_requests_total{code="401",method="PUT",route="/v1/admin/users/:id/roles"} 1`,
		`souk_http_request_duration_seconds_bucket{method="GET",route="/healthz"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(body, "/v1/no/such/thing") || strings.Contains(body, "0190abc") {
		t.Error("a raw URL became a label")
	}
}

func TestRunServesAndShutsDown(t *testing.T) {
	_, nc := natstest.Server(t)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	if err := gateway.Run(context.Background(), gateway.Config{Addr: taken.Addr().String()}, depsFor(nc)); err == nil {
		t.Fatal("Run on a taken address did not fail")
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- gateway.Run(ctx, gateway.Config{Addr: "127.0.0.1:0"}, depsFor(nc)) }()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}

func TestOpenAPIDescribesEveryServedRoute(t *testing.T) {
	h := newHarness(t, gateway.Config{})
	r := h.do("GET", "/openapi.json", nil)
	if r.status != 200 {
		t.Fatalf("%d", r.status)
	}
	var doc struct {
		OpenAPI    string                               `json:"openapi"`
		Paths      map[string]map[string]map[string]any `json:"paths"`
		Components struct {
			Schemas         map[string]any `json:"schemas"`
			SecuritySchemes map[string]any `json:"securitySchemes"`
		} `json:"components"`
	}
	if err := json.Unmarshal(r.body, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI != "3.1.0" || doc.Components.SecuritySchemes["bearer"] == nil || doc.Components.Schemas["Problem"] == nil {
		t.Fatalf("document head: %s %v", doc.OpenAPI, doc.Components.SecuritySchemes)
	}
	served := map[string]bool{}
	for _, rt := range h.g.App().GetRoutes(true) {
		if rt.Method == "HEAD" {
			continue
		}
		served[rt.Method+" "+gateway.OpenAPIPath(rt.Path)] = true
	}
	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		for method, op := range ops {
			documented[strings.ToUpper(method)+" "+path] = true
			res, _ := op["responses"].(map[string]any)
			if len(res) == 0 || op["summary"] == "" {
				t.Errorf("%s %s: no responses or summary", method, path)
			}
		}
	}
	for k := range served {
		if !documented[k] {
			t.Errorf("served but not documented: %s", k)
		}
	}
	for k := range documented {
		if !served[k] {
			t.Errorf("documented but not served: %s", k)
		}
	}
	if len(served) < 14 {
		t.Fatalf("only %d routes served", len(served))
	}
	login := doc.Paths["/v1/auth/login"]["post"]
	if login["requestBody"] == nil {
		t.Error("login has no request body")
	}
	roles := doc.Paths["/v1/admin/users/{id}/roles"]["put"]
	if roles["security"] == nil || roles["parameters"] == nil {
		t.Error("set roles lacks security or its path parameter")
	}
}

// A connection that a client opened and sent nothing on (a browser's preconnect, a pool's
// spare) does not hold the shutdown: fasthttp counts it as a request being read, so without
// closing it the shutdown waited for its read timeout, and failed past ShutdownTimeout.
func TestRunShutsDownPastAnUnusedConnection(t *testing.T) {
	_, nc := natstest.Server(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- gateway.Run(ctx, gateway.Config{Addr: addr, ReadTimeout: time.Minute}, depsFor(nc))
	}()
	healthz := func() error {
		res, err := http.Get("http://" + addr + "/healthz")
		if err != nil {
			return err
		}
		return res.Body.Close()
	}
	expect.Within(t, 10*time.Second, healthz)
	unused, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer unused.Close()
	// The server accepts in order: once a later connection is answered, it holds this one.
	http.DefaultClient.CloseIdleConnections()
	if err := healthz(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		if took := time.Since(start); took > gateway.ShutdownTimeout/2 {
			t.Fatalf("shutdown took %s", took)
		}
	case <-time.After(2 * gateway.ShutdownTimeout):
		t.Fatal("Run did not return after its context ended")
	}
	_ = unused.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := unused.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal("the unused connection is still open")
	}
}
