package liveconfig_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/rs/zerolog"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/internal/logtest"
	"github.com/souk/souk/nats/bus"
	"github.com/souk/souk/nats/natstest"
	"github.com/souk/souk/platform/liveconfig"
)

// liveEnv is an embedded NATS server with the config bucket and a Config following it.
type liveEnv struct {
	ctx context.Context
	kv  jetstream.KeyValue
	cfg *liveconfig.Config
	reg *prometheus.Registry
	log *logtest.Buffer
}

func newLiveEnv(t *testing.T) *liveEnv {
	t.Parallel()
	return newBenchEnv(t)
}

// newBenchEnv is newLiveEnv for a benchmark too (which runs alone).
func newBenchEnv(t testing.TB) *liveEnv {
	ctx := t.Context()
	js, kv := natstest.Bucket(t, ctx, bus.BucketConfig)
	e := &liveEnv{ctx: ctx, kv: kv, reg: prometheus.NewRegistry(), log: &logtest.Buffer{}}
	e.cfg = liveconfig.New(js, zerolog.New(e.log), e.reg)
	return e
}

// run follows the bucket until the test ends, and waits until it is loaded.
func (e *liveEnv) run(t testing.TB) {
	expect.Start(t, e.cfg.Run)
	ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
	defer cancel()
	if err := e.cfg.WaitLoaded(ctx); err != nil {
		t.Fatal(err)
	}
}

func (e *liveEnv) put(t *testing.T, key, value string) {
	t.Helper()
	if _, err := e.kv.PutString(e.ctx, key, value); err != nil {
		t.Fatal(err)
	}
}

// becomes waits until v holds want.
func becomes[T comparable](t *testing.T, v *liveconfig.Value[T], want T) {
	t.Helper()
	expect.Within(t, 5*time.Second, func() error {
		if got := v.Load(); got != want {
			return fmt.Errorf("%s is %v; want %v", v.Key().Name(), got, want)
		}
		return nil
	})
}

func TestAPutValueIsInForceAndADeleteReturnsToTheDefault(t *testing.T) {
	e := newLiveEnv(t)
	e.run(t)
	rate := liveconfig.RateIP.Bind(e.cfg, 50)
	var seen []int
	var mu sync.Mutex
	rate.OnChange(func(n int) { mu.Lock(); seen = append(seen, n); mu.Unlock() })
	if rate.Load() != 50 {
		t.Fatalf("before any put: %d; want the default 50", rate.Load())
	}
	e.put(t, "gateway.rate_ip", " 7 ")
	becomes(t, rate, 7)
	if err := e.kv.Delete(e.ctx, "gateway.rate_ip"); err != nil {
		t.Fatal(err)
	}
	becomes(t, rate, 50)
	// OnChange runs after Load returns the new value (its doc): wait for its calls too.
	expect.Within(t, 5*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		if fmt.Sprint(seen) != "[7 50]" {
			return fmt.Errorf("OnChange saw %v; want [7 50]", seen)
		}
		return nil
	})
}

func TestAnInvalidValueIsRefusedOnceAndTheLastGoodOneStays(t *testing.T) {
	e := newLiveEnv(t)
	e.run(t)
	ttl := liveconfig.ReservationTTL.Bind(e.cfg, 15*time.Minute)
	e.put(t, "inventory.reservation_ttl", "2m")
	becomes(t, ttl, 2*time.Minute)
	for _, bad := range []string{"soon", "0s", "48h"} { // unparsable, below, above the bounds
		before := refused(e.reg, "inventory.reservation_ttl")
		e.put(t, "inventory.reservation_ttl", bad)
		expect.Within(t, 5*time.Second, func() error {
			if n := refused(e.reg, "inventory.reservation_ttl"); n != before+1 {
				return fmt.Errorf("%q: souk_config_rejected_total is %v; want %v", bad, n, before+1)
			}
			return nil
		})
		if got := ttl.Load(); got != 2*time.Minute {
			t.Fatalf("after %q: %s in force; want the last good 2m", bad, got)
		}
	}
	// A process bound later (a service started after the load) sees the refusal too, and
	// starts from the default, the last good value it knows.
	late := liveconfig.LogLevel.Bind(e.cfg, zerolog.InfoLevel)
	e.put(t, "log.level", "loud")
	expect.Within(t, 5*time.Second, func() error {
		if refused(e.reg, "log.level") != 1 {
			return fmt.Errorf("log.level refusal not counted")
		}
		return nil
	})
	if late.Load() != zerolog.InfoLevel {
		t.Fatalf("log.level %s; want the default info", late.Load())
	}
	e.put(t, "inventory.reservation_ttl", "90s")
	becomes(t, ttl, 90*time.Second)
}

func TestAKeyBoundAfterTheLoadStartsFromTheBucket(t *testing.T) {
	e := newLiveEnv(t)
	e.put(t, "features.checkout", "off")
	e.put(t, "canary.order", "25")
	e.run(t)
	if liveconfig.Checkout.Bind(e.cfg, true).Load() {
		t.Fatal("features.checkout on; the bucket says off")
	}
	if got := liveconfig.Canary("order").Bind(e.cfg, 0).Load(); got != 25 {
		t.Fatalf("canary.order %d; want 25", got)
	}
	if got := liveconfig.Canary("cart").Bind(e.cfg, 0).Load(); got != 0 {
		t.Fatalf("canary.cart %d; want the default 0", got)
	}
}

func TestANilConfigKeepsTheDefault(t *testing.T) {
	v := liveconfig.RateAccount.Bind(nil, 20)
	v.OnChange(func(int) { t.Fatal("a nil Config changed a value") })
	if v.Load() != 20 {
		t.Fatalf("%d; want 20", v.Load())
	}
}

func TestLookupKnowsEveryKeyAndRefusesATypo(t *testing.T) {
	for _, k := range liveconfig.Keys() {
		if _, ok := liveconfig.Lookup(k.Name()); !ok && k.Name() != "canary.<service>" {
			t.Errorf("Lookup(%q) found nothing", k.Name())
		}
	}
	for _, name := range []string{"gateway.rate", "canary.", "canary.Order", "features"} {
		if _, ok := liveconfig.Lookup(name); ok {
			t.Errorf("Lookup(%q) found a key", name)
		}
	}
	k, _ := liveconfig.Lookup("canary.order")
	if k.Check("101") == nil || k.Check("100") != nil {
		t.Error("canary.order: want 0 to 100")
	}
}

// refused is souk_config_rejected_total{key} on reg.
func refused(reg *prometheus.Registry, key string) float64 {
	var m dto.Metric
	if err := liveconfig.Refusals(reg).WithLabelValues(key).Write(&m); err != nil {
		panic(err) // a counter always writes
	}
	return m.GetCounter().GetValue()
}
