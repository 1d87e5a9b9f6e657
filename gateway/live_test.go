package gateway_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/rs/zerolog"

	"github.com/souk/souk/gateway"
	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/nats/bus"
	"github.com/souk/souk/nats/natstest"
	"github.com/souk/souk/platform/liveconfig"
	"github.com/souk/souk/subjects"
)

// liveHarness is a gateway following the config bucket of its NATS server.
type liveHarness struct {
	*harness
	kv  jetstream.KeyValue
	reg *prometheus.Registry
}

func newLiveHarness(t *testing.T, cfg gateway.Config) *liveHarness {
	t.Helper()
	js, kv := natstest.Bucket(t, t.Context(), bus.BucketConfig)
	reg := prometheus.NewRegistry()
	live := liveconfig.New(js, zerolog.Nop(), reg)
	expect.Start(t, live.Run)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := live.WaitLoaded(ctx); err != nil {
		t.Fatal(err)
	}
	return &liveHarness{harness: newHarnessOn(t, js.Conn(), live, cfg), kv: kv, reg: reg}
}

func (h *liveHarness) put(key, value string) {
	h.t.Helper()
	if _, err := h.kv.PutString(h.t.Context(), key, value); err != nil {
		h.t.Fatal(err)
	}
}

// limited reports whether one of n quick requests of the same IP was refused 429.
func (h *liveHarness) limited(n int) bool {
	for range n {
		if h.do("GET", "/healthz", nil).status == 429 {
			return true
		}
	}
	return false
}

func TestTheIPRateFollowsTheConfigBucket(t *testing.T) {
	t.Parallel()
	// The process's own limit is far beyond what the test sends.
	h := newLiveHarness(t, gateway.Config{RateLimit: limits(func(l *gateway.RateLimits) {
		l.IP = gateway.Limit{Rate: 100_000, Burst: 200_000}
	})})
	if h.limited(10) {
		t.Fatal("limited before any change")
	}
	h.put("gateway.rate_ip", "1") // 1 a second, a burst of 2
	expect.Within(t, 5*time.Second, func() error {
		if !h.limited(5) {
			return fmt.Errorf("gateway.rate_ip 1 not enforced")
		}
		return nil
	})

	h.put("gateway.rate_ip", "fast") // refused: the limit of 1 stays
	expect.Within(t, 5*time.Second, func() error {
		if n := refusals(t, h.reg); n != 1 {
			return fmt.Errorf("%v refusals counted; want 1", n)
		}
		return nil
	})
	if !h.limited(5) {
		t.Fatal("the refused value lifted the limit of 1")
	}

	if err := h.kv.Delete(t.Context(), "gateway.rate_ip"); err != nil {
		t.Fatal(err)
	}
	expect.Within(t, 5*time.Second, func() error {
		if h.limited(20) {
			return fmt.Errorf("still limited after the key was deleted")
		}
		return nil
	})
}

// refusals is souk_config_rejected_total{key="gateway.rate_ip"} on reg.
func refusals(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	var m dto.Metric
	if err := liveconfig.Refusals(reg).WithLabelValues("gateway.rate_ip").Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

func TestAFeatureSwitchedOffIsPausedWithoutAskingItsService(t *testing.T) {
	t.Parallel()
	h := newLiveHarness(t, gateway.Config{})
	asked := make(chan struct{}, 10)
	serve(t, h.nc, "order", subjects.OrderPlace.Subject, func(req micro.Request) {
		asked <- struct{}{}
		_ = req.Respond([]byte(`{}`))
	})
	ada := "Bearer " + h.token("ada", "customer")
	place := func() response {
		return h.do("POST", "/v1/orders", map[string]any{}, "Authorization", ada, "Idempotency-Key", "k-1")
	}

	h.put("features.checkout", "off")
	var r response
	expect.Within(t, 5*time.Second, func() error {
		if r = place(); r.status != 503 {
			return fmt.Errorf("checkout off: %d %s", r.status, r.body)
		}
		return nil
	})
	for len(asked) > 0 { // asked before the switch reached the gateway
		<-asked
	}
	r = place()
	p := r.problem(t, 503)
	if !strings.HasSuffix(p.Type, "/checkout_paused") || !strings.Contains(p.Detail, "paused") || r.header.Get("Retry-After") == "" {
		t.Fatalf("checkout off: %+v, Retry-After %q", p, r.header.Get("Retry-After"))
	}
	if len(asked) != 0 {
		t.Fatal("the order service was asked while checkout was off")
	}
	// Other routes go on.
	if r := h.do("GET", "/healthz", nil); r.status != 200 {
		t.Fatalf("healthz: %d", r.status)
	}

	h.put("features.checkout", "on")
	expect.Within(t, 5*time.Second, func() error {
		if r := place(); r.status == 503 {
			return fmt.Errorf("checkout on: still %d %s", r.status, r.body)
		}
		return nil
	})
	if len(asked) == 0 {
		t.Fatal("checkout on: the order service was not asked")
	}
}

func TestEverySwitchPausesItsRoute(t *testing.T) {
	t.Parallel()
	h := newLiveHarness(t, gateway.Config{})
	for _, c := range []struct{ key, path, slug string }{
		{"features.checkout", "/v1/orders", "checkout_paused"},
		{"features.registration", "/v1/auth/register", "registration_paused"},
		{"features.reviews", "/v1/products/p-1/reviews", "reviews_paused"},
	} {
		h.put(c.key, "off")
		expect.Within(t, 5*time.Second, func() error {
			r := h.do("POST", c.path, map[string]any{})
			if p := r.problem(t, r.status); r.status != 503 || !strings.HasSuffix(p.Type, "/"+c.slug) {
				return fmt.Errorf("%s off: POST %s answered %d %s", c.key, c.path, r.status, r.body)
			}
			return nil
		})
	}
}

// The free failed logins per address and email put in the bucket apply from the next login.
func TestTheLoginLimitFollowsTheConfigBucket(t *testing.T) {
	t.Parallel()
	h := newLiveHarness(t, gateway.Config{TrustProxy: true, RateLimit: limits(func(l *gateway.RateLimits) {
		l.Login = gateway.LoginLimits{Pair: gateway.Backoff{Free: 100}, Email: gateway.Backoff{Free: 1000}, Address: gateway.Backoff{Free: 1000}}
	})})
	loginService(t, h.harness)
	h.put("gateway.login_attempts", "2")
	// Each round uses a new email, so that its count starts at zero: at 100 free failures it
	// would take 100 guesses to be held; at 2, the third is.
	round := 0
	expect.Within(t, 5*time.Second, func() error {
		round++
		email := fmt.Sprintf("victim%d@example.com", round)
		for range 2 {
			if r := h.login("10.0.0.1", email, "guess"); r.status != 401 {
				return fmt.Errorf("a guess within the free ones: %d %s", r.status, r.body)
			}
		}
		if r := h.login("10.0.0.1", email, "guess"); r.status != 429 {
			return fmt.Errorf("the third guess: %d, want 429 under gateway.login_attempts 2", r.status)
		}
		return nil
	})
}
