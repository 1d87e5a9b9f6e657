package payment

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/nats/bus"
	"github.com/souk/souk/nats/natstest"
	"github.com/souk/souk/platform/liveconfig"
)

// closedURL is the URL of a port nothing listens on: every call fails to connect, as it
// does while the provider is down.
func closedURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return "http://" + addr
}

// The breaker's settings put in the config bucket apply without a restart: the failures
// that open it at the next failure, how long it stays open by a new breaker.
func TestBreakerSettingsFollowTheConfigBucket(t *testing.T) {
	t.Parallel()
	if liveconfig.BreakerFailures.Default() != liveconfig.BreakerFailures.Format(DefaultBreakerFailures) ||
		liveconfig.BreakerOpenFor.Default() != liveconfig.BreakerOpenFor.Format(DefaultBreakerOpenFor) {
		t.Fatal("the live keys' documented defaults are not the payment service's")
	}
	ctx := t.Context()
	js, kv := natstest.Bucket(t, ctx, bus.BucketConfig)
	live := liveconfig.New(js, zerolog.Nop(), nil)
	expect.Start(t, live.Run)
	if err := live.WaitLoaded(ctx); err != nil {
		t.Fatal(err)
	}
	cfg := Config{Provider: ProviderStripe, StripeSecretKey: "sk_test_souk", StripeAPIURL: closedURL(t), ProviderTimeout: 5 * time.Second}
	if err := cfg.defaults(); err != nil {
		t.Fatal(err)
	}
	g := newGuarded(newStripe(cfg), cfg, live, nil, zerolog.Nop())
	fail := func() {
		t.Helper()
		if _, err := g.Retrieve(ctx, "pi_down"); err == nil {
			t.Fatal("a call to a closed port succeeded")
		}
	}
	fail()
	if g.open() {
		t.Fatalf("open after one failure; the default is %d", DefaultBreakerFailures)
	}

	put := func(key, value string) {
		t.Helper()
		if _, err := kv.PutString(ctx, key, value); err != nil {
			t.Fatal(err)
		}
	}
	put("payment.breaker_failures", "2")
	failures := liveconfig.BreakerFailures.Bind(live, DefaultBreakerFailures) // the breaker's own binding
	expect.Within(t, 5*time.Second, func() error {
		if n := failures.Load(); n != 2 {
			return fmt.Errorf("payment.breaker_failures %d; want 2", n)
		}
		return nil
	})
	fail() // the second in a row: 2 open it
	if !g.open() {
		t.Fatal("closed after 2 failures in a row with payment.breaker_failures 2")
	}
	if g.retryAfter() != int(DefaultBreakerOpenFor.Seconds()) {
		t.Fatalf("Retry-After %d while open; want %v", g.retryAfter(), DefaultBreakerOpenFor)
	}

	put("payment.breaker_open_for", "1h")
	expect.Within(t, 5*time.Second, func() error {
		if g.retryAfter() != 3600 {
			return fmt.Errorf("Retry-After %d; want the live 1h", g.retryAfter())
		}
		return nil
	})
	if g.open() { // the new breaker starts closed: what the old one counted is lost
		t.Fatal("the rebuilt breaker is open")
	}
	fail()
	fail()
	if !g.open() {
		t.Fatal("the rebuilt breaker did not open after 2 failures")
	}
	if _, err := g.Retrieve(context.WithoutCancel(ctx), "pi_down"); err != errUnavailable {
		t.Fatalf("an open breaker let a call through: %v", err)
	}
}
