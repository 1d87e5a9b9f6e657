package gateway_test

import (
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

func TestLoginStormPerEmailIs429(t *testing.T) {
	h := newHarness(t, gateway.Config{RateLimit: limits(func(l *gateway.RateLimits) {
		l.LoginEmail = gateway.Limit{Rate: rate.Every(time.Minute), Burst: 3}
	})})
	wrongPassword(t, h)
	emails := []string{"victim@example.com", "Victim@Example.com ", "VICTIM@example.COM"}
	r, n := storm(t, h, func(i int) string { return emails[i%len(emails)] })
	if n != 3 {
		t.Fatalf("limited after %d attempts, want 3", n)
	}
	if s, _ := strconv.Atoi(r.header.Get("Retry-After")); s < 1 || s > 60 {
		t.Fatalf("Retry-After %q", r.header.Get("Retry-After"))
	}
	// Another account is not locked out by the storm on this one.
	h.do("POST", "/v1/auth/login", map[string]string{"email": "other@example.com", "password": "guess"}).problem(t, 401)
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
