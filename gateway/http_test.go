package gateway_test

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"

	"github.com/souk/souk/gateway"
	"github.com/souk/souk/nats/natstest"
)

func TestUnknownRouteIsProblemWithRequestID(t *testing.T) {
	h := newHarness(t, gateway.Config{})
	r := h.do("GET", "/v1/nope", nil)
	p := r.problem(t, 404)
	if p.Type != gateway.ProblemBase+"not_found" || p.Instance != "/v1/nope" || p.Detail == "" {
		t.Fatalf("problem %+v", p)
	}
	if len(p.RequestID) < 10 {
		t.Fatalf("generated request id %q", p.RequestID)
	}
	other := h.do("GET", "/v1/nope", nil).problem(t, 404)
	if other.RequestID == p.RequestID {
		t.Fatal("two requests got the same generated id")
	}
	logs := h.logs.String()
	if !strings.Contains(logs, `"request_id":"`+p.RequestID+`"`) || !strings.Contains(logs, `"route":"unmatched"`) {
		t.Fatalf("access log lacks the request id or route: %s", logs)
	}
}

func TestRequestIDIsEchoedWhenSane(t *testing.T) {
	h := newHarness(t, gateway.Config{})
	r := h.do("GET", "/healthz", nil, "X-Request-Id", "abc-DEF_1.2")
	if got := r.header.Get("X-Request-Id"); got != "abc-DEF_1.2" {
		t.Fatalf("echoed %q", got)
	}
	for _, bad := range []string{"has space", "semi;colon", strings.Repeat("a", 65), "ünï"} {
		got := h.do("GET", "/healthz", nil, "X-Request-Id", bad).header.Get("X-Request-Id")
		if got == bad || got == "" {
			t.Fatalf("insane id %q answered with %q", bad, got)
		}
	}
}

func TestWrongMethodIs405(t *testing.T) {
	h := newHarness(t, gateway.Config{})
	p := h.do("DELETE", "/v1/users/me", nil).problem(t, 405)
	if p.Type != gateway.ProblemBase+"method_not_allowed" {
		t.Fatalf("type %q", p.Type)
	}
}

func TestUnknownMethodIsProblem(t *testing.T) {
	h := newHarness(t, gateway.Config{})
	h.do("BREW", "/v1/users/me", nil).problem(t, 405)
}

func TestBodyProblems(t *testing.T) {
	h := newHarness(t, gateway.Config{})
	tok := h.token("u1", "customer")
	cases := []struct {
		name, method, path, ctype string
		body                      string
		status                    int
		field                     string
		token                     string
	}{
		{"empty body", "POST", "/v1/auth/register", "application/json", "", 400, "", ""},
		{"blank body", "POST", "/v1/auth/register", "application/json", "  \n", 400, "", ""},
		{"malformed", "POST", "/v1/auth/register", "application/json", `{"email": "a@b", "password": `, 400, "", ""},
		{"not an object", "POST", "/v1/auth/register", "application/json", `[1,2]`, 400, "", ""},
		{"wrong type", "POST", "/v1/auth/register", "application/json", `{"email": 42}`, 400, "email", ""},
		{"wrong nested type", "PATCH", "/v1/users/me", "application/json", `{"addresses": [{"country": 1}]}`, 400, "addresses.country", tok},
		{"text body", "POST", "/v1/auth/login", "text/plain", `{"email":"a@b"}`, 415, "", ""},
		{"form body", "POST", "/v1/auth/login", "application/x-www-form-urlencoded", `email=a`, 415, "", ""},
		{"json with charset", "POST", "/v1/auth/login", "application/json; charset=utf-8", `{"email": true}`, 400, "email", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			headers := []string{"Content-Type", tc.ctype}
			if tc.token != "" {
				headers = append(headers, "Authorization", "Bearer "+tc.token)
			}
			p := h.do(tc.method, tc.path, tc.body, headers...).problem(t, tc.status)
			if tc.field != "" && !hasField(p, tc.field) {
				t.Fatalf("problem does not name %q: %+v", tc.field, p)
			}
		})
	}
}

func TestCompressedBodyIsRefused(t *testing.T) {
	h := newHarness(t, gateway.Config{})
	h.do("POST", "/v1/auth/login", "\x1f\x8b garbage", "Content-Encoding", "gzip").problem(t, 415)
}

