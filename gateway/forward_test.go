package gateway_test

import (
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/souk/souk/gateway"
	"github.com/souk/souk/subjects"
)

func TestRBACBeforeTheService(t *testing.T) {
	h := newHarness(t, gateway.Config{})
	var calls atomic.Int32
	serve(t, h.nc, "user", subjects.UserList.Subject, func(req micro.Request) {
		calls.Add(1)
		_ = req.Respond([]byte(`{"items":[]}`))
	})
	r := h.do("GET", "/v1/admin/users", nil)
	r.problem(t, 401)
	if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
		t.Fatalf("401 without WWW-Authenticate: %v", r.header)
	}
	h.do("GET", "/v1/admin/users", nil, "Authorization", "Bearer not.a.token").problem(t, 401)
	h.do("GET", "/v1/admin/users", nil, "Authorization", "Basic dXNlcjpwYXNz").problem(t, 401)
	h.do("GET", "/v1/admin/users", nil, "Authorization", "Bearer "+h.token("u1", "customer")+"x").problem(t, 401)
	h.do("GET", "/v1/admin/users", nil, "Authorization", "Bearer "+h.token("u1", "customer", "staff")).problem(t, 403)
	if n := calls.Load(); n != 0 {
		t.Fatalf("the service was asked %d times for refused callers", n)
	}
	r = h.do("GET", "/v1/admin/users", nil, "Authorization", "Bearer "+h.token("a1", "admin"))
	if r.status != 200 || string(r.body) != `{"items":[]}` || calls.Load() != 1 {
		t.Fatalf("admin: %d %s (calls %d)", r.status, r.body, calls.Load())
	}
	if r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("authenticated answer cacheable: %q", r.header.Get("Cache-Control"))
	}
}

func TestReplyPassesThroughWithMeta(t *testing.T) {
	h := newHarness(t, gateway.Config{})
	const reply = `{"id":"u1",  "email":"ada@example.com", "extra_field_from_a_newer_service": [1, 2]}`
	got := make(chan nats.Header, 1)
	serve(t, h.nc, "user", subjects.UserMe.Subject, func(req micro.Request) {
		got <- nats.Header(req.Headers())
		_ = req.Respond([]byte(reply))
	})
	tok := h.token("u1", "customer")
	r := h.do("GET", "/v1/users/me", nil, "Authorization", "Bearer "+tok, "X-Request-Id", "rid-1")
	if r.status != 200 || string(r.body) != reply || r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("got %d %q %s", r.status, r.header.Get("Content-Type"), r.body)
	}
	hdr := <-got
	if hdr.Get(subjects.HeaderAuthorization) != "Bearer "+tok || hdr.Get(subjects.HeaderRequestID) != "rid-1" || hdr.Get(subjects.HeaderDeadline) == "" {
		t.Fatalf("metadata not passed on: %v", hdr)
	}
	if strings.Contains(h.logs.String(), tok) {
		t.Fatal("the token appears in the log")
	}
}

