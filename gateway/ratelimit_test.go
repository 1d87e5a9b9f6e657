package gateway_test

import (
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go/micro"
	"golang.org/x/time/rate"

	"github.com/souk/souk/gateway"
	"github.com/souk/souk/subjects"
)

// limits returns the unlimited set with one limit replaced.
func limits(set func(*gateway.RateLimits)) gateway.RateLimits {
	l := unlimited
	set(&l)
	return l
}

func wrongPassword(t *testing.T, h *harness) {
	serve(t, h.nc, "auth", subjects.AuthLogin.Subject, func(req micro.Request) {
		replyError(req, &subjects.Error{Code: 401, Slug: "invalid_credentials", Message: "wrong email or password"})
	})
}

// storm sends logins until one is limited and returns that answer and how many went before.
func storm(t *testing.T, h *harness, emails func(i int) string) (response, int) {
	t.Helper()
	for i := range 50 {
		r := h.do("POST", "/v1/auth/login", map[string]string{"email": emails(i), "password": "guess"})
		if r.status == 429 {
			return r, i
		}
		r.problem(t, 401)
	}
	t.Fatal("50 failed logins were never rate limited")
	return response{}, 0
}

func TestAuthStormPerIPIs429(t *testing.T) {
	h := newHarness(t, gateway.Config{RateLimit: limits(func(l *gateway.RateLimits) {
		l.AuthIP = gateway.Limit{Rate: rate.Every(time.Hour), Burst: 5}
	})})
	wrongPassword(t, h)
	r, n := storm(t, h, func(i int) string { return "user" + strconv.Itoa(i) + "@example.com" })
	if n != 5 {
		t.Fatalf("limited after %d attempts, want 5", n)
	}
	r.problem(t, 429)
	if s, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || s < 1 {
		t.Fatalf("Retry-After %q", r.header.Get("Retry-After"))
	}
	// Other routes of the same IP are not hit by the auth limit.
	if r := h.do("GET", "/healthz", nil); r.status != 200 {
		t.Fatalf("healthz: %d", r.status)
	}
}

// loginService answers a login 200 for the password "right", 503 for the email
// "down@example.com" and 401 otherwise, as the auth service would.
func loginService(t *testing.T, h *harness) {
	serve(t, h.nc, "auth", subjects.AuthLogin.Subject, func(req micro.Request) {
		var in subjects.LoginRequest
		_ = json.Unmarshal(req.Data(), &in)
		switch {
		case in.Email == "down@example.com":
			replyError(req, &subjects.Error{Code: 503, Slug: "unavailable", Message: "try later"})
		case in.Password == "right":
			_ = req.Respond([]byte(`{"access_token":"a","refresh_token":"r"}`))
		default:
			replyError(req, &subjects.Error{Code: 401, Slug: "invalid_credentials", Message: "wrong email or password"})
		}
	})
}

// login tries email and password from the client address addr (the gateway trusts the
// proxy's X-Forwarded-For).
func (h *harness) login(addr, email, password string) response {
	h.t.Helper()
	return h.do("POST", "/v1/auth/login", map[string]string{"email": email, "password": password}, "X-Forwarded-For", addr)
}

func TestLoginFailuresAreCountedPerAddressAndEmail(t *testing.T) {
	h := newHarness(t, gateway.Config{TrustProxy: true, RateLimit: limits(func(l *gateway.RateLimits) {
		l.Login = gateway.LoginLimits{Pair: gateway.Backoff{Free: 3}}
	})})
	loginService(t, h)
	emails := []string{"victim@example.com", "Victim@Example.com ", "VICTIM@example.COM"}
	for i := range 3 {
		h.login("10.0.0.1", emails[i], "guess").problem(t, 401)
	}
	r := h.login("10.0.0.1", "victim@example.com", "guess")
	r.problem(t, 429)
	if s, _ := strconv.Atoi(r.header.Get("Retry-After")); s != 1 {
		t.Fatalf("Retry-After %q, want 1", r.header.Get("Retry-After"))
	}
	// The right password from the same address waits too; from another it does not, nor
	// does another email from the same address.
	h.login("10.0.0.1", "victim@example.com", "right").problem(t, 429)
	h.login("10.0.0.2", "victim@example.com", "guess").problem(t, 401)
	h.login("10.0.0.1", "other@example.com", "guess").problem(t, 401)
	if r := h.login("10.0.0.3", "victim@example.com", "right"); r.status != 200 {
		t.Fatalf("owner from another address: %d %s", r.status, r.body)
	}
	// Attempts without a verdict are not failures.
	for range 10 {
		h.login("10.0.0.4", "down@example.com", "guess").problem(t, 503)
	}
	h.do("POST", "/v1/auth/login", map[string]string{"password": "guess"}, "X-Forwarded-For", "10.0.0.4")
	h.login("10.0.0.4", "down@example.com", "guess").problem(t, 503)
}

func TestLoginFailuresAcrossEmailsAreCountedPerAddress(t *testing.T) {
	h := newHarness(t, gateway.Config{TrustProxy: true, RateLimit: limits(func(l *gateway.RateLimits) {
		l.Login = gateway.LoginLimits{Address: gateway.Backoff{Free: 4}}
	})})
	loginService(t, h)
	for i := range 4 {
		h.login("10.0.0.1", "user"+strconv.Itoa(i)+"@example.com", "guess").problem(t, 401)
	}
	// Refused alike whether or not the email has an account: the gateway cannot tell.
	a := h.login("10.0.0.1", "user9@example.com", "guess")
	b := h.login("10.0.0.1", "nobody-at-all@example.com", "guess")
	a.problem(t, 429)
	b.problem(t, 429)
	if a.header.Get("Retry-After") != b.header.Get("Retry-After") {
		t.Fatalf("Retry-After %q and %q differ", a.header.Get("Retry-After"), b.header.Get("Retry-After"))
	}
	h.login("10.0.0.2", "user9@example.com", "guess").problem(t, 401)
}

func TestAccountLimit(t *testing.T) {
	h := newHarness(t, gateway.Config{RateLimit: limits(func(l *gateway.RateLimits) {
		l.Account = gateway.Limit{Rate: rate.Every(time.Hour), Burst: 2}
	})})
	serve(t, h.nc, "user", subjects.UserMe.Subject, func(req micro.Request) { _ = req.Respond([]byte(`{}`)) })
	ada := "Bearer " + h.token("ada", "customer")
	for range 2 {
		if r := h.do("GET", "/v1/users/me", nil, "Authorization", ada); r.status != 200 {
			t.Fatalf("%d %s", r.status, r.body)
		}
	}
	h.do("GET", "/v1/users/me", nil, "Authorization", ada).problem(t, 429)
	if r := h.do("GET", "/v1/users/me", nil, "Authorization", "Bearer "+h.token("bob", "customer")); r.status != 200 {
		t.Fatalf("another account: %d", r.status)
	}
}

func TestIPLimitCoversEveryRoute(t *testing.T) {
	h := newHarness(t, gateway.Config{RateLimit: limits(func(l *gateway.RateLimits) {
		l.IP = gateway.Limit{Rate: rate.Every(time.Hour), Burst: 2}
	})})
	h.do("GET", "/healthz", nil)
	h.do("GET", "/v1/nope", nil)
	r := h.do("GET", "/healthz", nil)
	r.problem(t, 429)
	if r.header.Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}
}