func TestOversizedBodyIs413ProblemJSON(t *testing.T) {
	h := newHarness(t, gateway.Config{BodyLimit: 1024})
	// Fiber refuses the body in the server, before any middleware (app.Test only reports the
	// server's error), so this goes through a real listener: the answer must be problem+json.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = h.g.Serve(ln) }()
	t.Cleanup(func() { _ = h.g.App().Shutdown() })
	res, err := http.Post("http://"+ln.Addr().String()+"/v1/auth/register", "application/json", bytes.NewReader(bytes.Repeat([]byte("a"), 2<<20)))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	p := response{status: res.StatusCode, header: res.Header, body: b}.problem(t, 413)
	if p.Type != gateway.ProblemBase+"body_too_large" || res.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("413: %s %v", b, res.Header)
	}
	if !strings.Contains(h.logs.String(), `"status":413`) {
		t.Fatalf("the 413 was not logged: %s", h.logs.String())
	}
}

func TestSecurityHeaders(t *testing.T) {
	h := newHarness(t, gateway.Config{})
	for _, r := range []response{h.do("GET", "/healthz", nil), h.do("GET", "/v1/nope", nil), h.do("GET", "/v1/users/me", nil)} {
		for k, v := range map[string]string{
			"X-Content-Type-Options":    "nosniff",
			"X-Frame-Options":           "DENY",
			"Referrer-Policy":           "no-referrer",
			"Content-Security-Policy":   "default-src 'none'; frame-ancestors 'none'",
			"Strict-Transport-Security": "max-age=63072000; includeSubDomains",
			"Cache-Control":             "no-store",
		} {
			if got := r.header.Get(k); got != v {
				t.Errorf("status %d: %s = %q, want %q", r.status, k, got, v)
			}
		}
	}
}

func TestCORSAllowlist(t *testing.T) {
	h := newHarness(t, gateway.Config{CORSOrigins: []string{"https://shop.example"}})
	r := h.do("GET", "/healthz", nil, "Origin", "https://shop.example")
	if got := r.header.Get("Access-Control-Allow-Origin"); got != "https://shop.example" {
		t.Fatalf("allowed origin: ACAO %q", got)
	}
	if r.header.Get("Access-Control-Allow-Credentials") != "" {
		t.Fatal("credentials allowed; tokens travel in headers, not cookies")
	}
	r = h.do("GET", "/healthz", nil, "Origin", "https://evil.example")
	if got := r.header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Fatalf("foreign origin: ACAO %q", got)
	}
	r = h.do("OPTIONS", "/v1/users/me", nil, "Origin", "https://shop.example", "Access-Control-Request-Method", "PATCH",
		"Access-Control-Request-Headers", "authorization,content-type")
	if r.status != 204 || r.header.Get("Access-Control-Allow-Origin") != "https://shop.example" ||
		!strings.Contains(r.header.Get("Access-Control-Allow-Methods"), "PATCH") ||
		!strings.Contains(strings.ToLower(r.header.Get("Access-Control-Allow-Headers")), "authorization") {
		t.Fatalf("preflight: %d %v", r.status, r.header)
	}

	none := newHarness(t, gateway.Config{})
	if got := none.do("GET", "/healthz", nil, "Origin", "https://shop.example").header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Fatalf("no allowlist: ACAO %q", got)
	}
}

func TestCORSConfigIsChecked(t *testing.T) {
	for _, bad := range [][]string{{"*"}, {"shop.example"}, {"https://*.example"}, {"https://shop.example/path"}} {
		_, nc := natstest.Server(t)
		_, err := gateway.New(gateway.Config{CORSOrigins: bad}, depsFor(nc))
		if err == nil {
			t.Errorf("origins %q accepted", bad)
		}
	}
}

func TestPanicIs500Problem(t *testing.T) {
	h := newHarness(t, gateway.Config{})
	h.g.App().Get("/boom", func(*fiber.Ctx) error { panic("secret detail") })
	p := h.do("GET", "/boom", nil).problem(t, 500)
	if p.Detail != "internal error" || strings.Contains(p.Detail, "secret") {
		t.Fatalf("detail %q", p.Detail)
	}
	if !strings.Contains(h.logs.String(), "secret detail") {
		t.Fatal("the panic was not logged")
	}
	h.do("GET", "/healthz", nil) // and the gateway still serves
}
