package canary_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"

	"github.com/souk/souk/internal/expect"
	"github.com/souk/souk/internal/shoptest"
	"github.com/souk/souk/nats/bus"
	"github.com/souk/souk/platform/canary"
	"github.com/souk/souk/platform/kit"
	"github.com/souk/souk/platform/liveconfig"
	"github.com/souk/souk/services/promotion"
	"github.com/souk/souk/subjects"
)

// A stable and a canary instance of the promotion service; the share canary.promotion of the
// config bucket moves 25 % → 100 % → 0 % while customers keep calling, and nothing restarts.
// At 25 % the canary serves a share of the measured requests inside a band the binomial law
// puts it in but for a chance of ~1e-9, at 100 % every one, at 0 % none, and no request fails
// during the moves. Without the mapping the canary serves nothing, and the 25 % band fails.
func TestCanaryShareMovesWithoutRestart(t *testing.T) {
	e := shoptest.NewEnv(t)
	kv, err := e.JS.KeyValue(e.Ctx, bus.BucketConfig)
	if err != nil {
		t.Fatal(err)
	}
	live := liveconfig.New(e.JS, e.Log, nil)
	expect.Start(t, live.Run)
	applier := canary.NewApplier(e.Server.GlobalAccount(), e.Log, nil)
	applier.Follow(live, []string{"promotion"})

	e.StartPromotion(shoptest.PromotionConfig())
	e.Start(func(d kit.Deps) (kit.Service, error) {
		svc, err := promotion.Service(shoptest.PromotionConfig(), d)
		svc.Canary = "2.0.0-rc.1"
		return svc, err
	}, func() error { return nil })
	if _, err := subjects.CouponCreate.Call(e.Admin, e.NC, subjects.CouponCreateRequest{Code: "CANARY10", Kind: subjects.CouponPercent, Value: 10}); err != nil {
		t.Fatal(err)
	}

	// Customers quote the coupon all along, on an endpoint the measurements do not count.
	quotes := startQuoting(t, e, 4)

	setShare(t, e, kv, applier, 25)
	const n = 400
	got := served(t, e, n)
	lo, hi := band(n, 0.25)
	if got.canary < lo || got.canary > hi || got.canary+got.stable != n {
		t.Fatalf("share 25 %%: the canary served %d and the stable instance %d of %d requests; want the canary's within [%d, %d]", got.canary, got.stable, n, lo, hi)
	}
	t.Logf("share 25 %%: the canary served %d of %d (band %d..%d)", got.canary, n, lo, hi)

	setShare(t, e, kv, applier, 100)
	if got := served(t, e, 60); got.canary != 60 || got.stable != 0 {
		t.Fatalf("share 100 %%: canary %d, stable %d of 60", got.canary, got.stable)
	}
	setShare(t, e, kv, applier, 0)
	if got := served(t, e, 60); got.canary != 0 || got.stable != 60 {
		t.Fatalf("share 0 %%: canary %d, stable %d of 60", got.canary, got.stable)
	}

	ok, failed := quotes.stop()
	if len(failed) > 0 || ok == 0 {
		t.Fatalf("during the moves %d quotes were answered and %d failed: %v", ok, len(failed), failed)
	}
}

// band is the range a count of successes in n draws of probability p falls outside of with a
// chance below ~2e-9: six standard deviations of the binomial law either side of its mean.
// For n 400 and p 0.25: 100 ± 52.
func band(n int, p float64) (lo, hi int) {
	mean, sd := float64(n)*p, math.Sqrt(float64(n)*p*(1-p))
	return int(math.Floor(mean - 6*sd)), int(math.Ceil(mean + 6*sd))
}

// setShare puts the canary share of the promotion service in the config bucket, as an
// operator's `nats kv put config canary.promotion <percent>` does, and waits until the
// server maps with it.
func setShare(t *testing.T, e *shoptest.Env, kv jetstream.KeyValue, a *canary.Applier, percent int) {
	t.Helper()
	if _, err := kv.PutString(e.Ctx, liveconfig.Canary("promotion").Name(), fmt.Sprint(percent)); err != nil {
		t.Fatal(err)
	}
	expect.Within(t, 10*time.Second, func() error {
		if got, ok := a.Shares()["promotion"]; !ok || got != percent {
			return fmt.Errorf("share in force %d (set: %v), want %d", got, ok, percent)
		}
		return nil
	})
}

// tally is how many requests each track served.
type tally struct{ canary, stable int }

// served sends n coupon lists and returns how many each track's instances served, from their
// $SRV.STATS before and after.
func served(t *testing.T, e *shoptest.Env, n int) tally {
	t.Helper()
	before := listed(t, e)
	for i := range n {
		if _, err := subjects.CouponList.Call(e.Admin, e.NC, subjects.ListRequest{Limit: 1}); err != nil {
			t.Fatalf("coupon list %d of %d: %v", i+1, n, err)
		}
	}
	// micro counts a request after its handler has replied: the last replies can be in
	// before their counts are.
	var got tally
	expect.Within(t, 10*time.Second, func() error {
		after := listed(t, e)
		got = tally{canary: after.canary - before.canary, stable: after.stable - before.stable}
		if got.canary+got.stable < n {
			return fmt.Errorf("%d of %d requests counted so far", got.canary+got.stable, n)
		}
		return nil
	})
	return got
}

// listed reads the coupon_list requests served so far by each track, from the $SRV.STATS of
// both promotion instances (a canary's metadata names its release).
func listed(t *testing.T, e *shoptest.Env) tally {
	t.Helper()
	sub, err := e.NC.SubscribeSync(e.NC.NewRespInbox())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := e.NC.PublishRequest("$SRV.STATS.promotion", sub.Subject, nil); err != nil {
		t.Fatal(err)
	}
	var out tally
	for range 2 {
		msg, err := sub.NextMsg(10 * time.Second)
		if err != nil {
			t.Fatalf("$SRV.STATS.promotion: %v", err)
		}
		var st micro.Stats
		if err := json.Unmarshal(msg.Data, &st); err != nil {
			t.Fatal(err)
		}
		for _, ep := range st.Endpoints {
			if ep.Name != "coupon_list" {
				continue
			}
			if st.Metadata["canary"] != "" {
				out.canary += ep.NumRequests
			} else {
				out.stable += ep.NumRequests
			}
		}
	}
	return out
}

// quoting is customers quoting a coupon until stopped.
type quoting struct {
	ok     atomic.Int64
	mu     sync.Mutex
	failed []error
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// startQuoting starts callers that quote CANARY10 in a loop.
func startQuoting(t *testing.T, e *shoptest.Env, callers int) *quoting {
	ctx, cancel := context.WithCancel(e.Ctx)
	q := &quoting{cancel: cancel}
	t.Cleanup(func() { q.stop() })
	for range callers {
		q.wg.Go(func() {
			for ctx.Err() == nil {
				_, err := subjects.CouponQuote.Call(e.Customer, e.NC, subjects.CouponQuoteRequest{Code: "CANARY10", Subtotal: shoptest.EUR(5000)})
				if err == nil {
					q.ok.Add(1)
					continue
				}
				if ctx.Err() == nil {
					q.mu.Lock()
					q.failed = append(q.failed, err)
					q.mu.Unlock()
				}
			}
		})
	}
	return q
}

// stop stops the callers and returns how many quotes were answered and the failures.
func (q *quoting) stop() (int64, []error) {
	q.cancel()
	q.wg.Wait()
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.ok.Load(), q.failed
}