func TestRequestsAreBuiltFromPathQueryAndBody(t *testing.T) {
	h := newHarness(t, gateway.Config{})
	admin := "Bearer " + h.token("a1", "admin")
	bodies := make(chan string, 4)
	svc, err := micro.AddService(h.nc, micro.Config{Name: "user", Version: "0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Stop() })
	echo := micro.HandlerFunc(func(req micro.Request) {
		bodies <- string(req.Data())
		_ = req.Respond([]byte(`{}`))
	})
	for _, s := range []string{subjects.UserList.Subject, subjects.UserSetRoles.Subject, subjects.UserRegister.Subject} {
		if err := svc.AddEndpoint(strings.ReplaceAll(s, ".", "_"), echo, micro.WithEndpointSubject(s)); err != nil {
			t.Fatal(err)
		}
	}

	h.do("GET", "/v1/admin/users?limit=abc", nil, "Authorization", admin).problem(t, 400)
	if r := h.do("GET", "/v1/admin/users?limit=5&cursor=c1", nil, "Authorization", admin); r.status != 200 {
		t.Fatalf("list: %d %s", r.status, r.body)
	}
	expectJSON(t, <-bodies, `{"limit":5,"cursor":"c1"}`)

	if r := h.do("PUT", "/v1/admin/users/u7/roles", map[string]any{"roles": []string{"staff"}, "id": "forged"}, "Authorization", admin); r.status != 200 {
		t.Fatalf("set roles: %d %s", r.status, r.body)
	}
	expectJSON(t, <-bodies, `{"id":"u7","roles":["staff"]}`)

	r := h.do("POST", "/v1/auth/register", map[string]any{"email": "a@b.c", "password": "pw", "name": "A", "unknown": 1})
	if r.status != 201 {
		t.Fatalf("register: %d %s", r.status, r.body)
	}
	expectJSON(t, <-bodies, `{"email":"a@b.c","password":"pw","name":"A"}`)
	if strings.Contains(h.logs.String(), `"pw"`) {
		t.Fatal("the password appears in the log")
	}
}

func expectJSON(t *testing.T, got, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Fatalf("service got %q: %v", got, err)
	}
	_ = json.Unmarshal([]byte(want), &w)
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	if string(gb) != string(wb) {
		t.Fatalf("service got %s, want %s", gb, wb)
	}
}

func TestEmptyReplyIs204(t *testing.T) {
	h := newHarness(t, gateway.Config{})
	serve(t, h.nc, "user", subjects.UserVerifyEmail.Subject, func(req micro.Request) { _ = req.Respond([]byte(`{}`)) })
	r := h.do("POST", "/v1/auth/verify-email", map[string]string{"token": "t"})
	if r.status != 204 || len(r.body) != 0 {
		t.Fatalf("got %d %q", r.status, r.body)
	}
}

func TestServiceErrorsBecomeProblems(t *testing.T) {
	h := newHarness(t, gateway.Config{})
	var next atomic.Pointer[subjects.Error]
	serve(t, h.nc, "user", subjects.UserRegister.Subject, func(req micro.Request) { replyError(req, next.Load()) })
	reg := map[string]string{"email": "a@b.c", "password": "pw", "name": "A"}

	next.Store(&subjects.Error{Code: 409, Slug: "email_taken", Message: "email already registered"})
	p := h.do("POST", "/v1/auth/register", reg).problem(t, 409)
	if p.Type != gateway.ProblemBase+"email_taken" || p.Detail != "email already registered" || p.Instance != "/v1/auth/register" {
		t.Fatalf("409: %+v", p)
	}

	next.Store(subjects.BadRequest("password", "too short"))
	p = h.do("POST", "/v1/auth/register", reg).problem(t, 400)
	if !hasField(p, "password") || p.Errors[0].Message != "too short" {
		t.Fatalf("400: %+v", p)
	}

	next.Store(&subjects.Error{Code: 500, Slug: "db", Message: "pq: password authentication failed for user souk", Fields: []subjects.FieldError{{Field: "x", Message: "y"}}})
	r := h.do("POST", "/v1/auth/register", reg)
	p = r.problem(t, 500)
	if p.Detail != "internal error" || len(p.Errors) != 0 || strings.Contains(string(r.body), "pq:") {
		t.Fatalf("500 not masked: %s", r.body)
	}
	if !strings.Contains(h.logs.String(), "pq: password authentication failed") {
		t.Fatal("the real 500 was not logged")
	}

	next.Store(&subjects.Error{Code: 503, Slug: "overloaded", Message: "queue full at node-7", RetryAfter: 3})
	r = h.do("POST", "/v1/auth/register", reg)
	p = r.problem(t, 503)
	if p.Detail != "service unavailable" || r.header.Get("Retry-After") != "3" {
		t.Fatalf("503: %s %v", r.body, r.header)
	}
}

func TestNoRespondersIs503(t *testing.T) {
	h := newHarness(t, gateway.Config{})
	r := h.do("POST", "/v1/auth/login", map[string]string{"email": "a@b.c", "password": "pw"})
	p := r.problem(t, 503)
	if p.Detail != "service unavailable" || r.header.Get("Retry-After") == "" {
		t.Fatalf("503: %s %v", r.body, r.header)
	}
}

func TestSilentServiceIs504(t *testing.T) {
	h := newHarness(t, gateway.Config{RequestTimeout: 200 * time.Millisecond})
	// A responder that never answers: the request is delivered, the reply never comes.
	sub, err := h.nc.SubscribeSync(subjects.AuthLogin.Subject)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	p := h.do("POST", "/v1/auth/login", map[string]string{"email": "a@b.c", "password": "pw"}).problem(t, 504)
	if p.Detail != "timed out" {
		t.Fatalf("504: %+v", p)
	}
}
